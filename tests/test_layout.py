"""The layout: which package may import which (no cycles), and a command line that imports only what a
subcommand needs and answers a user's mistake with one line and exit status 2."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, cli

# Source folder -> installed package name.
PACKAGES = {
    "upstream_distilbert": "upstream_distilbert",
    "pretrain/distilbert": "distilbert_pretrain",
    "downstream_hooks": "downstream_hooks",
    "distilbert_corpus": "distilbert_corpus",
    "distilbert_cli": "distilbert_cli",
    "benchmarks": "distilbert_benchmarks",
    "configs": "distilbert_configs",
    "models": "distilbert_models",
}
# What each package may import of ours: dependencies point one way, from the command line down to the model.
ALLOWED = {
    "upstream_distilbert": set(),
    "distilbert_configs": set(),
    "distilbert_models": set(),
    "distilbert_pretrain": {"upstream_distilbert"},
    "distilbert_corpus": {"upstream_distilbert"},
    "downstream_hooks": {"upstream_distilbert", "distilbert_pretrain", "distilbert_configs"},
    "distilbert_benchmarks": {"upstream_distilbert", "distilbert_pretrain", "downstream_hooks"},
    "distilbert_cli": set(PACKAGES.values()) - {"distilbert_cli"},
}


def imports_of(package: str, folder: Path) -> dict[str, set[str]]:
    """{module file: our other packages it imports} for every module of one package."""
    ours = set(PACKAGES.values())
    found = {}
    for path in sorted(folder.glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = (names & ours) - {package}
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for folder, package in PACKAGES.items():
        for imported in imports_of(package, REPO / folder).values():
            graph.setdefault(package, set()).update(imported)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A dependency cycle of `graph` as a path, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [])):
            return cycle
    return None


def test_every_package_imports_only_what_lies_below_it() -> None:
    bad = []
    for folder, package in PACKAGES.items():
        for module, imported in imports_of(package, REPO / folder).items():
            bad += [f"{module} imports {name}" for name in sorted(imported - ALLOWED[package])]
    assert not bad, bad


def test_no_import_cycle_between_packages() -> None:
    assert find_cycle(package_graph()) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check finds one


def test_every_package_is_in_the_wheel_list() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert sorted(project["tool"]["setuptools"]["packages"]) == sorted(PACKAGES.values())


def _modules_after(*argv: str) -> set[str]:
    """The top-level modules that `audio-distilbert ARGV` has imported when it exits (run in a fresh process)."""
    code = ("import sys\nfrom distilbert_cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
            "    pass\nprint('MODULES', *sorted({m.split('.')[0] for m in sys.modules}))")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("MODULES ")]
    return set(line.split()[1:])


def test_help_and_torch_free_jobs_import_neither_torch_nor_s3prl(tmp_path: Path) -> None:
    for argv in (["--help"], ["corpus", "--help"], ["bench", "--help"], ["prepare", str(tmp_path), "--out", "x"]):
        loaded = _modules_after(*argv)
        assert "distilbert_cli" in loaded, argv
        assert not loaded & {"torch", "s3prl", "torchaudio"}, (argv, loaded & {"torch", "s3prl", "torchaudio"})


def test_a_users_mistake_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "absent.ckpt"
    proc = subprocess.run([*cli(), "export", str(missing), "-o", str(tmp_path / "s.ckpt")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"audio-distilbert: error: {missing}: no such checkpoint file"
    proc = subprocess.run([*cli(), "corpus", str(tmp_path), "--speakers", "99"], capture_output=True, text=True,
                          timeout=300)
    assert (proc.returncode, proc.stderr.strip()) == (
        2, "audio-distilbert: error: --speakers 99: expected 1..12 (0 with --mbrola-speakers)")
    proc = subprocess.run([*cli(), "pretrain", "-u", "distilbert", "-n", "x", "-p", str(tmp_path / "x"), "--device",
                           "cpu", "-o", "config.runner.total_steps=10,,config.runner.save_step=10"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("audio-distilbert: error: runner.save_step=10: s3prl's pretraining "
                                                    "runner needs it smaller than runner.total_steps=10")
    debug = subprocess.run([*cli(), "export", str(missing), "-o", "s.ckpt", "--debug"], capture_output=True,
                           text=True, timeout=300)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and str(missing) in debug.stderr


def test_only_a_users_mistake_is_one_line_a_bug_of_ours_shows_its_traceback(tmp_path: Path, monkeypatch,
                                                                              capsys) -> None:
    """The command line reports the errors that say the input is at fault (`UserError`) in one line with exit 2;
    a ValueError or OSError of our own code is a bug, and goes up with its traceback."""
    import distilbert_corpus.corpus
    from distilbert_cli.main import main

    assert main(["corpus", str(tmp_path), "--speakers", "99"]) == 2
    assert capsys.readouterr().err.strip() == "audio-distilbert: error: --speakers 99: expected 1..12 (0 with --mbrola-speakers)"

    def buggy(*args, **kwargs):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(distilbert_corpus.corpus, "build_corpus", buggy)
    with pytest.raises(ValueError, match="an internal inconsistency"):
        main(["corpus", str(tmp_path)])
