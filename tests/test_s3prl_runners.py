"""s3prl's own downstream runner on our upstream: the literal command after `s3prl install`, and ours."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from downstream_hooks.registration import HUB_BLOCK, s3prl_dir

from .conftest import REPO, cli, run, tree_digest

# A few steps of s3prl's `example` task; no dev evaluation (eval_step past the end) to keep it short.
SHORT = "config.runner.total_steps=4,,config.runner.log_step=2,,config.runner.eval_step=1000,,config.runner.save_step=4"


def _downstream_flags(ckpt: Path, expdir: Path) -> list[str]:
    return ["-m", "train", "-u", "distilbert_local", "-k", str(ckpt), "-d", "example", "--device", "cpu",
            "-p", str(expdir), "-o", SHORT]


def test_literal_run_downstream_after_install_then_uninstall_restores_s3prl(student_ckpt: Path, tmp_path: Path,
                                                                            private_s3prl: Path) -> None:
    """Installed into a private copy of s3prl (this test's subprocesses import it), never into the environment's:
    while installed there, the environment's s3prl is byte for byte as it was."""
    root, shared = private_s3prl, tree_digest(s3prl_dir())
    before = tree_digest(root)
    try:
        first = run([*cli(), "s3prl", "install"])
        assert f"at {root}" in first.stdout and tree_digest(s3prl_dir()) == shared
        assert "hub entries distilbert_local, distilbert_url, distilbert (s3prl/hub.py): installed" in first.stdout
        run([*cli(), "s3prl", "install"])  # idempotent
        assert (root / "hub.py").read_text().count(HUB_BLOCK) == 1
        config = REPO / "configs" / "downstream" / "example.yaml"
        run([sys.executable, "run_downstream.py", *_downstream_flags(student_ckpt, tmp_path / "exp"), "-c", str(config)],
            cwd=root)
        assert (tmp_path / "exp" / "states-4.ckpt").is_file()
    finally:
        gone = run([*cli(), "s3prl", "uninstall"])
    assert "not installed" in gone.stdout
    assert tree_digest(root) == before
    probe = run([sys.executable, "-c", "import s3prl.hub as h; print(hasattr(h, 'distilbert_local'))"])
    assert probe.stdout.strip().endswith("False")
    assert "not installed" in run([*cli(), "s3prl", "status"]).stdout


def test_audio_distilbert_downstream_from_any_directory_and_resume_weights_only(student_ckpt: Path,
                                                                                 tmp_path: Path) -> None:
    before = tree_digest(s3prl_dir())
    run([*cli(), "downstream", *_downstream_flags(student_ckpt, tmp_path / "exp")], cwd=tmp_path)
    assert (tmp_path / "exp" / "states-4.ckpt").is_file()
    assert tree_digest(s3prl_dir()) == before  # nothing installed into s3prl
    # s3prl's own resume loads its pickled checkpoint with torch's default (weights-only) and our allow-list;
    # nothing turns weights-only loading off
    env = {k: v for k, v in os.environ.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}
    resumed = subprocess.run([*cli(), "downstream", "-m", "train", "-e", str(tmp_path / "exp" / "states-4.ckpt"),
                              "--device", "cpu"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]


def test_subcommands_have_help(capsys: pytest.CaptureFixture) -> None:
    """Every subcommand answers --help, pretrain and downstream with s3prl's own runners' flags (in-process: the
    command as a subprocess is covered by test_layout)."""
    from distilbert_cli.main import main

    for argv, expected in ((["--help"], "s3prl"), (["s3prl", "--help"], "install"),
                           (["downstream", "--help"], "--upstream"), (["pretrain", "--help"], "--upstream_config"),
                           (["export", "--help"], "--output"), (["bench", "--help"], "--teacher"),
                           (["demo", "--help"], "--precisions")):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code in (0, None) and expected in capsys.readouterr().out, argv


def test_a_kill_during_a_downstream_save_leaves_every_checkpoint_whole(corpus: dict, student_ckpt: Path,
                                                                        tmp_path: Path) -> None:
    """s3prl's downstream runner writes best-states-dev.ckpt and states-N.ckpt; killed halfway through writing
    the step-20 checkpoint, the run leaves the step-10 files whole (atomic writes), so `-m evaluate` on the best
    dev checkpoint works and a rerun of the training finishes, first removing the half-written temporary file the
    kill left (and no file of anyone else's)."""
    from upstream_distilbert.s3prl_states import read_states

    root = Path(corpus["libri_root"]).parent
    d = "config.downstream_expert.datarc"
    flags = ["-m", "train", "-u", "distilbert_local", "-k", str(student_ckpt), "-d", "phone_linear",
             "-c", str(REPO / "configs" / "downstream" / "phone_linear_small.yaml"), "--device", "cpu",
             "-o", f"{d}.libri_root={root / 'LibriSpeech'},,{d}.phone_path={root / 'cpc_phone'},,"
                   f"{d}.bucket_file={root / 'len_for_bucket'},,{d}.num_workers=0,,{d}.train_batch_size=2,,"
                   f"{d}.eval_batch_size=1,,"
                   "config.runner.total_steps=20,,config.runner.log_step=10,,config.runner.eval_step=10,,"
                   "config.runner.save_step=10,,config.runner.max_keep=2"]
    expdir = tmp_path / "phone"
    env = dict(os.environ, KILL_AT_SAVE="states-20", OMP_NUM_THREADS="1")  # killed writing the step-20 checkpoint
    killed = subprocess.run([sys.executable, str(REPO / "tests" / "kill_during_save.py"), "downstream", *flags,
                             "-p", str(expdir)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr[-2000:]
    saved = sorted(p.name for p in expdir.glob("*.ckpt"))
    assert "states-10.ckpt" in saved and "best-states-dev.ckpt" in saved and "states-20.ckpt" not in saved
    for name in saved:  # every file under its own name is whole (no truncated step-20 file, no half best file)
        assert read_states(expdir / name)["Step"] in (10, 20)
    (stale,) = expdir.glob(".states-20.ckpt.*.tmp")  # what the kill left, named by its host and process
    (expdir / ".notes.tmp").write_text("a user's file that looks temporary\n")
    run([*cli(), "downstream", "-m", "evaluate", "-e", str(expdir / "best-states-dev.ckpt"), "-t", "test",
         "--device", "cpu", "-o", f"args.expdir={tmp_path / 'evaluated'}"], cwd=tmp_path)
    assert "test-|step:" in (tmp_path / "evaluated" / "log.log").read_text()
    again = run([*cli(), "downstream", *flags, "-p", str(expdir)], cwd=tmp_path)  # the run again, in its folder
    assert read_states(expdir / "states-20.ckpt")["Step"] == 20
    assert not stale.exists() and f"removed {stale}" in again.stdout
    assert (expdir / ".notes.tmp").is_file() and not list(expdir.glob(".*.ckpt.*.tmp"))


def test_literal_asr_on_the_corpus_after_install(corpus: dict, student_ckpt: Path, tmp_path: Path,
                                                 private_s3prl: Path) -> None:
    """s3prl's literal `run_downstream.py -d asr -u distilbert_local` (in a private copy of s3prl, after `s3prl
    install`) trains on the corpus's transcripts, char.dict and split CSVs; `audio-distilbert downstream -m
    evaluate` (the literal -e would load s3prl's pickled checkpoint weights-only and stop) tests test-clean into the
    hypothesis and reference files that read_error_rates turns into WER and CER."""
    from downstream_hooks.results import read_error_rates

    root = Path(corpus["libri_root"]).parent
    d = "config.downstream_expert.datarc"
    data = (f"{d}.libri_root={root / 'LibriSpeech'},,{d}.bucket_file={root / 'asr'},,{d}.dict_path={root / 'asr' / 'char.dict'},,"
            f"{d}.num_workers=0,,{d}.train_batch_size=2,,{d}.batch_size=2,,{d}.eval_batch_size=2")
    run([*cli(), "s3prl", "install"])
    try:
        run([sys.executable, "run_downstream.py", "-m", "train", "-u", "distilbert_local", "-k", str(student_ckpt),
             "-d", "asr", "-c", str(REPO / "configs" / "downstream" / "asr_small.yaml"), "--device", "cpu",
             "-p", str(tmp_path / "asr"), "-o", f"config.runner.total_steps=2,,config.runner.eval_step=2,,"
                                                 f"config.runner.save_step=2,,config.runner.log_step=1,,{data}"],
            cwd=private_s3prl)
    finally:
        run([*cli(), "s3prl", "uninstall"])
    evaluated = run([*cli(), "downstream", "-m", "evaluate", "-e", str(tmp_path / "asr" / "states-2.ckpt"), "-t",
                     "test-clean", "--device", "cpu", "-o", f"args.expdir={tmp_path / 'test'}"], cwd=tmp_path)
    rates = read_error_rates(tmp_path / "test", "test-clean")
    (printed,) = re.findall(r"^test-clean wer: (\S+)$", evaluated.stdout, re.M)  # s3prl's own count, in percent
    assert rates["wer"] == pytest.approx(float(printed) / 100, rel=1e-9)
    assert len((tmp_path / "test" / "test-clean-noLM-ref.ark").read_text().splitlines()) >= 2
