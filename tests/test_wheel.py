"""The wheel is the whole product: built from this tree, installed into a fresh environment (the clone nowhere on
its path), it runs the quick demo from an empty folder; uninstalled, it leaves s3prl working."""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from distilbert_cli.demo import QUICK, finished
from distilbert_cli.report import mean_std
from downstream_hooks.registration import s3prl_dir
from downstream_hooks.results import read_phone_error_rate, read_scores
from upstream_distilbert import load_student

from .conftest import REPO, cli, run, tree_digest
from .test_corpus import _labels

SKIP_IN_COPY = shutil.ignore_patterns(".git", "__pycache__", "build", "*.egg-info", "demo", "result", ".pytest_cache")


def _fresh_environment(root: Path) -> Path:
    """A new virtual environment whose only link to this one is the third-party packages (torch, ...): a folder of
    links to every entry of this environment's site-packages except audio-distilbert's own, and a copy of s3prl
    (which the test installs into, leaving this environment's as it is)."""
    env = root / "env"
    run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    deps = root / "deps"
    deps.mkdir()
    ours = ("audio_distilbert", "__editable__", "_audio_distilbert")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name == "s3prl":
            shutil.copytree(entry, deps / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        elif not entry.name.startswith(ours) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    purelib = Path(run([str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                   .stdout.strip())
    (purelib / "third_party.pth").write_text(f"{deps}\n")
    return env


def _final_step_accuracy(expdir: Path) -> float:
    """The test accuracy logged at the step of s3prl's own best-dev checkpoint (the runner saves best-states-dev.ckpt
    on each new best dev accuracy): not our reading of the log's dev lines."""
    from upstream_distilbert.s3prl_states import read_states

    return read_scores(expdir)["test"][int(read_states(expdir / "best-states-dev.ckpt")["Step"])]


def test_wheel_installs_runs_the_quick_demo_and_uninstalls_cleanly(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=SKIP_IN_COPY)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
         str(source)])
    (wheel,) = (tmp_path / "dist").glob("audio_distilbert-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"distilbert_configs/pretrain/demo_student.yaml", "distilbert_configs/downstream/phone_linear_small.yaml",
            "distilbert_configs/downstream/asr.yaml", "distilbert_configs/downstream/asr_small.yaml",
            "distilbert_configs/downstream/pr.yaml", "distilbert_configs/downstream/pr_small.yaml",
            "distilbert_models/demo_teacher.ckpt", "distilbert_pretrain/config_model.yaml"} <= names

    env = _fresh_environment(tmp_path)
    python, exe = str(env / "bin" / "python"), str(env / "bin" / "audio-distilbert")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", str(wheel)])
    empty = tmp_path / "empty"
    empty.mkdir()
    where = run([python, "-c", "import distilbert_cli, upstream_distilbert; print(distilbert_cli.__file__)"],
                cwd=empty).stdout
    assert str(env) in where and str(REPO) not in where
    proc = run([exe, "demo", "--quick", "--precisions", "int8"], cwd=empty, timeout=900)
    assert "schedule now ends at step 12 (runner.total_steps), not 8" in proc.stdout  # the teacher's 2nd phase
    work = empty / "demo"
    results = json.loads((work / "results.json").read_text())
    models = results["models"]
    seeds = [1337, 1338]  # the quick demo's two seeds: the figures are means and spreads over them
    unseen = "unseen_synthesizer_test_acc" in models["fbank"]
    if os.environ.get("AUDIO_DISTILBERT_REQUIRE_MBROLA"):  # the test command installs espeak-ng + MBROLA
        assert unseen
    if not unseen:
        assert "[demo] no unseen-synthesizer test set, so that column is left out" in proc.stdout
    for name in ("fbank", "teacher", "student"):
        m, expdirs = models[name], [work / "downstream" / name / f"seed-{seed}" for seed in seeds]
        assert m["seeds"] == seeds and all(finished(expdir, QUICK.phone_steps) for expdir in expdirs)
        assert m["test_accs"] == [_final_step_accuracy(expdir) for expdir in expdirs]
        assert (m["test_acc"], m["test_acc_std"]) == pytest.approx(mean_std(m["test_accs"]))
        if unseen:
            evaluated = [list(read_scores(expdir / "unseen-synthesizer")["test"].values()) for expdir in expdirs]
            assert [[acc] for acc in m["unseen_synthesizer_test_accs"]] == evaluated
    pairs = list(zip(models["student"]["test_accs"], models["teacher"]["test_accs"]))
    assert results["retention"] == pytest.approx(statistics.fmean(s / t for s, t in pairs))  # seed by seed
    assert results["paired"]["student_minus_teacher"]["held_out"]["values"] == pytest.approx([s - t for s, t in pairs])
    if unseen:
        ids = (work / "unseen-synthesizer-corpus" / "cpc_phone" / "test_split.txt").read_text().split()
        assert len(ids) == QUICK.unseen_speakers * QUICK.unseen_utterances_per_speaker
        assert {i.split("-")[0] for i in ids}.isdisjoint(u.split("-")[0] for u in _labels(work / "corpus"))
        assert f"number of data for test: {len(ids)}" in proc.stdout
        assert "unseen_synthesizer" in results["paired"]["student_minus_teacher"]
    assert "over 2 phone_linear seed(s)" in proc.stdout
    assert results["plan"]["text"] == "open" and results["provenance"]["command"].startswith("audio-distilbert demo")
    pr = results["tasks"]["pr"]
    printed_pers = [float(v) for v in re.findall(r"^test per: (\S+)$", proc.stdout, re.M)]
    assert list(results["tasks"]) == ["pr"]  # the quick plan runs no asr
    for name in ("fbank", "teacher", "student"):  # a few steps through s3prl's real ctc expert (SUPERB PR)
        m = pr["models"][name]
        expdir = work / "downstream" / "pr" / name / "seed-1337"
        assert m["test_pers"] == [read_phone_error_rate(expdir / "held-out", "test")]
        assert m["test_per"] in printed_pers  # what s3prl's ctc expert computed itself
        assert (expdir / f"states-{QUICK.pr_steps}.ckpt").is_file()
    assert pr["retention"] == pytest.approx(pr["models"]["teacher"]["test_per"] / pr["models"]["student"]["test_per"])
    assert pr["paired"]["student_minus_teacher"]["held_out"]["values"] == pytest.approx(
        [pr["models"]["student"]["test_per"] - pr["models"]["teacher"]["test_per"]])
    assert "pr retention (teacher PER / student PER, per seed)" in proc.stdout
    fp32 = models["student"]["test_accs"]
    assert list(results["precisions"]) == ["int8"]  # only the precision asked for (bf16: test_expert)
    expdirs = [work / "downstream" / "student" / f"seed-{seed}" for seed in seeds]
    same = [list(read_scores(expdir / "test-int8")["test"].values())[0] for expdir in expdirs]
    retrained = [_final_step_accuracy(work / "downstream" / "student-int8" / f"seed-{seed}") for seed in seeds]
    for name, accs in (("same_head", same), ("retrained", retrained)):
        assert results["precisions"]["int8"][name]["test_accs"] == accs
        assert results["precisions"]["int8"][name]["minus_fp32"] == pytest.approx(statistics.fmean(accs) - statistics.fmean(fp32))
    assert "student int8: same head " in proc.stdout
    teacher, student = (load_student(work / "pretrain" / n / f"{n}.ckpt") for n in ("teacher", "student"))
    assert models["teacher"]["params"] == teacher.num_parameters() != models["student"]["params"]
    assert models["student"]["params"] == student.num_parameters()
    assert (work / "results.png").stat().st_size > 10_000

    copy, shared = tmp_path / "deps" / "s3prl", tree_digest(s3prl_dir())  # the fresh environment's s3prl
    before = tree_digest(copy)
    try:
        run([exe, "s3prl", "install"], cwd=empty)
        assert tree_digest(copy) != before and tree_digest(s3prl_dir()) == shared
        run([sys.executable, "-m", "pip", "--python", python, "uninstall", "-y", "-q", "audio-distilbert"])
        assert not (env / "bin" / "audio-distilbert").exists()
        probe = "import s3prl.hub as hub; print('entries', len(hub.options()), hasattr(hub, 'distilbert_local'))"
        out = run([python, "-c", probe], cwd=empty).stdout.splitlines()[-1].split()
        assert out[0] == "entries" and int(out[1]) > 50 and out[2] == "False"
        literal = subprocess.run([python, "run_pretrain.py", "-u", "distilbert", "-n", "x", "-p", str(tmp_path / "x"),
                                  "--device", "cpu"],
                                 cwd=copy, capture_output=True, text=True, timeout=300,
                                 env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert literal.returncode != 0
        assert "run_pretrain.py -u distilbert: audio-distilbert is not installed" in literal.stderr
    finally:  # this environment's command, on the fresh environment's s3prl
        subprocess.run([*cli(), "s3prl", "uninstall"], env=dict(os.environ, PYTHONPATH=str(tmp_path / "deps")),
                       capture_output=True, text=True, timeout=300, check=True)
    assert tree_digest(copy) == before and tree_digest(s3prl_dir()) == shared
