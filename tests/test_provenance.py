"""Provenance names a commit only for the checkout the package's code is in."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from .conftest import REPO


def _load(path: Path):
    spec = importlib.util.spec_from_file_location("provenance_copy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_install_inside_another_repository_records_no_commit_of_it(tmp_path: Path) -> None:
    """The package installed (as from a wheel) into an environment inside some other git repository: that
    repository's HEAD is not this code's commit."""
    other = tmp_path / "other"
    installed = other / "venv" / "lib" / "site-packages" / "distilbert_cli"
    installed.mkdir(parents=True)
    shutil.copy(REPO / "distilbert_cli" / "provenance.py", installed / "provenance.py")
    git = lambda *args: subprocess.run(["git", "-C", str(other), *args], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (other / "README").write_text("another project\n")
    git("add", "README")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "other")
    module = _load(installed / "provenance.py")
    assert module._commit() is None
    assert module.provenance()["source"] == os.path.relpath(installed.parent)


def test_the_checkout_records_its_own_commit() -> None:
    from distilbert_cli.provenance import provenance

    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = provenance()
    assert record["commit"].startswith(head) and record["source"] == os.path.relpath(REPO.resolve())


def test_a_module_run_with_python_m_is_recorded_as_typed(tmp_path: Path) -> None:
    """`python -m distilbert_cli.X` records that, not the module file's path on this machine (a results file
    committed from one machine used to carry `/work/.../distilbert_cli/curves.py`)."""
    import sys

    from .conftest import run

    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "__init__.py").write_text("")
    (probe / "show.py").write_text("from distilbert_cli.provenance import provenance\nprint(provenance()['command'])\n")
    out = run([sys.executable, "-m", "probe.show", "--workdir", "runs"], cwd=tmp_path).stdout.strip()
    assert out == "python -m probe.show --workdir runs"
    # a path given absolute is recorded relative to the working folder: no folder of this machine in the file
    out = run([sys.executable, "-m", "probe.show", "--workdir", str(tmp_path / "runs" / "final")], cwd=tmp_path).stdout
    assert out.strip() == f"python -m probe.show --workdir {os.path.join('runs', 'final')}"
