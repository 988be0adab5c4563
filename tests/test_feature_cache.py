"""`audio-distilbert downstream --feature-cache DIR`: a frozen upstream's features computed once per utterance,
the same as without the cache, reused by later runs, never by another model, refused for a fine-tuned upstream."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import soundfile
import torch

from downstream_hooks.feature_cache import CachedUpstream, upstream_key
from downstream_hooks.results import read_scores
from upstream_distilbert.expert import UpstreamExpert
from upstream_distilbert.features import read_wave

from .conftest import REPO, cli, run


@pytest.fixture(scope="module")
def phone_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from distilbert_corpus.corpus import build_corpus

    root = tmp_path_factory.mktemp("phones")
    build_corpus(root, speakers=4, utterances_per_speaker=8, test_voices=1)
    return root


def _waves(corpus: Path, count: int) -> list[torch.Tensor]:
    return [read_wave(path, 16000) for path in sorted((corpus / "LibriSpeech").rglob("*.flac"))[:count]]


def test_cached_features_equal_the_upstreams_and_are_computed_once(phone_corpus: Path, student_ckpt: Path,
                                                                    tmp_path: Path) -> None:
    waves = _waves(phone_corpus, 3)
    expert = UpstreamExpert(str(student_ckpt)).eval()
    with torch.no_grad():
        direct = expert(waves)
    cached = CachedUpstream(expert, tmp_path).eval()
    first = cached(waves)
    assert cached.computed == 3 and len(list(tmp_path.glob("*.pt"))) == 3
    ours = [*first["hidden_states"], first["last_hidden_state"]]
    theirs = [*direct["hidden_states"], direct["last_hidden_state"]]
    assert len(ours) == len(theirs) == expert.model.config.transformer.num_hidden_layers + 2
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        for i, wave in enumerate(waves):
            frames = expert.extractor.num_frames(len(wave))
            torch.testing.assert_close(a[i, :frames], b[i, :frames], atol=1e-5, rtol=0)
    assert len(cached.memory) == 3  # kept in memory too, within its bound
    again = CachedUpstream(expert, tmp_path, memory_bytes=0)
    second = again(list(reversed(waves)))
    assert again.computed == 0 and again.memory == {}  # read back from the files, in any order, none kept
    torch.testing.assert_close(second["hidden_states"][-1][0], first["hidden_states"][-1][2])
    for path in tmp_path.glob("*.pt"):
        torch.load(path, weights_only=True)

    victim = sorted(tmp_path.glob("*.pt"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # a file a crash left unfinished
    third = CachedUpstream(expert, tmp_path)
    third(waves)
    assert third.computed == 1
    with pytest.raises(ValueError, match="frozen upstream"):  # a user's mistake (-f with the cache)
        third.train()


def test_the_cache_key_follows_everything_that_makes_the_features(student_ckpt: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The key changes with the checkpoint's contents, the expert options (-g), the weights actually loaded (a URL
    or hub name is only a string), an extractor setting recorded in the file, our code and the packages' versions;
    a byte-for-byte copy of the same file keeps it. s3prl's fbank (no weights) is keyed by code and versions."""
    import dataclasses

    import downstream_hooks.feature_cache as cache
    from upstream_distilbert import load_student, save_student

    def key(ckpt: Path | str, options: Path | None = None, name: str = "distilbert_local") -> str:
        model = UpstreamExpert(str(ckpt if Path(ckpt).is_file() else student_ckpt),
                               model_config=str(options) if options else None)
        return upstream_key(name, str(ckpt), str(options) if options else None, model)

    copy = tmp_path / "same.ckpt"
    copy.write_bytes(student_ckpt.read_bytes())
    base = key(student_ckpt)
    assert key(copy) == base
    copy.write_bytes(student_ckpt.read_bytes() + b"\0")
    assert key(copy) != base
    options = tmp_path / "expert.yaml"
    options.write_text("max_input_length: 50\n")
    assert key(student_ckpt, options) != base
    model = load_student(student_ckpt)
    no_cmvn = dataclasses.replace(model.config, audio=dataclasses.replace(model.config.audio, use_cmvn=False))
    model.config = no_cmvn  # the same weights, CMVN off: another extractor setting
    assert key(save_student(model, tmp_path / "no-cmvn.ckpt")) != base
    url = "https://example.org/student.ckpt"  # the string stays, what it loaded changes
    assert key(url) == key(url)
    reloaded = UpstreamExpert(str(student_ckpt))
    with torch.no_grad():
        next(reloaded.model.parameters()).add_(1e-3)
    assert upstream_key("distilbert_url", url, None, reloaded) != key(url)
    fbank = upstream_key("fbank", None, None, torch.nn.Identity())
    versions = {"audio-distilbert": "0.1.0", "s3prl": "0.4.19", "torch": "x", "torchaudio": "y"}
    monkeypatch.setattr(cache, "version", lambda name: versions[name])
    assert upstream_key("fbank", None, None, torch.nn.Identity()) != fbank  # another s3prl: another fbank
    monkeypatch.undo()
    monkeypatch.setattr(cache, "code_digest", lambda: "edited")
    assert upstream_key("fbank", None, None, torch.nn.Identity()) != fbank  # our code changed


