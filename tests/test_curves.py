"""What more compute buys (distilbert_cli/curves.py): curve points against their reference, the table, and the demo
folders it accepts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from distilbert_cli.curves import curve_point, curves, probe_point, table


def _measured(acc: float, std: float, unseen: float | None = None) -> dict:
    model = {"test_acc": acc, "test_acc_std": std, "test_accs": [acc - std, acc, acc + std], "best_dev_acc": 0.9,
             "best_dev_acc_std": 0.0, "last_step": 1000}
    if unseen is not None:
        model |= {"unseen_engine_test_acc": unseen, "unseen_engine_test_acc_std": 0.01,
                  "unseen_engine_test_accs": [unseen] * 3}
    return model


def test_a_point_keeps_the_accuracies_and_their_ratio_to_the_reference() -> None:
    point = curve_point(4000, _measured(0.54, 0.006, 0.33), _measured(0.55, 0.003, 0.3))
    assert point["steps"] == 4000 and point["test_accs"] == pytest.approx([0.534, 0.54, 0.546])
    assert "best_dev_acc" not in point and "last_step" not in point
    assert point["test_acc_over_reference"] == pytest.approx(0.54 / 0.55)
    assert point["unseen_engine_test_acc_over_reference"] == pytest.approx(1.1)
    assert point["test_acc_over_reference_std"] > 0
    # no unseen-engine figures on either side: no unseen ratio
    assert "unseen_engine_test_acc_over_reference" not in curve_point(1200, _measured(0.5, 0.01), _measured(0.6, 0.01))


def test_the_table_shows_each_curve_with_mean_and_spread() -> None:
    teacher = _measured(0.55, 0.003, 0.33)
    document = {"student_vs_teacher": [curve_point(1200, _measured(0.539, 0.007, 0.324), teacher),
                                       curve_point(4000, _measured(0.551, 0.004, 0.331), teacher)],
                "teacher_run_vs_fbank": []}
    text = table(document)
    assert "| distillation steps |" in text and "teacher steps" not in text
    assert "| 1200 | 0.539 ± 0.007 | 98.0 ± 1.4% | 0.324 ± 0.010 |" in text
    assert "| 4000 | 0.551 ± 0.004 | 100.2 ± 0.9% |" in text


def test_a_probe_point_compares_teacher_with_fbank_and_student_with_teacher() -> None:
    measured = {"fbank": _measured(0.57, 0.008, 0.35), "teacher": _measured(0.565, 0.004, 0.33),
                "student": _measured(0.55, 0.005, 0.32)}
    point = probe_point(3000, measured)
    assert point["phone_steps"] == 3000 and set(point["models"]) == {"fbank", "teacher", "student"}
    assert "best_dev_acc" not in point["models"]["teacher"]
    assert point["test_acc_teacher_over_fbank"] == pytest.approx(0.565 / 0.57)
    assert point["test_acc_retention"] == pytest.approx(0.55 / 0.565)
    assert point["unseen_engine_test_acc_retention"] == pytest.approx(0.32 / 0.33)
    assert point["test_acc_retention_std"] > 0
    # the probe table needs the demo's own length beside the longer one, and shows each condition measured
    document = {"student_vs_teacher": [], "teacher_run_vs_fbank": [],
                "phone_linear_steps": [probe_point(1000, measured | {"teacher": _measured(0.55, 0.003, 0.33)}), point]}
    text = table(document)
    assert "| phone_linear steps (held-out speakers) | fbank | teacher | student |" in text
    assert "| 3000 | 0.570 ± 0.008 | 0.565 ± 0.004 | 0.550 ± 0.005 | 99.1 ± 1.6% | 97.3 ± 1.1% |" in text
    assert "| 1000 | 0.570 ± 0.008 | 0.550 ± 0.003 |" in text and "(unseen engine)" in text
    assert "phone_linear steps" not in table(document | {"phone_linear_steps": [point]})


def test_curves_refuse_a_quick_demo(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"plan": {"quick": True, "seeds": 2}, "models": {}}))
    with pytest.raises(ValueError, match="quick demo"):
        curves(tmp_path, [4000], [])
