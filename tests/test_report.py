"""The demo's figures over seeds: means, sample spreads, ratios with propagated spread, and the table."""
from __future__ import annotations

import math

import pytest

from distilbert_cli.report import mean_std, over_seeds, ratio, table


def test_mean_and_sample_spread() -> None:
    assert mean_std([0.5, 0.6, 0.7]) == pytest.approx((0.6, 0.1))
    assert mean_std([0.57]) == (0.57, None)  # one seed: the spread is unknown, not zero


def test_over_seeds_keeps_each_run() -> None:
    runs = [{"test_acc": 0.2, "x": 1}, {"test_acc": 0.4, "x": 2}]
    summary = over_seeds(runs, "test_acc")
    assert summary.keys() == {"test_acc", "test_acc_std", "test_accs"} and summary["test_accs"] == [0.2, 0.4]
    assert (summary["test_acc"], summary["test_acc_std"]) == pytest.approx((0.3, math.sqrt(0.02)))


def test_ratio_propagates_relative_spreads() -> None:
    student = {"test_acc": 0.5, "test_acc_std": 0.03}
    teacher = {"test_acc": 0.6, "test_acc_std": 0.04}
    value, std = ratio(student, teacher, "test_acc")
    assert value == pytest.approx(5 / 6)
    assert std == pytest.approx(5 / 6 * math.sqrt((0.03 / 0.5) ** 2 + (0.04 / 0.6) ** 2))
    assert ratio({"test_acc": 0.5, "test_acc_std": None}, teacher, "test_acc") == (pytest.approx(5 / 6), None)


def _model(acc: float, std: float | None, unseen: float | None = None) -> dict:
    model = {"test_acc": acc, "test_acc_std": std, "test_accs": [acc] * 3, "best_dev_acc": acc + 0.05,
             "best_dev_acc_std": std}
    if unseen is not None:
        model |= {"unseen_engine_test_acc": unseen, "unseen_engine_test_acc_std": 0.002}
    return model


def test_table_shows_mean_and_spread_and_the_unseen_column_only_when_measured() -> None:
    results = {"models": {"fbank": _model(0.571, 0.004), "teacher": _model(0.58, 0.006) | {"params": 2390528,
               "seconds_per_audio_second": 0.0071}, "student": _model(0.56, 0.012) | {"params": 811008,
               "seconds_per_audio_second": 0.0031}},
               "retention": 0.9655, "retention_std": 0.0231, "size_ratio": 2.95, "speedup": 2.29}
    text = table(results)
    assert "0.580 ± 0.006" in text and "0.560 ± 0.012" in text and "2,390,528" in text
    assert "retention 0.966 ± 0.023" in text and "over 3 phone_linear seed(s)" in text
    assert "unseen" not in text
    for name, acc in (("fbank", 0.5), ("teacher", 0.4), ("student", 0.45)):
        results["models"][name] |= _model(results["models"][name]["test_acc"], 0.01, acc)
    results |= {"unseen_engine_retention": 1.125, "unseen_engine_retention_std": 0.01}
    text = table(results)
    assert "unseen engine" in text.splitlines()[0] and "0.450 ± 0.002" in text
    assert "on the unseen engine 1.125 ± 0.010" in text
