"""The distilbert pretraining task: s3prl's real runner, real FLAC files, the real expert."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from distilbert_pretrain.export import export_student
from distilbert_pretrain.pretrain_expert import UpstreamPretrainExpert
from upstream_distilbert import load_student
from upstream_distilbert.s3prl_states import read_states

from .conftest import REPO, cli, run, runner_config, write_yaml

TINY = {
    "transformer": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64},
    "audio": {"kaldi": {"feat_type": "fbank", "fbank": {"num_mel_bins": 80}}},
    "task": {"sequence_length": 150},
    "teacher": None,
    "distillation": {"reconstruction_weight": 1.0},
}


@pytest.fixture(scope="module")
def teacher_ckpt(corpus: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny teacher trained from scratch (teacher: null) for a few steps by `audio-distilbert pretrain`."""
    work = tmp_path_factory.mktemp("teacher")
    model = write_yaml(work / "teacher.yaml", TINY)
    run([*cli(), "pretrain", "-u", "distilbert", "-g", str(model), "-c", str(runner_config(work, corpus, 6, 3)),
         "-n", "teacher", "-p", str(work / "exp"), "--device", "cpu"], cwd=work)
    states = sorted((work / "exp").glob("states-*.ckpt"))
    assert states, "the runner saved no checkpoint"
    return export_student(states[-1], work / "teacher.ckpt")


def test_features_are_normalised_over_the_whole_utterance_then_cropped(corpus: dict) -> None:
    """Each item's features are a window of the whole utterance's CMVN features (as the expert computes them in
    use), and the waveform given to the teacher spans exactly the samples those frames read."""
    from dataclasses import replace

    from upstream_distilbert.features import read_wave

    expert = UpstreamPretrainExpert(corpus, TINY, device="cpu")
    dataset = expert.get_train_dataloader().dataset
    plain = type(expert.extractor)(replace(expert.extractor.config, use_cmvn=False))
    length = TINY["task"]["sequence_length"]
    cropped = 0
    for bucket in range(len(dataset)):
        batch = dataset[(0, bucket)]
        for i, (path, _) in enumerate(dataset.buckets[bucket]):
            full = expert.extractor(read_wave(path, 16000))
            frames, feats = int(batch["lengths"][i]), batch["features"][i, : batch["lengths"][i]]
            assert frames == min(length, len(full))
            starts = [s for s in range(len(full) - frames + 1) if torch.equal(full[s : s + frames], feats)]
            assert len(starts) == 1
            wave = batch["waves"][i, : batch["wave_lengths"][i]]
            assert len(wave) == (frames - 1) * 160 + 400
            torch.testing.assert_close(plain(wave), plain(read_wave(path, 16000))[starts[0] : starts[0] + frames])
            cropped += frames < len(full)
    assert cropped >= 6  # most utterances are longer than the crop


def test_a_teacher_of_our_family_reads_the_students_features(corpus: dict, teacher_ckpt: Path) -> None:
    """With the student's fbank settings the teacher encodes the student's (unmasked) features: the same hidden
    states as its s3prl expert gives for the same waveform."""
    from upstream_distilbert.features import read_wave

    expert = UpstreamPretrainExpert(corpus, _hidden_distillation({"expert": "distilbert_local",
                                                                    "ckpt": str(teacher_ckpt)}), device="cpu")
    assert expert.teacher.reads_student_features and load_student(teacher_ckpt).config.sequence_length == 150
    wave = read_wave(next(Path(corpus["libri_root"]).rglob("*.flac")), 16000)[:16000]
    features = expert.extractor(wave)[None]
    ours = expert.teacher.hidden_states([wave], features, torch.tensor([features.shape[1]]))
    with torch.no_grad():
        theirs = expert.teacher.upstream([wave])["hidden_states"]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_distillation_from_a_distilbert_local_teacher(corpus: dict, teacher_ckpt: Path, tmp_path: Path) -> None:
    """Every objective at once, with the student's first layer initialised from the teacher; fp16 asked for on a
    CPU gets a clear message."""
    config = copy.deepcopy(TINY)
    config["transformer"]["num_hidden_layers"] = 1
    config["teacher"] = {"expert": "distilbert_local", "ckpt": str(teacher_ckpt), "init_student": True}
    config["distillation"] = {"reconstruction_weight": 2.0, "prediction_weight": 5.0, "hidden_weight": 1.0,
                              "student_layers": [1], "teacher_layers": [2]}
    proc = run([*cli(), "pretrain", "-u", "distilbert", "-g", str(write_yaml(tmp_path / "s.yaml", config)),
                "-c", str(runner_config(tmp_path, corpus, 3, 2)), "-n", "student", "-p", str(tmp_path / "exp"),
                "--device", "cpu", "-o", "config.runner.fp16=True"],
               cwd=tmp_path)
    assert "init_student: encoder.embedding <- encoder.embedding (4 of 4 tensors); encoder.layers.0 <- " in proc.stdout
    assert "runner.fp16 is CUDA mixed precision; on --device cpu this run trains in fp32" in proc.stdout
    student = load_student(export_student(next((tmp_path / "exp").glob("states-*.ckpt")), tmp_path / "s.ckpt"))
    assert student.config.transformer.num_hidden_layers == 1
    assert not list((tmp_path / "exp").glob(".*tmp"))  # atomic saves leave no temporary files behind


