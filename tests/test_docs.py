"""The documentation: the Sphinx site builds with warnings as errors (broken internal links included), the README is
short, its links resolve and its quick start runs as written, every results table is what the committed result
files produce, and the model card's figures are the demo's."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from downstream_hooks.registration import s3prl_dir

from .conftest import REPO, cli, run

README = REPO / "README.md"


def test_the_docs_build_with_warnings_as_errors(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
                           str(REPO / "docs"), str(tmp_path / "html")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    pages = {p.relative_to(tmp_path / "html").as_posix() for p in (tmp_path / "html").rglob("*.html")}
    for page in ("index.html", "installation.html", "tutorial.html", "reference/cli.html", "reference/api.html",
                 "experiments/results.html", "troubleshooting.html", "model-card.html", "changelog.html"):
        assert page in pages
    api = (tmp_path / "html" / "reference" / "api.html").read_text()
    assert "ExpertOptions" in api and "OnnxEncoder" in api and "load_student" in api  # autodoc found them


def _links(markdown: str) -> list[str]:
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", markdown) if "://" not in target]


def test_the_readme_is_short_and_every_link_in_it_resolves() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    for target in _links(text):
        assert (REPO / target.split("#")[0]).exists(), target
    for required in ("docs/installation.md", "docs/reference/api.md", "docs/troubleshooting.md",
                     "docs/experiments/results.md", "docs/guides/distilling.md"):
        assert required in _links(text)


def test_nothing_refers_to_files_a_user_does_not_have() -> None:
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True).stdout.split()
    for name in tracked:
        path = REPO / name
        if path.resolve() == Path(__file__).resolve():
            continue  # this test names the strings it looks for
        if path.suffix in (".md", ".py", ".yaml", ".toml", ".sh", ".cff") and path.is_file():
            text = path.read_text()
            assert "DESIGN.md" not in text and "../shared" not in text, name


def test_every_results_table_is_what_the_result_files_produce() -> None:
    from distilbert_benchmarks import report
    from distilbert_cli import tables

    assert tables.main(["--check"]) == 0
    page = (REPO / "docs" / "experiments" / "benchmarks.md").read_text()
    assert f"{report.START}\n{report.render()}\n{report.END}" in page
    for name in ("demo.json", "curves.json"):
        document = json.loads((REPO / "results" / name).read_text())
        assert {"command", "date", "commit", "cpu"} <= set(document["provenance"])


def test_the_model_cards_figures_are_the_demos() -> None:
    card = (REPO / "models" / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    demo = json.loads((REPO / "results" / "demo.json").read_text())["models"]["teacher"]
    figures = {r["dataset"]["name"]: r["metrics"][0]["value"] for r in header["model-index"][0]["results"]}
    assert header["license"] == "apache-2.0" and len(figures) == 2
    for name, value in figures.items():
        key = "unseen_synthesizer_test_acc" if "unseen" in name else "test_acc"
        assert value == round(demo[key], 3), name


def test_the_readmes_quick_start_runs_as_written(tmp_path: Path) -> None:
    """The commands of "Distil your own", in a folder holding the checkout's configs: a teacher, a student
    distilled from it, both exported; the student loads through s3prl's hub entry."""
    section = README.read_text().split("## Distil your own", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in section.replace("\\\n", " ").splitlines()]
    commands = [c for c in commands if c]
    assert any(c.startswith("audio-distilbert corpus") for c in commands)
    (tmp_path / "configs").symlink_to(REPO / "configs")
    for command in commands:
        assert command.startswith("audio-distilbert "), command
        run([*cli(), *command.split()[1:]], cwd=tmp_path)
    from upstream_distilbert.hubconf import distilbert_local

    student = distilbert_local(ckpt=str(tmp_path / "student.ckpt"))
    assert student.model.config.transformer.num_hidden_layers == 1
    # both pretraining runs read the training speakers only, never a held-out voice
    import pandas as pd

    from upstream_distilbert.s3prl_states import newest_states, read_states

    corpus = tmp_path / "corpus"
    held_out = set(json.loads((corpus / "corpus.json").read_text())["held_out"])
    for run_name in ("teacher", "student"):
        datarc = read_states(newest_states(tmp_path / "result" / "pretrain" / run_name))["Config"]["pretrain_expert"]["datarc"]
        root = tmp_path / datarc["file_path"]
        read = {int(Path(f).stem.split("-")[0]) for name in datarc["sets"]
                for f in pd.read_csv(root / f"{name}.csv")["file_path"]}
        assert held_out and read and not read & held_out, (run_name, sorted(read), sorted(held_out))