def _phone_linear(corpus: Path, ckpt: Path, expdir: Path, *extra: str) -> subprocess.CompletedProcess:
    datarc = "config.downstream_expert.datarc"
    overrides = (f"{datarc}.libri_root={corpus / 'LibriSpeech'},,{datarc}.phone_path={corpus / 'cpc_phone'},,"
                 f"{datarc}.bucket_file={corpus / 'len_for_bucket'},,{datarc}.num_workers=0,,{datarc}.eval_batch_size=2,,"
                 "config.runner.total_steps=12,,config.runner.log_step=6,,config.runner.eval_step=6,,"
                 "config.runner.save_step=6")
    return run([*cli(), "downstream", "-m", "train", "-u", "distilbert_local", "-k", str(ckpt), "-d", "phone_linear",
                "-c", str(REPO / "configs" / "downstream" / "phone_linear_small.yaml"), "-p", str(expdir),
                "--device", "cpu", "-o", overrides, *extra], cwd=expdir.parent)


def test_phone_linear_with_the_cache_matches_it_without_and_reuses_it(phone_corpus: Path, student_ckpt: Path,
                                                                       tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _phone_linear(phone_corpus, student_ckpt, tmp_path / "plain")
    proc = _phone_linear(phone_corpus, student_ckpt, tmp_path / "cached", "--feature-cache", str(cache))
    (folder,) = cache.iterdir()
    assert f"upstream features cached in {folder}" in proc.stdout
    files = {path: path.stat().st_mtime_ns for path in folder.glob("*.pt")}
    keys = {hashlib.sha1(soundfile.read(path, dtype="float32")[0].tobytes()).hexdigest()
            for path in (phone_corpus / "LibriSpeech").rglob("*.flac")}
    stored = {path.stem for path in files}
    # One entry per utterance that s3prl read (it skips incomplete buckets), and its 1-second probe of the upstream
    assert len(stored & keys) >= len(keys) * 3 // 4 and len(stored - keys) <= 1

    plain, cached = read_scores(tmp_path / "plain"), read_scores(tmp_path / "cached")
    assert plain.keys() == cached.keys() >= {"train", "dev", "test"}
    for split in plain:
        assert plain[split] == pytest.approx(cached[split], abs=1e-4)

    _phone_linear(phone_corpus, student_ckpt, tmp_path / "again", "--feature-cache", str(cache))
    assert {path: path.stat().st_mtime_ns for path in folder.glob("*.pt")} == files  # nothing computed again
    assert read_scores(tmp_path / "again") == cached


def test_the_cache_refuses_a_fine_tuned_upstream(phone_corpus: Path, student_ckpt: Path, tmp_path: Path) -> None:
    datarc = "config.downstream_expert.datarc"
    proc = subprocess.run(
        [*cli(), "downstream", "-m", "train", "-u", "distilbert_local", "-k", str(student_ckpt), "-d", "phone_linear",
         "-f", "-p", str(tmp_path / "x"), "--device", "cpu", "--feature-cache", str(tmp_path / "cache"),
         "-o", f"{datarc}.libri_root={phone_corpus / 'LibriSpeech'},,{datarc}.phone_path={phone_corpus / 'cpc_phone'},,"
               f"{datarc}.bucket_file={phone_corpus / 'len_for_bucket'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--feature-cache: the upstream is fine-tuned here (-f)" in proc.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