@pytest.mark.parametrize(
    "objectives",
    [{"reconstruction_weight": 1.0, "prediction_weight": 0.0},
     {"reconstruction_weight": 0.0, "prediction_weight": 1.0},
     {"reconstruction_weight": 0.0, "prediction_weight": 0.0, "hidden_weight": 1.0, "student_layers": [2],
      "teacher_layers": [2]},
     {"reconstruction_weight": 2.0, "prediction_weight": 5.0, "hidden_weight": 1.0, "student_layers": [2],
      "teacher_layers": [2]}],
    ids=["reconstruction", "prediction", "hidden", "all"],
)
def test_each_objective_falls_on_a_fixed_batch(corpus: dict, teacher_ckpt: Path, objectives: dict) -> None:
    config = copy.deepcopy(TINY)
    config["transformer"].update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config["teacher"] = {"expert": "distilbert_local", "ckpt": str(teacher_ckpt)}
    config["distillation"] = objectives
    torch.manual_seed(0)
    expert = UpstreamPretrainExpert(corpus, config, device="cpu")
    batch = next(iter(expert.get_train_dataloader()))
    optimizer = torch.optim.Adam(expert.model.parameters(), lr=3e-3)
    history = []
    for step in range(60):
        loss, records = expert(batch, global_step=step + 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    expected = {name for name in ("reconstruction", "prediction") if objectives.get(f"{name}_weight")}
    expected |= {"hidden_l1", "hidden_cosine"} if objectives.get("hidden_weight") else set()
    assert set(records) == expected  # each objective logged separately, the switched-off ones not at all
    assert history[-1] < 0.7 * history[0], history


def test_resume_gives_the_weights_of_an_uninterrupted_run(corpus: dict, tmp_path: Path) -> None:
    """4 steps, resume, 4 more (with gradient accumulation 2) equals 8 steps straight, to the bit."""
    model = write_yaml(tmp_path / "model.yaml", TINY)
    flags = ["-u", "distilbert", "-g", str(model), "-c", str(runner_config(tmp_path, corpus, 8, 4, accumulate=2)),
             "-n", "resume", "-p", str(tmp_path / "exp"), "--device", "cpu"]
    run([*cli(), "pretrain", *flags], cwd=tmp_path)
    final = sorted((tmp_path / "exp").glob("states-epoch-*.ckpt"))
    assert len(final) == 1
    straight = read_states(final[0])
    final[0].unlink()
    run([*cli(), "pretrain", "-e", str(tmp_path / "exp" / "states-4.ckpt")], cwd=tmp_path)
    resumed = read_states(final[0])
    assert resumed["Step"] == straight["Step"] == 8
    for key, value in straight["Student"].items():
        assert torch.equal(resumed["Student"][key], value), key


def test_resume_with_more_total_steps_extends_the_schedule(corpus: dict, tmp_path: Path) -> None:
    """`-e FINISHED -o config.runner.total_steps=MORE` trains the extra steps: the learning-rate schedule kept in
    the optimizer state follows the new total instead of staying at its end (a learning rate of zero)."""
    model = write_yaml(tmp_path / "model.yaml", TINY)
    flags = ["-u", "distilbert", "-g", str(model), "-c", str(runner_config(tmp_path, corpus, 3, 2)),
             "-n", "extend", "-p", str(tmp_path / "exp"), "--device", "cpu"]
    run([*cli(), "pretrain", *flags], cwd=tmp_path)
    (finished,) = sorted((tmp_path / "exp").glob("states-epoch-*.ckpt"))
    before = read_states(finished)
    proc = run([*cli(), "pretrain", "-e", str(finished), "-o", "config.runner.total_steps=6"], cwd=tmp_path)
    after = read_states(max((tmp_path / "exp").glob("states-*.ckpt"), key=lambda p: p.stat().st_mtime))
    assert (before["Step"], after["Step"]) == (3, 6)
    assert not torch.equal(after["Student"]["encoder.embedding.spec_transform.weight"],
                           before["Student"]["encoder.embedding.spec_transform.weight"])
    assert "schedule now ends at step 6 (runner.total_steps), not 3" in proc.stdout


def _expert_error(corpus: dict, config: dict, datarc: dict | None = None) -> str:
    with pytest.raises((ValueError, FileNotFoundError)) as error:
        expert = UpstreamPretrainExpert(datarc or corpus, config, device="cpu")
        next(iter(expert.get_train_dataloader()))
    return str(error.value)


def test_bad_data_and_teachers_are_clear_errors(corpus: dict, teacher_ckpt: Path, tmp_path: Path) -> None:
    bad_csv = tmp_path / "tables"
    bad_csv.mkdir()
    (bad_csv / "train-clean-100.csv").write_text(",path,len\n0,a.flac,100\n")
    message = _expert_error(corpus, TINY, {**corpus, "file_path": str(bad_csv)})
    assert "train-clean-100.csv: missing column(s) ['file_path', 'length']" in message

    broken = tmp_path / "broken"
    shutil.copytree(Path(corpus["libri_root"]).parent, broken)
    victim = next((broken / "LibriSpeech").rglob("*.flac"))
    victim.unlink()
    message = _expert_error(corpus, TINY, {**corpus, "libri_root": str(broken / "LibriSpeech"),
                                           "file_path": str(broken / "len_for_bucket"), "train_batch_size": 12})
    assert f"{victim}: cannot read audio" in message

    with_teacher = {**TINY, "teacher": {"expert": "distilbert_local", "ckpt": str(tmp_path / "absent.ckpt")}}
    assert "teacher.ckpt: no checkpoint file or folder at" in _expert_error(corpus, with_teacher)
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(teacher_ckpt.read_bytes()[:500])
    with_teacher["teacher"]["ckpt"] = str(corrupt)
    assert f"{corrupt} could not be loaded by distilbert_local" in _expert_error(corpus, with_teacher)
    with_teacher["teacher"]["ckpt"] = str(teacher_ckpt)
    with_teacher["distillation"] = {"hidden_weight": 1.0, "student_layers": [1], "teacher_layers": [7]}
    assert "distillation.teacher_layers: [7] out of range; the teacher has 3" in _expert_error(corpus, with_teacher)
    with_teacher["teacher"]["expert"] = "no_such_upstream"
    assert "'no_such_upstream' is not an s3prl hub entry" in _expert_error(corpus, with_teacher)


def _hidden_distillation(teacher: dict) -> dict:
    config = copy.deepcopy(TINY)
    config["teacher"] = teacher
    config["distillation"] = {"reconstruction_weight": 1.0, "prediction_weight": 0.0, "hidden_weight": 1.0,
                              "student_layers": [2], "teacher_layers": [-1]}
    return config


def _teacher_with_frame_shift(path: Path, frame_shift_ms: float) -> Path:
    from upstream_distilbert import AudioDistilBert, save_student
    from upstream_distilbert.config import AudioConfig

    from .conftest import tiny_config

    config = tiny_config()
    config = type(config)(transformer=config.transformer, audio=AudioConfig(frame_shift=frame_shift_ms))
    return save_student(AudioDistilBert(config), path)


def test_teacher_frames_of_320_samples_align_to_the_student(corpus: dict, tmp_path: Path) -> None:
    """A 20 ms teacher (320 samples per frame): each of its frames covers two student frames."""
    ckpt = _teacher_with_frame_shift(tmp_path / "t320.ckpt", 20.0)
    expert = UpstreamPretrainExpert(corpus, _hidden_distillation({"expert": "distilbert_local", "ckpt": str(ckpt)}),
                                    device="cpu")
    assert expert.teacher.repeat == 2
    wave = torch.rand(16000) - 0.5
    features = expert.extractor(wave)[None]
    student_frames = features.shape[1]
    assert not expert.teacher.reads_student_features
    aligned = expert.teacher.hidden_states([wave], features, torch.tensor([student_frames]))
    raw = expert.teacher.upstream([wave])["hidden_states"]
    assert aligned[-1].shape[1] == student_frames
    assert torch.equal(aligned[-1][0, 0], raw[-1][0, 0]) and torch.equal(aligned[-1][0, 1], raw[-1][0, 0])
    assert torch.equal(aligned[-1][0, 2], raw[-1][0, 1])
    batch = next(iter(expert.get_train_dataloader()))
    loss, records = expert(batch, global_step=1)
    assert torch.isfinite(loss) and records["hidden_l1"]


def test_teacher_whose_frames_cannot_align_fails_at_start(corpus: dict, tmp_path: Path) -> None:
    ckpt = _teacher_with_frame_shift(tmp_path / "t240.ckpt", 15.0)
    config = _hidden_distillation({"expert": "distilbert_local", "ckpt": str(ckpt)})
    assert "240 samples per frame cannot be aligned to the student's 160-sample frames" in _expert_error(corpus, config)


def test_prediction_distillation_needs_a_teacher_with_the_same_features(corpus: dict, tmp_path: Path) -> None:
    ckpt = _teacher_with_frame_shift(tmp_path / "t320.ckpt", 20.0)
    config = {**TINY, "teacher": {"expert": "distilbert_local", "ckpt": str(ckpt)},
              "distillation": {"prediction_weight": 5.0}}
    assert "predicts other features" in _expert_error(corpus, config)


@pytest.mark.parametrize("name", ["paper_student", "paper_teacher", "small_student", "small_teacher"])
def test_shipped_model_configs_parse(name: str) -> None:
    from distilbert_pretrain.config import PretrainConfig

    config = PretrainConfig.load(REPO / "configs" / "pretrain" / f"{name}.yaml")
    assert config.model.audio.feature_dim == 80
    assert (config.teacher is None) == name.endswith("teacher")


def test_shipped_mockingjay_recipes_differ_only_in_size() -> None:
    big, small = (yaml.safe_load((REPO / "configs" / "pretrain" / f"{n}.yaml").read_text())
                  for n in ("mockingjay_teacher", "small_mockingjay_teacher"))
    assert big["audio"] == small["audio"] and set(big["task"]) == set(small["task"])
    assert big["transformer"]["hidden_size"] == big["task"]["position_encoding_size"] == 768


def test_a_run_killed_at_any_moment_resumes_from_its_last_checkpoint(corpus: dict, tmp_path: Path) -> None:
    """Kill a run (SIGKILL) while it saves a checkpoint every step: every states file left is whole (a partial
    write never carries the checkpoint's name), and resuming from the newest finishes the run."""
    import signal
    import subprocess
    import time

    model = write_yaml(tmp_path / "model.yaml", TINY)
    runner = yaml.safe_load(runner_config(tmp_path, corpus, 60, 1).read_text())
    runner["runner"].update(max_keep=3, log_step=50)
    config = write_yaml(tmp_path / "runner.yaml", runner)
    expdir = tmp_path / "exp"
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*cli(), "pretrain", "-u", "distilbert", "-g", str(model), "-c", str(config),
                                 "-n", "killed", "-p", str(expdir), "--device", "cpu"], cwd=tmp_path,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(expdir.glob("states-*.ckpt"))) < 3:
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.05)
    time.sleep(0.37)  # land somewhere inside the save-every-step loop
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before the kill: " + log.read_text()[-2000:]
    left = sorted(expdir.glob("states-*.ckpt"))
    assert left, "no checkpoint was written before the kill"
    for path in left:
        read_states(path)  # raises on a truncated file
    last = max(int(p.stem.split("-")[1]) for p in left)
    # s3prl's resume takes its flags from the checkpoint (a new -o is dropped), so the run goes on to step 60.
    run([*cli(), "pretrain", "-e", str(expdir / f"states-{last}.ckpt")], cwd=tmp_path)
    assert read_states(sorted(expdir.glob("states-epoch-*.ckpt"))[-1])["Step"] == 60


