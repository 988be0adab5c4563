"""Shared fixtures: tiny real models written as real student files, and a runner for real subprocesses."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from upstream_distilbert import AudioDistilBert, ModelConfig, TransformerConfig, save_student

REPO = Path(__file__).resolve().parents[1]
# `scripts/dev.sh test` runs one pytest-xdist worker per core: then each worker, and every process it starts,
# keeps to one torch thread, so that the workers never fight over the cores.
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
os.environ["OMP_NUM_THREADS"] = str(THREADS)
torch.set_num_threads(THREADS)


# The longest files go first: with `--no-loadscope-reorder` (scripts/dev.sh) pytest-xdist's loadfile scheduler
# hands out files in collection order; by its default order (most tests first) the one-test wheel file (5 minutes)
# came last and ran alone while the other worker idled. The wheel goes to one worker, the docs (a README quick start
# of 1.5 minutes) and the tutorial (2.5) to the other, and the many short files fill in behind them.
LONGEST_FIRST = ("test_wheel.py", "test_docs.py", "test_notebook.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: the rest keep their order


@pytest.fixture
def private_s3prl(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the installed s3prl package that this test's subprocesses import instead (PYTHONPATH): tests that
    install into s3prl (`s3prl install`, the literal run_*.py commands) do it there, so that a killed test run never
    leaves the shared environment's s3prl patched for later runs and clones. Returns the copy's package folder."""
    from downstream_hooks.registration import s3prl_dir

    site = tmp_path_factory.mktemp("site")
    shutil.copytree(s3prl_dir(), site / "s3prl", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    return site / "s3prl"


def require_mbrola(speakers: int = 3) -> None:
    """Skip a test that needs espeak-ng + MBROLA where they are missing, saying so; where the test command runs
    (`bash scripts/dev.sh test` installs them and sets AUDIO_DISTILBERT_REQUIRE_MBROLA=1), fail instead."""
    from distilbert_corpus import synthesizers

    try:
        synthesizers.check_installed(synthesizers.make_speakers(0, speakers))
    except FileNotFoundError as missing:
        if os.environ.get("AUDIO_DISTILBERT_REQUIRE_MBROLA"):
            raise
        pytest.skip(f"needs espeak-ng + MBROLA, which plain pytest does not install ({missing}); "
                    "`bash scripts/dev.sh test` installs them and runs this test")


def tiny_config(**transformer: object) -> ModelConfig:
    """A model small enough for tests: 2 layers x 32 wide, 4 heads."""
    shape = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    shape.update(transformer)
    return ModelConfig(transformer=TransformerConfig(**shape))


@pytest.fixture(scope="session")
def student_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_student(AudioDistilBert(tiny_config()), tmp_path_factory.mktemp("student") / "student.ckpt")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """12 utterances of the built-in corpus (3 speakers), and the pretraining datarc that reads them."""
    from distilbert_corpus.corpus import build_corpus

    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root, speakers=3, utterances_per_speaker=4, test_voices=1)
    return {"libri_root": str(root / "LibriSpeech"), "file_path": str(root / "len_for_bucket"),
            "sets": ["train-clean-100"], "train_batch_size": 4, "max_timestep": 0, "num_workers": 0}


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def runner_config(tmp_path: Path, datarc: dict, steps: int, save: int, accumulate: int = 1) -> Path:
    """small_runner.yaml for `steps` steps, saving every `save`, logging every step, reading `datarc`."""
    config = yaml.safe_load((REPO / "configs" / "pretrain" / "small_runner.yaml").read_text())
    config["runner"].update(total_steps=steps, save_step=save, log_step=1, gradient_accumulate_steps=accumulate)
    config["pretrain_expert"]["datarc"] = datarc
    return write_yaml(tmp_path / "runner.yaml", config)


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 600, threads: int = THREADS) -> subprocess.CompletedProcess:
    """Run a command to completion (each process with `threads` torch threads); fail the test with its output if
    it exits non-zero."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    return proc


def cli() -> list[str]:
    """The installed `audio-distilbert` console script of this environment."""
    return [str(Path(sys.executable).with_name("audio-distilbert"))]


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` (no caches), to prove a folder is byte for byte unchanged."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
