"""The demo's figures over seeds: means, sample spreads, ratios with propagated spread, and the table."""
from __future__ import annotations

import math

import pytest

from distilbert_cli.report import mean_std, over_seeds, paired, ratio, table


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


def _model(accs: list[float], unseen: list[float] | None = None) -> dict:
    model = {"seeds": [1337, 1338, 1339][: len(accs)], **over_seeds([{"test_acc": a} for a in accs], "test_acc"),
             **over_seeds([{"best_dev_acc": a + 0.05} for a in accs], "best_dev_acc")}
    if unseen is not None:
        model |= over_seeds([{"unseen_synthesizer_test_acc": a} for a in unseen], "unseen_synthesizer_test_acc")
    return model


def test_paired_figures_are_per_seed_differences_and_ratios() -> None:
    """Student and teacher share each phone_linear seed: retention is the mean of per-seed ratios and its spread
    theirs, the difference likewise, so a seed that is hard for both does not count as noise."""
    student, teacher = _model([0.50, 0.60, 0.70], [0.3, 0.4, 0.5]), _model([0.48, 0.59, 0.66], [0.3, 0.4, 0.5])
    out = paired(student, teacher)
    assert out["retentions"] == pytest.approx([0.50 / 0.48, 0.60 / 0.59, 0.70 / 0.66])
    assert (out["retention"], out["retention_std"]) == pytest.approx(mean_std(out["retentions"]))
    held_out = out["paired"]["student_minus_teacher"]["held_out"]
    assert held_out["values"] == pytest.approx([0.02, 0.01, 0.04])
    assert (held_out["mean"], held_out["std"]) == pytest.approx((0.07 / 3, math.sqrt(0.00023333 / 1)), rel=1e-3)
    # far smaller than the spread of either model's accuracies (0.1): the pairing is what makes it a result
    assert held_out["std"] < 0.02 < student["test_acc_std"]
    assert out["unseen_synthesizer_retention"] == pytest.approx(1.0) and out["unseen_synthesizer_retention_std"] == 0
    assert "unseen_synthesizer_retention" not in paired(_model([0.5, 0.6]), _model([0.5, 0.6]))
    with pytest.raises(ValueError, match="same phone_linear seeds"):
        paired(_model([0.5, 0.6]), _model([0.5, 0.6, 0.7]))


def test_table_shows_mean_and_spread_and_the_unseen_column_only_when_measured() -> None:
    models = {"fbank": _model([0.567, 0.571, 0.575]),
              "teacher": _model([0.574, 0.58, 0.586]) | {"params": 2390528, "seconds_per_audio_second": 0.0071},
              "student": _model([0.548, 0.56, 0.572]) | {"params": 811008, "seconds_per_audio_second": 0.0031}}
    results = {"models": models, "size_ratio": 2.95, "speedup": 2.29} | paired(models["student"], models["teacher"])
    text = table(results)
    assert "0.580 ± 0.006" in text and "0.560 ± 0.012" in text and "2,390,528" in text
    assert "held-out speakers: retention 96.5 ± 1.1%, student minus teacher -0.020 ± 0.006 (per seed)" in text
    assert "over 3 phone_linear seed(s)" in text and "unseen" not in text
    for name, accs in (("fbank", [0.5, 0.5, 0.5]), ("teacher", [0.4, 0.41, 0.42]), ("student", [0.45, 0.45, 0.45])):
        models[name] |= _model(models[name]["test_accs"], accs)
    results |= paired(models["student"], models["teacher"])
    text = table(results)
    assert "unseen synthesizer" in text.splitlines()[0] and "0.450 ± 0.000" in text
    assert "unseen synthesizer: retention 109.8 ± 2.7%" in text


def test_an_error_rate_of_zero_gives_a_retention_or_says_it_has_none() -> None:
    """A student with no word (or phone) error on a seed: both perfect is a retention of 1, only the student perfect has no
    ratio (it used to be infinity, which made the spread raise)."""
    from distilbert_cli.demo import error_retentions
    from distilbert_cli.report import figure_of

    assert error_retentions([0.5, 0.0, 0.2], [0.25, 0.0, 0.0]) == [2.0, 1.0, None]
    assert figure_of({"r": None, "r_std": None}, "r", percent=True) == "undefined"


def test_the_headline_table_refuses_a_demo_and_curves_of_different_runs() -> None:
    """The README's headline sets demo.json beside curves.json: a demo.json whose student figures were edited (or
    made by another run), or one of another teacher file, is refused, naming both values."""
    import copy
    import json

    import pytest

    from distilbert_cli.tables import RESULTS, headline_table
    from upstream_distilbert.errors import InputError

    demo, curves = (json.loads((RESULTS / name).read_text()) for name in ("demo.json", "curves.json"))
    assert "| student" in headline_table(demo, curves)  # the committed pair is one run
    edited = copy.deepcopy(demo)
    edited["models"]["student"]["test_accs"][0] += 0.01
    with pytest.raises(InputError, match=r"reference student\.test_accs .* is not results/demo.json's"):
        headline_table(edited, curves)
    other = copy.deepcopy(demo)
    other["plan"]["teacher_sha256"], curves["plan"]["teacher_sha256"] = "a" * 64, "b" * 64
    with pytest.raises(InputError, match="plan.teacher_sha256 b{64}, results/demo.json has a{64}"):
        headline_table(other, curves)
