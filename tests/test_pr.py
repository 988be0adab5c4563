"""SUPERB phoneme recognition (PR) through s3prl's own `ctc` downstream on the corpus's superb_pr files: ours and the
literal runner, the phone error rate read back, and bad split files refused in one line."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from distilbert_corpus.phones import PR_PHONES, SILENCE, pr_phones
from downstream_hooks.results import read_phone_error_rate, read_scalars

from .conftest import REPO, cli, run

PR_CONFIG = REPO / "configs" / "downstream" / "pr_small.yaml"


def _pr_flags(root: Path, expdir: Path, steps: int = 4) -> list[str]:
    pr = root / "superb_pr"
    return ["-d", "ctc", "-c", str(PR_CONFIG), "--device", "cpu", "-p", str(expdir), "-o",
            f"config.runner.total_steps={steps},,config.runner.eval_step={steps},,config.runner.save_step={steps},,"
            f"config.runner.log_step=1,,config.downstream_expert.corpus.csv_dir={pr},,"
            f"config.downstream_expert.text.vocab_file={pr / 'phones.txt'},,config.downstream_expert.corpus.batch_size=2"]


def _root(corpus: dict) -> Path:
    return Path(corpus["libri_root"]).parent


def test_the_corpus_writes_the_rendered_phones_as_pr_targets(corpus: dict) -> None:
    """Every utterance of the corpus is in exactly one PR split, as in the asr splits; its transcription, with
    repeats merged, is the frame labels' phone sequence without silence (schwa as AH)."""
    from distilbert_corpus.phones import ARPABET, SCHWA

    root = _root(corpus)
    splits = {name: pd.read_csv(root / "superb_pr" / f"{name}.csv") for name in ("train", "dev", "test")}
    assert (root / "superb_pr" / "phones.txt").read_text().split() == list(PR_PHONES)
    labels = dict(line.split(" ", 1) for line in (root / "cpc_phone" / "converted_aligned_phones.txt").read_text().splitlines())
    names = ["pau", *ARPABET] + ["ax"]
    assert len(names) == SCHWA + 1
    seen = []
    for name, table in splits.items():
        for wav, transcription in zip(table["wav_path"], table["transcription"]):
            assert (root / "superb_pr" / wav).is_file()
            utt = Path(wav).name.split(".")[0]
            seen.append(utt)
            frames = [names[int(c)] for c in labels[utt].split() if int(c) != SILENCE]
            merged = [p for i, p in enumerate(pr_phones(frames)) if i == 0 or p != pr_phones(frames)[i - 1]]
            phones = transcription.split()
            assert [p for i, p in enumerate(phones) if i == 0 or p != phones[i - 1]] == merged
    assert sorted(seen) == sorted(labels)
    test_speakers = {Path(w).name.split("-")[0] for w in splits["test"]["wav_path"]}
    assert test_speakers == {u.split("-")[0] for u in (root / "cpc_phone" / "test_split.txt").read_text().split()}
    assert pr_phones(["pau", "hh", "ax", "l", "ow", "pau"]) == ["HH", "AH", "L", "OW"]


def test_pr_trains_through_s3prls_ctc_and_its_logged_per_is_the_one_read_back(corpus: dict, tmp_path: Path) -> None:
    """A few steps of s3prl's ctc downstream (fbank features) on the corpus, then `-m evaluate` on test: the PER that
    s3prl reports (printed on test, logged to TensorBoard on dev) is the one read_phone_error_rate computes from
    its hypothesis files."""
    root = _root(corpus)
    run([*cli(), "downstream", "-m", "train", "-u", "fbank", *_pr_flags(root, tmp_path / "pr")], cwd=tmp_path)
    evaluated = run([*cli(), "downstream", "-m", "evaluate", "-e", str(tmp_path / "pr" / "states-4.ckpt"), "-t", "test",
                     "--device", "cpu", "-o", f"args.expdir={tmp_path / 'test'}"], cwd=tmp_path)
    per = read_phone_error_rate(tmp_path / "test", "test")
    (printed,) = re.findall(r"^test per: (\S+)$", evaluated.stdout, re.M)
    assert per == pytest.approx(float(printed), rel=1e-9) and per > 0
    dev = read_phone_error_rate(tmp_path / "pr", "dev")
    assert dev == pytest.approx(read_scalars(tmp_path / "pr")["ctc-libriphone/dev-per"][4], rel=1e-6)


