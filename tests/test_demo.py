"""The demo's pieces: the shipped teacher, steps keyed by what made them, resuming an interrupted pretraining step,
and what counts as a finished downstream run. (The quick demo runs end to end from an installed wheel in
test_wheel.)"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from distilbert_cli.steps import KEY_FILE, Step

from .conftest import REPO, cli, write_yaml
from .test_pretrain import TINY


def test_the_full_demo_distils_from_the_shipped_teacher(tmp_path: Path) -> None:
    """models/demo_teacher.ckpt is a weights-only student file of configs/pretrain/demo_teacher.yaml's shape, and
    the full demo picks it instead of training one."""
    from distilbert_cli.demo import FULL, SHIPPED_TEACHER, _teacher
    from distilbert_pretrain.config import PretrainConfig
    from upstream_distilbert import load_student

    torch.load(SHIPPED_TEACHER, weights_only=True)
    config = PretrainConfig.load(str(REPO / "configs" / "pretrain" / "demo_teacher.yaml")).model
    assert load_student(SHIPPED_TEACHER).config == config
    assert _teacher(tmp_path, FULL, Step.of(tmp_path / "corpus", kind="corpus")) == SHIPPED_TEACHER
    assert not any(tmp_path.iterdir())  # nothing trained, nothing built


def test_a_step_is_kept_for_the_same_inputs_and_redone_for_others(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    step = Step.of(tmp_path / "step", kind="corpus", plan={"steps": 10}, config=config)
    assert not step.prepare()  # new
    (step.folder / "output").write_text("done")
    assert Step.of(tmp_path / "step", kind="corpus", plan={"steps": 10}, config=config).prepare()  # the same inputs: kept
    assert (step.folder / "output").is_file()
    config.write_text("a: 2\n")  # a file is an input by its contents
    changed = Step.of(tmp_path / "step", kind="corpus", plan={"steps": 10}, config=config)
    assert changed.key != step.key and not changed.prepare()
    assert sorted(p.name for p in step.folder.iterdir()) == [KEY_FILE]  # the other inputs' output is gone
    assert json.loads((step.folder / KEY_FILE).read_text())["inputs"]["config"]["sha256"]
    downstream = Step.of(tmp_path / "next", kind="corpus", after=changed)  # a step's key covers the keys it builds on
    assert downstream.key != Step.of(tmp_path / "next", kind="corpus", after=step).key
    (changed.folder / "half").mkdir()
    changed.clear()
    assert sorted(p.name for p in changed.folder.iterdir()) == [KEY_FILE]


def test_a_change_to_the_code_a_step_runs_changes_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's key covers the source of the packages its kind runs: after a `git pull` that edits one function
    there, the step is done again, not reused. (The corpus step runs distilbert_corpus.)"""
    from distilbert_cli import steps

    assert "distilbert_corpus" in steps.CODE["corpus"][0] and "lemminflect" in steps.CODE["corpus"][1]
    package = tmp_path / "code" / "made_up_corpus"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "text.py").write_text("def words():\n    return ['make']\n")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    monkeypatch.setitem(steps.CODE, "corpus", (("made_up_corpus",), ("torch",)))
    before = Step.of(tmp_path / "step", kind="corpus", plan={"speakers": 3})
    assert Step.of(tmp_path / "step", kind="corpus", plan={"speakers": 3}).key == before.key
    (package / "text.py").write_text("def words():\n    return ['make', 'making']\n")
    assert Step.of(tmp_path / "step", kind="corpus", plan={"speakers": 3}).key != before.key


