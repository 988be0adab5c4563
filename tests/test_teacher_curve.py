"""Has a teacher converged (distilbert_cli/teacher_curve.py): which checkpoints are probed, the continuation rule and
its figures, the table."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from distilbert_cli.report import over_seeds
from distilbert_cli.tables import teacher_curve_table
from distilbert_cli.teacher_curve import CONVERGED_GAIN, _point, checkpoints, continuation_entry


def _measured(dev: list[float], test: list[float]) -> dict:
    return {"seeds": [1337, 1338, 1339][: len(dev)], **over_seeds([{"best_dev_acc": d} for d in dev], "best_dev_acc"),
            **over_seeds([{"test_acc": t} for t in test], "test_acc")}


def test_the_probed_checkpoints_are_every_nth_step_and_the_last_by_the_steps_they_hold(tmp_path: Path) -> None:
    """s3prl names the checkpoint it writes at the end of a run by its epoch: the steps come from each file."""
    for name, step in (("states-500", 500), ("states-1000", 1000), ("states-1500", 1500), ("states-epoch-3", 1700)):
        torch.save({"Step": step}, tmp_path / f"{name}.ckpt")
    assert [(s, p.name) for s, p in checkpoints(tmp_path, 1000)] == [(1000, "states-1000.ckpt"),
                                                                     (1700, "states-epoch-3.ckpt")]
    with pytest.raises(FileNotFoundError, match="no states-"):
        checkpoints(tmp_path / "empty", 1000)


def test_the_continuation_is_judged_by_its_dev_gain_seed_by_seed() -> None:
    before = _measured([0.740, 0.745, 0.742], [0.60, 0.61, 0.60])
    still = continuation_entry(4000, before, _measured([0.745, 0.751, 0.749], [0.61, 0.61, 0.62]))
    assert still["dev_gains"] == pytest.approx([0.005, 0.006, 0.007]) and not still["converged"]
    assert still["dev_acc_before"] == pytest.approx(0.7423333) and still["extra_steps"] == 4000
    assert still["dev_acc"] == pytest.approx(0.74833333) and still["test_accs"] == [0.61, 0.61, 0.62]
    assert still["retention"] > 1  # the continuation against the end point, paired
    flat = continuation_entry(4000, before, _measured([0.741, 0.745, 0.743], [0.60, 0.61, 0.60]))
    assert flat["dev_gain"] == pytest.approx(0.000667, abs=1e-6) and flat["dev_gain"] < CONVERGED_GAIN
    assert flat["converged"]


def test_the_table_shows_each_point_and_the_verdict() -> None:
    fbank = _measured([0.61, 0.61, 0.62], [0.47, 0.48, 0.48])
    before = _measured([0.740, 0.745, 0.742], [0.60, 0.61, 0.60])
    document = {"provenance": {"command": "python -m distilbert_cli.teacher_curve --run r", "date": "2026-12-08",
                               "cpu": "AMD EPYC, 2 cores", "commit": "abc"},
                "fbank": _point(0, fbank), "points": [_point(2000, _measured([0.61], [0.52])), _point(16000, before)],
                "continuation": continuation_entry(4000, before, _measured([0.745, 0.751, 0.749], [0.61, 0.61, 0.62]))}
    text = teacher_curve_table(document)
    assert "| 2,000 | 0.610 | 0.520 |" in text and "| 16,000 | 0.742 ± 0.003 | 0.603 ± 0.006 |" in text
    assert "| 16,000 + 4,000 (continuation) | 0.748 ± 0.003 |" in text
    assert "changes dev accuracy by 0.60 ± 0.10 points, seed by seed: not below the 0.3 points" in text
