"""The demo's figures over several phone_linear seeds: means with their spread, the table, and results.png."""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from downstream_hooks.results import read_scalars, read_scores

MODELS = ("fbank", "teacher", "student")
COLOURS = {"fbank": "grey", "teacher": "tab:blue", "student": "tab:orange"}
# The test sets, by name, and each one's accuracy key in results.json: the corpus's held-out speakers, and the
# speakers of a synthesizer no model heard, reading a vocabulary of their own.
TEST_SETS = ("held_out", "unseen_synthesizer")
LABELS = {"held_out": "held-out speakers", "unseen_synthesizer": "unseen synthesizer"}


def on(test_set: str, key: str) -> str:
    """results.json's name of `key` on a test set: as it is on the held-out speakers (`test_acc`, `retention`),
    prefixed on the others (`unseen_synthesizer_test_acc`)."""
    return key if test_set == "held_out" else f"{test_set}_{key}"


def sets_in(entry: dict, key: str) -> list[str]:
    """The test sets on which `entry` has `key`."""
    return [t for t in TEST_SETS if on(t, key) in entry]


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (None from a single value: its spread is unknown)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def over_seeds(runs: list[dict], key: str) -> dict:
    """`key` over the runs of one model: `key` (the mean), `key_std` and `key + "s"` (one per run, in order)."""
    values = [run[key] for run in runs]
    mean, std = mean_std(values)
    return {key: mean, f"{key}_std": std, f"{key}s": values}


def ratio(numerator: dict, denominator: dict, key: str) -> tuple[float, float | None]:
    """numerator[key] / denominator[key] of two means, and its standard deviation propagated from theirs
    (independent errors: relative variances add). For models measured with different probe seeds; where they
    share them, `paired` is the right measure."""
    value = numerator[key] / denominator[key]
    stds = numerator[f"{key}_std"], denominator[f"{key}_std"]
    if None in stds:
        return value, None
    return value, value * math.hypot(stds[0] / numerator[key], stds[1] / denominator[key])


def paired(model: dict, reference: dict, name: str = "student", reference_name: str = "teacher") -> dict:
    """`model` against `reference` seed by seed (they share each phone_linear seed), on every test set both have:
    `retention` (mean of the per-seed ratios model / reference), `retention_std`, `retentions`, prefixed by the test
    set except the held-out one (`unseen_synthesizer_retention`, ...), and `paired.<name>_minus_<reference_name>.
    <test set>.{mean, std, values}` (per-seed differences)."""
    if model["seeds"] != reference["seeds"]:
        raise ValueError(f"paired figures need the same phone_linear seeds: {model['seeds']} and {reference['seeds']}")
    out: dict = {"paired": {f"{name}_minus_{reference_name}": {}}}
    for test_set in TEST_SETS:
        key = on(test_set, "test_acc")
        if key not in model or key not in reference:
            continue
        ours, theirs = model[f"{key}s"], reference[f"{key}s"]
        differences = [a - b for a, b in zip(ours, theirs)]
        mean, std = mean_std(differences)
        out["paired"][f"{name}_minus_{reference_name}"][test_set] = {"mean": mean, "std": std, "values": differences}
        ratios = [a / b for a, b in zip(ours, theirs)]
        out[on(test_set, "retention")], out[on(test_set, "retention_std")] = mean_std(ratios)
        out[on(test_set, "retentions")] = ratios
    return out


def plus_minus(mean: float, std: float | None, scale: float = 1.0, digits: int = 3) -> str:
    """`mean ± std` (each times `scale`, e.g. 100 for percent), or the mean alone where the spread is unknown."""
    return f"{mean * scale:.{digits}f}" + (f" ± {std * scale:.{digits}f}" if std is not None else "")


def figure_of(entry: dict, key: str, percent: bool = False) -> str:
    """`entry[key]` ± `entry[key_std]`, as a percentage with one decimal where `percent`; "undefined" where the
    value has none (a retention whose every student error rate is 0 while the teacher's is not)."""
    if entry[key] is None:
        return "undefined"
    if percent:
        return plus_minus(entry[key], entry[f"{key}_std"], 100, 1) + "%"
    return plus_minus(entry[key], entry[f"{key}_std"])


def table(results: dict) -> str:
    """The demo's summary: accuracies as mean ± std over the seeds, size and speed, and the student against its
    teacher seed by seed."""
    models = results["models"]
    sets = sets_in(models["fbank"], "test_acc")
    header = f"{'model':8} " + " ".join(f"{LABELS[t]:>20}" for t in sets) + f" {'dev acc':>15}"
    rows = [header + f" {'params':>10} {'s/audio s':>9}"]
    for name in MODELS:
        m = models[name]
        cells = [f"{figure_of(m, on(t, 'test_acc')):>20}" for t in sets] + [f"{figure_of(m, 'best_dev_acc'):>15}"]
        params = f"{m['params']:,}" if "params" in m else "-"
        speed = f"{m['seconds_per_audio_second']:.4f}" if "seconds_per_audio_second" in m else "-"
        rows.append(f"{name:8} " + " ".join(cells) + f" {params:>10} {speed:>9}")
    for t in sets:
        diff = results["paired"]["student_minus_teacher"][t]
        rows.append(f"{LABELS[t]}: retention {figure_of(results, on(t, 'retention'), percent=True)}, "
                    f"student minus teacher {plus_minus(diff['mean'], diff['std'])} (per seed)")
    rows.append(f"size ratio {results['size_ratio']:.2f}x, speedup {results['speedup']:.2f}x, "
                f"mean ± std over {len(models['fbank']['test_accs'])} phone_linear seed(s)")
    for name, task in results.get("tasks", {}).items():
        rows += error_rate_table(name, task)
    for precision, entry in results.get("precisions", {}).items():
        if entry is None:
            rows.append(f"student {precision}: not supported by this CPU")
            continue
        rows.append(f"student {precision}: " + ", ".join(
            f"{label} {plus_minus(m['test_acc'], m['test_acc_std'])} ({m['minus_fp32']:+.3f}"
            + (f" ± {m['minus_fp32_std']:.3f}" if m["minus_fp32_std"] is not None else "") + " against fp32)"
            for label, m in (("same head", entry["same_head"]), ("retrained head", entry["retrained"]))))
    return "\n".join(rows)


