"""notebooks/tutorial.ipynb: its committed copy carries the outputs of a full run, and it runs end to end (with
TINY = True, a few iterations per step) in this environment's kernel."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from downstream_hooks.registration import s3prl_dir

from .conftest import REPO, cli, run, tree_digest

NOTEBOOK = REPO / "notebooks" / "tutorial.ipynb"


def _outputs(cell: nbformat.NotebookNode, kind: str) -> list:
    return [o for o in cell.get("outputs", []) if kind in o.get("data", {}) or (kind == "text" and "text" in o)]


def test_the_committed_tutorial_shows_its_outputs() -> None:
    code = [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a code cell was never run: execute the notebook before committing"
    assert "TINY = False" in code[0].source
    assert sum(bool(_outputs(c, "image/png")) for c in code) >= 3  # waveform + fbank + labels, curves, hidden states
    assert any("student" in str(_outputs(c, "text/html")) for c in code)  # the accuracy table


def test_the_tutorial_runs_end_to_end(tmp_path: Path, private_s3prl: Path) -> None:
    """The kernel imports a private copy of s3prl (its `s3prl install` goes there, not into the environment)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = "TINY = True"
    before, shared = tree_digest(private_s3prl), tree_digest(s3prl_dir())
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        run([*cli(), "s3prl", "uninstall"])
    assert tree_digest(private_s3prl) == before and tree_digest(s3prl_dir()) == shared
    table = [c for c in notebook.cells if c.cell_type == "code" and _outputs(c, "text/html")][-1]
    assert all(name in str(_outputs(table, "text/html")) for name in ("fbank", "teacher", "student"))
    assert (tmp_path / "tutorial-work" / "student.ckpt").is_file()