def test_the_demo_refuses_a_folder_it_did_not_make_and_deletes_nothing(tmp_path: Path) -> None:
    """`demo --workdir` in a folder that holds a corpus/ of the user's (the corpus command's output, or a real
    LibriSpeech): the demo stops, naming it, and the file is still there."""
    import subprocess

    placed = tmp_path / "corpus" / "LibriSpeech" / "x.flac"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"a user's audio")
    done = subprocess.run([*cli(), "demo", "--quick", "--workdir", str(tmp_path)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 2, done.stderr
    assert str(tmp_path / "corpus") in done.stderr and "LibriSpeech" in done.stderr and "not deleting" in done.stderr
    assert placed.read_bytes() == b"a user's audio"


def test_a_corpus_step_is_reused_for_the_same_plan_and_rebuilt_for_another(tmp_path: Path) -> None:
    """A quick run, then another plan in the same folder: the corpus is rebuilt, never mixed; then the first plan
    again rebuilds it once more (one folder holds one plan's corpus)."""
    from distilbert_cli.demo import corpus_step

    folder = tmp_path / "corpus"
    first = corpus_step(folder, "open", 3, 2, test_voices=1)
    made = (folder / "corpus.json").stat().st_mtime_ns
    assert corpus_step(folder, "open", 3, 2, test_voices=1).key == first.key
    assert (folder / "corpus.json").stat().st_mtime_ns == made  # reused
    corpus_step(folder, "open", 3, 3, test_voices=1)
    assert json.loads((folder / "corpus.json").read_text())["utterances"] == 9
    assert len((folder / "cpc_phone" / "converted_aligned_phones.txt").read_text().splitlines()) == 9
    assert corpus_step(folder, "open", 3, 2, test_voices=1).key == first.key  # the first plan again: rebuilt
    assert json.loads((folder / "corpus.json").read_text())["utterances"] == 6
    audio = sorted(p.stem for p in folder.rglob("*.flac"))
    assert len(audio) == 6 and not [u for u in audio if u.endswith("-0002")]  # nothing of the other plan is left
    for split in ("train", "dev", "test"):
        assert not pd.read_csv(folder / "superb_pr" / f"{split}.csv")["wav_path"].str.endswith("-0002.flac").any()


def test_a_downstream_run_is_finished_only_with_its_final_test_evaluation(tmp_path: Path) -> None:
    from distilbert_cli.demo import finished
    from downstream_hooks.results import read_results

    assert not finished(tmp_path, 30)
    log = tmp_path / "log.log"
    lines = ["libri_phone/train-|step:30|acc:0.5", "best|libri_phone/dev-|step:15|acc:0.4",
             "libri_phone/test-|step:15|acc:0.38", "libri_phone/dev-|step:30|acc:0.39"]
    log.write_text("\n".join(lines) + "\n")  # killed during the step-30 evaluation: its test line is missing
    assert not finished(tmp_path, 30) and read_results(tmp_path)["last_step"] == 15
    log.write_text("\n".join([*lines, "libri_phone/test-|step:30|acc:0.37"]) + "\n")
    assert finished(tmp_path, 30) and read_results(tmp_path)["last_step"] == 30


def test_an_interrupted_pretraining_step_resumes_from_its_last_checkpoint(corpus: dict, tmp_path: Path,
                                                                           capfd: pytest.CaptureFixture) -> None:
    """A pretraining step killed before its export exports the checkpoint with the most steps (as recorded in it,
    whatever the files' times); one killed during its last step (the newest checkpoint at step 3 of 4) continues
    from that checkpoint instead of starting again."""
    from distilbert_cli.demo import pretrain_and_export
    from upstream_distilbert.s3prl_states import read_states

    root = Step.of(Path(corpus["libri_root"]).parent, kind="corpus")
    model = write_yaml(tmp_path / "model.yaml", TINY)
    expdir = tmp_path / "pretrain" / "teacher"
    exported = pretrain_and_export(tmp_path, "teacher", model, (4,), root)
    assert exported == expdir / "teacher.ckpt"
    steps = {p: read_states(p)["Step"] for p in expdir.glob("states-*.ckpt")}
    assert sorted(steps.values()) == [3, 4]
    last, before = max(steps, key=steps.__getitem__), min(steps, key=steps.__getitem__)
    os.utime(last, ns=(0, 0))  # the step-3 checkpoint looks newer: file times must not decide
    exported.unlink()
    capfd.readouterr()
    assert pretrain_and_export(tmp_path, "teacher", model, (4,), root) == exported
    assert f"[demo] audio-distilbert export {last} -o {exported}" in capfd.readouterr().out
    exported.unlink()
    last.unlink()
    pretrain_and_export(tmp_path, "teacher", model, (4,), root)
    out = capfd.readouterr().out
    assert f"[demo] audio-distilbert pretrain -e {before}" in out
    assert "Start a new experiment" not in out
    assert max(read_states(p)["Step"] for p in expdir.glob("states-*.ckpt")) == 4 and exported.is_file()


def test_an_asr_evaluation_killed_after_s3prl_opened_its_files_is_run_again(tmp_path: Path) -> None:
    """s3prl's asr opens `test-clean-noLM-ref.ark` before writing it: a kill leaves it empty. The demo counts the
    evaluation as finished only by its own marker, so a rerun clears the folder and evaluates again (here the run's
    checkpoint is gone, so evaluating fails) instead of reading the empty file forever."""
    from distilbert_cli.demo import ASR, EVALUATED, ctc_error_rates, evaluation_step
    from upstream_distilbert.errors import StepFailed

    expdir = tmp_path / "downstream" / "asr"
    run = Step.of(expdir, kind="asr", seed=1337)
    run.prepare()
    corpus = Step.of(tmp_path / "corpus", kind="corpus")
    step = evaluation_step(expdir, "held-out", corpus, model="states-4.ckpt")
    step.prepare()
    (step.folder / "test-clean-noLM-ref.ark").write_text("")  # what a kill during s3prl's evaluation leaves
    (step.folder / "test-clean-noLM-hyp.ark").write_text("")
    with pytest.raises(StepFailed):
        ctc_error_rates(tmp_path, ASR, expdir, corpus, "held-out", 4)
    assert not (step.folder / "test-clean-noLM-ref.ark").exists() and not (step.folder / EVALUATED).exists()