def error_rate_table(name: str, task: dict) -> list[str]:
    """A CTC task's test error rates (fractions) per model and test set, and the retention of its metric."""
    models, metric, keys = task["models"], task["metric"], task["metrics"]
    sets = sets_in(models["fbank"], f"test_{metric}")
    rows = [f"{name:8} " + " ".join(f"{LABELS[t] + ' ' + ' / '.join(k.upper() for k in keys):>34}" for t in sets)]
    for model in MODELS:
        m = models[model]
        cells = [" / ".join(figure_of(m, on(t, f"test_{k}")) for k in keys) for t in sets]
        rows.append(f"{model:8} " + " ".join(f"{c:>34}" for c in cells))
    rows.append(f"{name} retention (teacher {metric.upper()} / student {metric.upper()}, per seed): " + ", ".join(
        f"{LABELS[t]} {figure_of(task, on(t, 'retention'), percent=True)}" for t in sets)
        + f"; {len(models['fbank']['seeds'])} {name} seed(s)")
    return rows


def figure(workdir: Path, results: dict, seed_dirs: dict[str, Path]) -> Path:
    """results.png: the student's distillation curves, phone_linear's training curves (first seed), test
    accuracies with their spread over seeds, parameters and time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = results["models"]
    tasks = results.get("tasks", {})
    ctc = next(iter(tasks), None)  # the first CTC task (PR where it ran)
    fig, axes = plt.subplots(1, 6 if ctc else 5, figsize=(25 if ctc else 21, 3.8))
    prefix = "distilbert/train-"
    for tag, curve in sorted(read_scalars(workdir / "pretrain" / "student").items()):
        name = tag.removeprefix(prefix)
        if tag.startswith(prefix) and name not in ("loss", "lr", "gradient-norm"):
            steps, values = zip(*sorted(curve.items()))
            axes[0].plot(steps, values, label=name)
    axes[0].set(title="student distillation objectives", xlabel="step", ylabel="loss")
    axes[0].legend(fontsize="small")
    for name in MODELS:
        steps, accs = zip(*sorted(read_scores(seed_dirs[name])["train"].items()))
        axes[1].plot(steps, accs, label=name, color=COLOURS[name])
    axes[1].set(title="phone_linear training accuracy (first seed)", xlabel="step", ylabel="frame accuracy")
    axes[1].legend()
    conditions = [(on(t, "test_acc"), LABELS[t]) for t in sets_in(models["fbank"], "test_acc")]
    width = 0.8 / len(MODELS)
    for i, name in enumerate(MODELS):
        m = models[name]
        axes[2].bar([c + (i - 1) * width for c in range(len(conditions))], [m[key] for key, _ in conditions], width,
                    yerr=[m[f"{key}_std"] or 0 for key, _ in conditions], capsize=3, label=name, color=COLOURS[name])
    axes[2].set_xticks(range(len(conditions)), [label for _, label in conditions])
    axes[2].set(title=f"test accuracy, mean ± std over {len(models['fbank']['test_accs'])} seed(s)")
    axes[2].legend(fontsize="small")
    pair = ["teacher", "student"]
    axes[3].bar(pair, [models[n]["params"] / 1e6 for n in pair], color=[COLOURS[n] for n in pair])
    axes[3].set(title=f"parameters, millions ({results['size_ratio']:.2f}x)")
    axes[4].bar(pair, [models[n]["seconds_per_audio_second"] * 1000 for n in pair], color=[COLOURS[n] for n in pair])
    axes[4].set(title=f"ms per audio second ({results['speedup']:.2f}x)")
    if ctc:
        task = tasks[ctc]
        metric = task["metric"]
        keys = [(on(t, f"test_{metric}"), LABELS[t]) for t in sets_in(task["models"]["fbank"], f"test_{metric}")]
        for i, name in enumerate(MODELS):
            m = task["models"][name]
            axes[5].bar([c + (i - 1) * width for c in range(len(keys))], [m[k] for k, _ in keys], width,
                        yerr=[m[f"{k}_std"] or 0 for k, _ in keys], capsize=3, label=name, color=COLOURS[name])
        axes[5].set_xticks(range(len(keys)), [label for _, label in keys])
        axes[5].set(title=f"{ctc} test {metric.upper()} (lower is better), {len(task['models']['fbank']['seeds'])} seed(s)")
        axes[5].legend(fontsize="small")
    fig.tight_layout()
    path = workdir / "results.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
