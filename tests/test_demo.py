"""The demo's pieces: the shipped teacher, resuming an interrupted pretraining step. (The quick demo runs end to end
from an installed wheel in test_wheel.)"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .conftest import REPO, write_yaml
from .test_pretrain import TINY


def test_the_full_demo_distils_from_the_shipped_teacher(tmp_path: Path) -> None:
    """models/demo_teacher.ckpt is a weights-only student file of configs/pretrain/demo_teacher.yaml's shape, and
    the full demo picks it instead of training one."""
    from distilbert_pretrain.config import PretrainConfig
    from distilbert_cli.demo import FULL, SHIPPED_TEACHER, _teacher
    from upstream_distilbert import load_student

    torch.load(SHIPPED_TEACHER, weights_only=True)
    config = PretrainConfig.load(str(REPO / "configs" / "pretrain" / "demo_teacher.yaml")).model
    assert load_student(SHIPPED_TEACHER).config == config
    assert _teacher(tmp_path, FULL, tmp_path / "corpus") == SHIPPED_TEACHER
    assert not any(tmp_path.iterdir())  # nothing trained, nothing built


def test_an_interrupted_pretraining_step_resumes_from_its_last_checkpoint(corpus: dict, tmp_path: Path,
                                                                           capfd: pytest.CaptureFixture) -> None:
    """A demo whose pretraining run stopped short of its steps (a kill during step 3 leaves the checkpoint of
    step 2 as the newest) continues that run from its newest states-*.ckpt instead of starting it again."""
    from distilbert_cli.demo import pretrain_and_export
    from upstream_distilbert.s3prl_states import read_states

    root = Path(corpus["libri_root"]).parent
    model = write_yaml(tmp_path / "model.yaml", TINY)
    expdir = tmp_path / "pretrain" / "teacher"
    pretrain_and_export(tmp_path, "teacher", model, (2,), root)
    (tmp_path / "teacher.ckpt").unlink()
    newest = max(expdir.glob("states-*.ckpt"), key=lambda p: p.stat().st_mtime)
    assert read_states(newest)["Step"] == 2
    capfd.readouterr()
    student = pretrain_and_export(tmp_path, "teacher", model, (4,), root)
    out = capfd.readouterr().out
    assert f"[demo] audio-distilbert pretrain -e {newest}" in out
    assert "Start a new experiment" not in out
    assert max(read_states(p)["Step"] for p in expdir.glob("states-*.ckpt")) == 4 and student.is_file()