def test_literal_run_downstream_ctc_after_install(corpus: dict, student_ckpt: Path, tmp_path: Path,
                                                  private_s3prl: Path) -> None:
    """s3prl's literal `run_downstream.py -d ctc` (in a private copy of s3prl) fails on import without the plugin's
    corpus, for s3prl's own upstreams too, and trains `-u distilbert_local` after `s3prl install`."""
    def literal(expdir: Path, *upstream: str) -> list[str]:
        return [sys.executable, "run_downstream.py", "-m", "train", *upstream, *_pr_flags(_root(corpus), expdir, 2)]

    before = subprocess.run(literal(tmp_path / "before", "-u", "fbank"), cwd=private_s3prl, capture_output=True,
                            text=True, timeout=300)
    assert before.returncode != 0 and "No module named 's3prl.downstream.ctc.corpus'" in before.stderr
    run([*cli(), "s3prl", "install"])
    try:
        assert "ctc corpus `libriphone` for `run_downstream.py -d ctc` (s3prl/downstream/ctc/corpus/): installed" in run(
            [*cli(), "s3prl", "status"]).stdout
        run(literal(tmp_path / "pr", "-u", "distilbert_local", "-k", str(student_ckpt)), cwd=private_s3prl)
    finally:
        run([*cli(), "s3prl", "uninstall"])
    assert (tmp_path / "pr" / "states-2.ckpt").is_file() and read_phone_error_rate(tmp_path / "pr", "dev") > 0
    assert not (private_s3prl / "downstream" / "ctc" / "corpus").exists()


def test_phone_error_rate_by_hand(tmp_path: Path) -> None:
    """Two utterances: one substitution and one deletion over 5 reference phones, one insertion over 2: 3 / 7."""
    (tmp_path / "test-hyp.ark").write_text("a-1 HH EH L OW\nb-1 AY AY M\n")
    (tmp_path / "test-ref.ark").write_text("a-1 HH AH L OW W\nb-1 AY M\n")
    assert read_phone_error_rate(tmp_path, "test") == pytest.approx(3 / 7)


@pytest.mark.parametrize("edit, expected", [
    (lambda t: t.assign(wav_path=t["wav_path"].where(t.index != 1, "../LibriSpeech/gone.flac")),
     r"train.csv:3: audio file .*gone.flac does not exist"),
    (lambda t: t.assign(transcription=t["transcription"].where(t.index != 0, "HH XX L")),
     r"train.csv:2: phone 'XX' is not in the vocabulary"),
])
def test_a_bad_split_file_is_refused_in_one_line(corpus: dict, tmp_path: Path, edit, expected: str) -> None:
    root = tmp_path / "copy"
    shutil.copytree(_root(corpus) / "superb_pr", root / "superb_pr")
    (root / "LibriSpeech").symlink_to(_root(corpus) / "LibriSpeech")
    train = root / "superb_pr" / "train.csv"
    edit(pd.read_csv(train)).to_csv(train, index=False)
    proc = subprocess.run([*cli(), "downstream", "-m", "train", "-u", "fbank", *_pr_flags(root, tmp_path / "pr")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert re.search(expected, proc.stderr) and "Traceback" not in proc.stderr


def test_in_process_registration_keeps_a_source_checkouts_own_ctc_corpus(private_s3prl: Path) -> None:
    """An s3prl that ships downstream/ctc/corpus/ (a source checkout) keeps its own libriphone in-process too; one
    without it gets ours."""
    probe = ("import sys; from downstream_hooks.registration import register_in_process; register_in_process(); "
             "import s3prl.downstream.ctc.data; from s3prl.downstream.ctc.corpus.libriphone import LibriPhoneDataset; "
             "m = sys.modules['s3prl.downstream.ctc.corpus.libriphone']; print(m.__name__, m.__file__)")
    assert "downstream_hooks/libriphone.py" in run([sys.executable, "-c", probe]).stdout
    own = private_s3prl / "downstream" / "ctc" / "corpus"
    own.mkdir()
    (own / "__init__.py").write_text("")
    (own / "libriphone.py").write_text("LibriPhoneDataset = None  # s3prl's own\n")
    assert f"s3prl.downstream.ctc.corpus.libriphone {own / 'libriphone.py'}" in run([sys.executable, "-c", probe]).stdout