def test_unusable_audio_stops_pretraining_at_start_or_is_dropped_and_counted(corpus: dict, tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture) -> None:
    import soundfile

    broken = tmp_path / "broken"
    shutil.copytree(Path(corpus["libri_root"]).parent, broken)
    flacs = sorted((broken / "LibriSpeech").rglob("*.flac"))
    audio, rate = soundfile.read(str(flacs[0]), dtype="float32")
    soundfile.write(str(flacs[0]), audio[:200], rate)  # too short
    flacs[1].write_bytes(b"not audio")  # corrupt
    datarc = {**corpus, "libri_root": str(broken / "LibriSpeech"), "file_path": str(broken / "len_for_bucket")}
    message = _expert_error(corpus, TINY, datarc)
    assert "2 unusable audio file(s)" in message and "drop_bad_audio" in message
    assert f"{flacs[0]}: 200 samples, expected at least 560" in message and f"{flacs[1]}: cannot read audio" in message
    expert = UpstreamPretrainExpert({**datarc, "drop_bad_audio": True}, TINY, device="cpu")
    batches = list(expert.get_train_dataloader())
    assert "dropped 2 unusable audio file(s) of 12" in capsys.readouterr().out
    assert sum(len(b["lengths"]) for b in batches) == 10


class _Hostile:
    """Unpickling this runs a shell command: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_hostile_checkpoints_are_refused_not_unpickled(tmp_path: Path) -> None:
    import subprocess

    marker = tmp_path / "owned"
    evil = tmp_path / "states-1.ckpt"
    torch.save({"Student": _Hostile(marker), "Upstream_Config": {}, "Transformer": {}}, evil)
    for argv in (["export", str(evil), "-o", str(tmp_path / "s.ckpt")],
                 ["bench", "--teacher", str(evil), "--student", str(evil)],
                 ["bench", "--teacher", str(evil), "--teacher-expert", "mockingjay_local", "--student", str(evil)]):
        proc = subprocess.run([*cli(), *argv], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert f"{evil}: cannot be read as an s3prl checkpoint with weights_only=True" in proc.stderr
        assert not marker.exists()
    from distilbert_pretrain.teacher import Teacher, TeacherConfig

    for expert in ("mockingjay_local", "tera_local", "audio_albert_local"):  # s3prl's builder unpickles whole
        with pytest.raises(ValueError, match=f"refused {evil} for teacher {expert}: .* teacher.trust_pickle: true"):
            Teacher(TeacherConfig(expert=expert, ckpt=str(evil)), None, "cpu")
        assert not marker.exists()
    for expert in ("mockingjay_local", "tera_local", "audio_albert_local", "distiller_local"):
        proc = subprocess.run([*cli(), "downstream", "-m", "train", "-u", expert, "-k", str(evil), "-d", "example",
                               "-p", str(tmp_path / "exp"), "--device", "cpu"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert f"-k {evil}: refused for s3prl's {expert}" in proc.stderr and "--trust-pickle" in proc.stderr
        assert not marker.exists()
    with pytest.raises(ValueError, match="could not be loaded by mockingjay_local"):  # the user insists: unpickled
        Teacher(TeacherConfig(expert="mockingjay_local", ckpt=str(evil), trust_pickle=True), None, "cpu")
    assert marker.exists()


def test_a_resume_whose_teacher_changed_is_refused_and_the_student_records_its_teacher(
        corpus: dict, teacher_ckpt: Path, tmp_path: Path) -> None:
    """The run records its teacher's sha256 in every checkpoint, and the exported student file names its teacher
    (expert, file, sha256); a resume finds another file at the teacher's path and stops, with both digests."""
    import subprocess

    from upstream_distilbert.checkpoint import read_checkpoint
    from upstream_distilbert.digest import file_digest

    teacher = tmp_path / "teacher.ckpt"
    shutil.copyfile(teacher_ckpt, teacher)
    config = _hidden_distillation({"expert": "distilbert_local", "ckpt": str(teacher)})
    run([*cli(), "pretrain", "-u", "distilbert", "-g", str(write_yaml(tmp_path / "s.yaml", config)),
         "-c", str(runner_config(tmp_path, corpus, 4, 2)), "-n", "s", "-p", str(tmp_path / "exp"), "--device", "cpu"],
        cwd=tmp_path)
    digest = file_digest(teacher)
    assert read_states(tmp_path / "exp" / "states-2.ckpt")["Teacher_Digest"] == digest
    run([*cli(), "export", str(tmp_path / "exp" / "states-2.ckpt"), "-o", str(tmp_path / "s.ckpt")])
    assert read_checkpoint(tmp_path / "s.ckpt")["teacher"] == {"expert": "distilbert_local", "ckpt": str(teacher),
                                                                "sha256": digest}
    torch.manual_seed(5)  # another teacher of the same shape at the same path
    from upstream_distilbert import AudioDistilBert, save_student

    save_student(AudioDistilBert(load_student(teacher_ckpt).config), teacher)
    proc = subprocess.run([*cli(), "pretrain", "-e", str(tmp_path / "exp" / "states-2.ckpt")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert (f"has sha256 {file_digest(teacher)}, but this run was distilled from a teacher with sha256 {digest}"
            in proc.stderr)


def _hugging_face_teacher(folder: Path, kind: str) -> Path:
    """A small random-initialised HuBERT or wav2vec 2.0 (20 ms frames) saved as a Hugging Face model folder with
    its feature extractor: what `hf_hubert_custom` and `hf_wav2vec2_custom` load."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config_class, model_class = {"hubert": (HubertConfig, HubertModel), "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model)}[kind]
    config = config_class(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    torch.manual_seed(0)
    model_class(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_hugging_face_teachers_in_a_folder_teach_a_student_end_to_end(kind: str, corpus: dict, tmp_path: Path) -> None:
    """`teacher: {expert: hf_<kind>_custom, ckpt: <model folder>}`: the folder is accepted, its 20 ms frames are
    aligned to the student's 10 ms, hidden-state distillation trains through `audio-distilbert pretrain`, and the
    exported student (recording the folder's digest) runs as distilbert_local."""
    from upstream_distilbert.digest import path_digest
    from upstream_distilbert.hubconf import distilbert_local

    folder = _hugging_face_teacher(tmp_path / kind, kind)
    config = _hidden_distillation({"expert": f"hf_{kind}_custom", "ckpt": str(folder)})
    proc = run([*cli(), "pretrain", "-u", "distilbert", "-g", str(write_yaml(tmp_path / "s.yaml", config)),
                "-c", str(runner_config(tmp_path, corpus, 2, 1)), "-n", "s", "-p", str(tmp_path / "exp"),
                "--device", "cpu"], cwd=tmp_path)
    assert f"teacher: hf_{kind}_custom" in proc.stdout
    states = read_states(tmp_path / "exp" / "states-1.ckpt")
    assert states["Teacher_Digest"] == path_digest(folder)
    run([*cli(), "export", str(tmp_path / "exp" / "states-1.ckpt"), "-o", str(tmp_path / "s.ckpt")])
    student = distilbert_local(ckpt=str(tmp_path / "s.ckpt")).eval()
    with torch.no_grad():
        hidden = student([0.1 * torch.randn(16000)])["hidden_states"]
    assert len(hidden) == 3 and hidden[-1].shape == (1, 98, 32)
