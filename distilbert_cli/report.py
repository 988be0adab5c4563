"""The demo's figures over several phone_linear seeds: means with their spread, the table, and results.png."""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from downstream_hooks.results import read_scalars, read_scores

MODELS = ("fbank", "teacher", "student")
COLOURS = {"fbank": "grey", "teacher": "tab:blue", "student": "tab:orange"}


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
    (independent errors: relative variances add)."""
    value = numerator[key] / denominator[key]
    stds = numerator[f"{key}_std"], denominator[f"{key}_std"]
    if None in stds:
        return value, None
    return value, value * math.hypot(stds[0] / numerator[key], stds[1] / denominator[key])


def plus_minus(mean: float, std: float | None, scale: float = 1.0, digits: int = 3) -> str:
    """`mean ± std` (each times `scale`, e.g. 100 for percent), or the mean alone where the spread is unknown."""
    return f"{mean * scale:.{digits}f}" + (f" ± {std * scale:.{digits}f}" if std is not None else "")


def table(results: dict) -> str:
    """The demo's summary: accuracies as mean ± std over the seeds, size and speed."""
    models = results["models"]
    unseen = "unseen_engine_test_acc" in models["fbank"]
    header = f"{'model':8} {'test acc':>15} {'dev acc':>15}" + (f" {'unseen engine':>15}" if unseen else "")
    rows = [header + f" {'params':>10} {'s/audio s':>9}"]
    for name in MODELS:
        m = models[name]
        cells = [plus_minus(m["test_acc"], m["test_acc_std"]), plus_minus(m["best_dev_acc"], m["best_dev_acc_std"])]
        if unseen:
            cells.append(plus_minus(m["unseen_engine_test_acc"], m["unseen_engine_test_acc_std"]))
        params = f"{m['params']:,}" if "params" in m else "-"
        speed = f"{m['seconds_per_audio_second']:.4f}" if "seconds_per_audio_second" in m else "-"
        rows.append(f"{name:8} " + " ".join(f"{c:>15}" for c in cells) + f" {params:>10} {speed:>9}")
    parts = [f"retention {plus_minus(results['retention'], results['retention_std'])}"]
    if unseen:
        parts.append(f"on the unseen engine {plus_minus(results['unseen_engine_retention'], results['unseen_engine_retention_std'])}")
    parts += [f"size ratio {results['size_ratio']:.2f}x", f"speedup {results['speedup']:.2f}x",
              f"mean ± std over {len(models['fbank']['test_accs'])} phone_linear seed(s)"]
    rows.append(", ".join(parts))
    for precision, entry in results.get("precisions", {}).items():
        if entry is None:
            rows.append(f"student {precision}: not supported by this CPU")
            continue
        rows.append(f"student {precision}: " + ", ".join(
            f"{label} {plus_minus(m['test_acc'], m['test_acc_std'])} ({m['minus_fp32']:+.3f}"
            + (f" ± {m['minus_fp32_std']:.3f}" if m["minus_fp32_std"] is not None else "") + " against fp32)"
            for label, m in (("same head", entry["same_head"]), ("retrained head", entry["retrained"]))))
    return "\n".join(rows)


def figure(workdir: Path, results: dict, seed_dirs: dict[str, Path]) -> Path:
    """results.png: the student's distillation curves, phone_linear's training curves (first seed), test
    accuracies with their spread over seeds, parameters and time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = results["models"]
    fig, axes = plt.subplots(1, 5, figsize=(21, 3.8))
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
    conditions = [("test_acc", "held-out speakers")]
    if "unseen_engine_test_acc" in models["fbank"]:
        conditions.append(("unseen_engine_test_acc", "unseen engine"))
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
    fig.tight_layout()
    path = workdir / "results.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
