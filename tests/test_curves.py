"""What distillation buys (distilbert_cli/curves.py): curve points against their reference, the controls paired
seed by seed with the student, their configs, the tables, and the demo folders it accepts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from distilbert_cli.curves import control_configs, control_point, curve_point, curves, probe_point, table
from distilbert_cli.report import over_seeds
from distilbert_pretrain.config import PretrainConfig


def _measured(accs: list[float], unseen: list[float] | None = None) -> dict:
    model = {"seeds": [1337, 1338, 1339], "best_dev_acc": 0.9, "best_dev_acc_std": 0.0, "best_dev_accs": [0.9] * 3,
             **over_seeds([{"test_acc": a} for a in accs], "test_acc")}
    if unseen is not None:
        model |= over_seeds([{"unseen_synthesizer_test_acc": a} for a in unseen], "unseen_synthesizer_test_acc")
    return model


def test_a_point_keeps_the_accuracies_and_their_ratio_to_the_reference() -> None:
    point = curve_point(4000, _measured([0.534, 0.54, 0.546], [0.33] * 3), _measured([0.547, 0.55, 0.553], [0.3] * 3))
    assert point["steps"] == 4000 and point["test_accs"] == pytest.approx([0.534, 0.54, 0.546])
    assert "best_dev_acc" not in point
    assert point["test_acc_over_reference"] == pytest.approx(0.54 / 0.55)
    assert point["unseen_synthesizer_test_acc_over_reference"] == pytest.approx(1.1)
    # independent errors: relative spreads add in quadrature (stds 0.006 and 0.003 over the seeds)
    assert point["test_acc_over_reference_std"] == pytest.approx((0.54 / 0.55) * ((0.006 / 0.54) ** 2 + (0.003 / 0.55) ** 2) ** 0.5)
    assert "unseen_synthesizer_test_acc_over_reference" not in curve_point(1200, _measured([0.5] * 3), _measured([0.6] * 3))


def test_a_control_holds_the_students_paired_difference_and_retention_against_it() -> None:
    student = _measured([0.66, 0.65, 0.67], [0.40, 0.41, 0.42])
    control = _measured([0.67, 0.66, 0.69], [0.42, 0.42, 0.43])
    point = control_point(1200, control, student, total_steps=1200)
    assert point["steps"] == point["total_steps"] == 1200 and point["test_accs"] == [0.67, 0.66, 0.69]
    held_out = point["paired"]["student_minus_control"]["held_out"]
    assert held_out["values"] == pytest.approx([-0.01, -0.01, -0.02])
    assert point["retention"] == pytest.approx(sum(s / c for s, c in zip([0.66, 0.65, 0.67], [0.67, 0.66, 0.69])) / 3)
    assert point["unseen_synthesizer_retention"] < 1


def test_the_tables_show_the_controls_and_the_teachers_layers() -> None:
    student = _measured([0.66, 0.65, 0.67], [0.40, 0.41, 0.42])
    teacher = _measured([0.64, 0.63, 0.64], [0.40, 0.40, 0.41])
    controls = {"teacher_more_steps": [control_point(1200, _measured([0.67, 0.66, 0.69], [0.42] * 3), student)],
                "scratch_equal_compute": [control_point(1200, _measured([0.5, 0.5, 0.5], [0.3] * 3), student)],
                "init_mam_only": [control_point(1200, _measured([0.65, 0.65, 0.65], [0.4] * 3), student)]}
    document = {"student_vs_teacher": [curve_point(1200, student, teacher)], "controls": controls,
                "reference": {"teacher": teacher},
                "teacher_layers": [_measured([0.6 + i / 100] * 3, [0.4] * 3) | {"layer": i, "best_dev_acc": 0.6}
                                   for i in range(4)]}
    text = table(document)
    assert "| N (held-out speakers) | student (N distillation steps) | control |" in text
    assert "| 1200 | 0.660 ± 0.010 | (a) the teacher trained N more MAM steps | 0.673 ± 0.015 | -0.013 ± 0.006 |" in text
    assert "(b) student-sized, MAM from scratch for the teacher's steps + N | 0.500 ± 0.000 | 0.160 ± 0.010 |" in text
    assert "| N (unseen synthesizer) |" in text
    assert "| hidden state 0 (input embedding) | 0.600 | 0.600 ± 0.000 | 0.400 ± 0.000 |" in text
    assert "| all hidden states (learned weighted sum) | - | 0.637 ± 0.006 | 0.403 ± 0.006 |" in text
    assert "| distillation steps |" not in text  # one student point: no curve


def test_the_distillation_steps_table_prints_the_paired_retention() -> None:
    """Students and teacher share each seed: the table's retention is the mean of per-seed ratios with their spread
    (here 100.0 ± 0.0%: every seed's student equals its teacher), not the ratio of means with propagated errors."""
    from distilbert_cli.report import paired

    teacher = _measured([0.60, 0.64, 0.68])
    points = [curve_point(steps, student, teacher) | paired(student, teacher)
              for steps, student in ((1200, _measured([0.60, 0.64, 0.68])), (2400, _measured([0.61, 0.65, 0.69])))]
    text = table({"student_vs_teacher": points})
    assert "| 1200 | 0.640 ± 0.040 | 100.0 ± 0.0% |" in text
    assert "| 2400 | 0.650 ± 0.040 |" in text


def test_a_probe_point_compares_teacher_with_fbank_and_student_with_teacher_seed_by_seed() -> None:
    measured = {"fbank": _measured([0.56, 0.57, 0.58], [0.35] * 3), "teacher": _measured([0.56, 0.565, 0.57], [0.33] * 3),
                "student": _measured([0.55, 0.55, 0.55], [0.32] * 3)}
    point = probe_point(3000, measured)
    assert point["phone_steps"] == 3000 and set(point["models"]) == {"fbank", "teacher", "student"}
    assert point["test_acc_teacher_over_fbank"] == pytest.approx(0.565 / 0.57)
    assert point["retention"] == pytest.approx((0.55 / 0.56 + 0.55 / 0.565 + 0.55 / 0.57) / 3)
    assert point["unseen_synthesizer_retention"] == pytest.approx(0.32 / 0.33)
    document = {"student_vs_teacher": [], "phone_linear_steps": [probe_point(1000, measured), point]}
    text = table(document)
    assert "| phone_linear steps (held-out speakers) | fbank | teacher | student |" in text
    assert "| 3000 | 0.570 ± 0.010 | 0.565 ± 0.005 | 0.550 ± 0.000 | 99.1 ± 1.9% | 97.4 ± 0.9% |" in text
    assert "(unseen synthesizer)" in text
    assert "phone_linear steps" not in table(document | {"phone_linear_steps": [point]})


def test_the_control_configs_are_the_demo_models_with_mam_only(tmp_path: Path) -> None:
    teacher = tmp_path / "teacher.ckpt"
    configs = {name: PretrainConfig.load(path) for name, path in control_configs(tmp_path, teacher).items()}
    more, scratch, init = configs["teacher_more_steps"], configs["scratch_equal_compute"], configs["init_mam_only"]
    assert more.model.transformer.num_hidden_layers == 3 and init.model.transformer.num_hidden_layers == 1
    assert scratch.model.transformer == init.model.transformer and scratch.teacher is None
    assert scratch.model.audio.feature_dim == 240  # the teacher's fbank with deltas, stated since no teacher gives it
    for config in (more, init):
        assert config.teacher.init_student and config.teacher.ckpt == str(teacher)
    for config in configs.values():
        d = config.distillation
        assert d.reconstruction_weight > 0 and d.prediction_weight == 0 and d.hidden_weight == 0


def test_curves_refuse_a_quick_demo(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"plan": {"quick": True, "seeds": 2}, "models": {}}))
    with pytest.raises(ValueError, match="quick demo"):
        curves(tmp_path, [4000])
