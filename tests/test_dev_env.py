"""scripts/dev.sh's shared environment: a job of one checkout keeps its code while another checkout starts."""
from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO


def test_a_running_job_keeps_its_code_when_another_checkout_starts(tmp_path: Path) -> None:
    """While a job holds this environment (the shared lock that dev.sh's jobs hold on $venv/.in-use), dev.sh of
    another checkout with the same dependency spec refuses to point the environment's editable install at itself,
    naming the running checkout, and changes nothing. (Before, it re-pointed it: the running job's next subprocess
    imported the other checkout's code, or none.)"""
    venv = Path(sys.prefix)
    repo_file = venv / ".repo"
    if not (repo_file.is_file() and (venv / ".complete").is_file()):
        pytest.skip("runs in an environment made by scripts/dev.sh")
    other = tmp_path / "other-checkout"
    shutil.copytree(REPO / "scripts", other / "scripts")
    shutil.copy(REPO / "pyproject.toml", other / "pyproject.toml")
    before = repo_file.read_text()
    with open(venv / ".in-use", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)  # a job of this checkout, running
        proc = subprocess.run(["bash", str(other / "scripts" / "dev.sh"), "env"], capture_output=True, text=True,
                              timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                                   "AUDIO_DISTILBERT_ENVS": str(venv.parent)})
    assert proc.returncode == 1, proc.stderr
    assert f"a job of another checkout ({before.split()[0]}) is running in {venv}" in proc.stderr
    assert "AUDIO_DISTILBERT_ENVS=DIR" in proc.stderr
    assert repo_file.read_text() == before