def _documented_commands() -> list[tuple[str, list[str]]]:
    """(file, argv after `audio-distilbert`) of every command in the bash blocks of the README and the docs."""
    import shlex

    found = []
    for page in [README, *sorted((REPO / "docs").rglob("*.md")), REPO / "models" / "README.md"]:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line.split(" #")[0], posix=True) if not line.lstrip().startswith("#") else []
                if "audio-distilbert" in words:
                    found.append((page.name, words[words.index("audio-distilbert") + 1:]))
    return found


def _s3prl_parser(module: str, function: str):
    """The argparse parser that s3prl's run_*.py builds (captured when it parses), its choice lists dropped where
    they depend on the working folder."""
    import argparse
    import importlib

    from downstream_hooks.registration import expose_s3prl_top_level

    class Captured(Exception):
        pass

    def capture(self, *args, **kwargs):
        raise Captured(self)

    expose_s3prl_top_level()
    script = importlib.import_module(module)
    real = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = capture
    try:
        getattr(script, function)()
    except Captured as captured:
        parser = captured.args[0]
    finally:
        argparse.ArgumentParser.parse_args = real
    for action in parser._actions:
        if action.dest in ("upstream",):
            action.choices = None
    return parser


def test_every_documented_command_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each `audio-distilbert ...` line of the README, the docs and models/README parses with our argparse, or for
    `downstream`/`pretrain` with s3prl's own run_*.py parser (less the flags we add): a flag that does not exist,
    or a missing required one, fails it."""
    from distilbert_cli.main import build_parser

    commands = _documented_commands()
    assert len(commands) > 20 and any(argv[:1] == ["downstream"] for _, argv in commands)
    monkeypatch.chdir(s3prl_dir())  # run_pretrain.py lists its tasks in ./pretrain
    parsers = {"downstream": _s3prl_parser("s3prl.run_downstream", "get_downstream_args"),
               "pretrain": _s3prl_parser("run_pretrain", "get_pretrain_args")}
    ours, failed = build_parser(), []
    for page, argv in commands:
        if argv[:1] in (["downstream"], ["pretrain"]):
            rest = [a for a in argv[1:] if a != "--trust-pickle"]
            if "--feature-cache" in rest:
                i = rest.index("--feature-cache")
                rest = rest[:i] + rest[i + 2:]
            parse = parsers[argv[0]].parse_args
        else:
            rest, parse = argv, ours.parse_args
        try:
            parse(rest)
        except SystemExit:
            failed.append(f"{page}: audio-distilbert {' '.join(argv)}")
    assert not failed, "documented commands that do not parse:\n" + "\n".join(failed)


def test_no_committed_result_or_page_names_a_folder_of_the_machine_that_made_it() -> None:
    """Result files, the pages that quote them and the notebook's stored outputs record paths relative to the work
    folder and commands as typed: none names a home, work or temporary folder (`/root/...`, `/work/...`)."""
    machine = re.compile(r"(?<![\w.~-])/(?:work|root|home|tmp|check)/\S*")
    files = [README, REPO / "models" / "README.md", REPO / "notebooks" / "tutorial.ipynb",
             *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "results").glob("*.json"))]
    found = {str(f.relative_to(REPO)): sorted(set(machine.findall(f.read_text())))[:3] for f in files}
    assert not {f: paths for f, paths in found.items() if paths}
