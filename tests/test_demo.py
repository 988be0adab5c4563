"""`audio-distilbert demo --quick` end to end: corpus, teacher, student, three phone_linear runs, timing."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .conftest import REPO, cli, run


def test_quick_demo_writes_sane_results(tmp_path: Path) -> None:
    proc = run([*cli(), "demo", "--workdir", str(tmp_path), "--quick"], timeout=900)
    assert "retention" in proc.stdout
    assert "schedule now ends at step 12 (runner.total_steps), not 8" in proc.stdout  # the teacher's 2nd phase
    results = json.loads((tmp_path / "results.json").read_text())
    models = results["models"]
    assert 0 <= models["fbank"]["test_acc"] <= 1
    for name in ("teacher", "student"):
        m = models[name]
        assert 0 <= m["test_acc"] <= 1 and m["params"] > 0 and m["seconds_per_audio_second"] > 0
    assert results["retention"] == models["student"]["test_acc"] / models["teacher"]["test_acc"]
    assert results["size_ratio"] == models["teacher"]["params"] / models["student"]["params"] > 1.5
    assert results["speedup"] > 0
    assert (tmp_path / "results.png").stat().st_size > 10_000
    assert (tmp_path / "teacher.ckpt").is_file() and (tmp_path / "student.ckpt").is_file()


def test_the_full_demo_distils_from_the_shipped_teacher(tmp_path: Path) -> None:
    """models/demo_teacher.ckpt is a weights-only student file of configs/pretrain/demo_teacher.yaml's shape, and
    the full demo picks it instead of training one."""
    from distilbert_pretrain.config import PretrainConfig
    from downstream_hooks.demo import FULL, SHIPPED_TEACHER, _teacher
    from upstream_distilbert import load_student

    torch.load(SHIPPED_TEACHER, weights_only=True)
    config = PretrainConfig.load(str(REPO / "configs" / "pretrain" / "demo_teacher.yaml")).model
    assert load_student(SHIPPED_TEACHER).config == config
    assert _teacher(tmp_path, FULL, tmp_path / "corpus") == SHIPPED_TEACHER
    assert not any(tmp_path.iterdir())  # nothing trained, nothing built
