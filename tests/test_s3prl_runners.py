"""s3prl's own downstream runner on our upstream: the literal command after `s3prl install`, and ours."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from downstream_hooks.registration import HUB_BLOCK, s3prl_dir

from .conftest import REPO, S3PRL_FOLDER, cli, run, tree_digest

pytestmark = S3PRL_FOLDER

# A few steps of s3prl's `example` task; no dev evaluation (eval_step past the end) to keep it short.
SHORT = "config.runner.total_steps=4,,config.runner.log_step=2,,config.runner.eval_step=1000,,config.runner.save_step=4"


def _downstream_flags(ckpt: Path, expdir: Path) -> list[str]:
    return ["-m", "train", "-u", "distilbert_local", "-k", str(ckpt), "-d", "example", "--device", "cpu",
            "-p", str(expdir), "-o", SHORT]


def test_literal_run_downstream_after_install_then_uninstall_restores_s3prl(student_ckpt: Path, tmp_path: Path) -> None:
    root = s3prl_dir()
    before = tree_digest(root)
    try:
        first = run([*cli(), "s3prl", "install"])
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
