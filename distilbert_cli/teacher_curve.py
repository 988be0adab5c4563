"""Has a teacher converged? Its phone_linear curve over a pretraining run, and the continuation test.

    bash scripts/dev.sh exec python -m distilbert_cli.teacher_curve --run RUN --teacher-corpus CORPUS
        [--workdir .] [--every 2000] [--extra-steps N] [--seeds 3] [--json FILE]

RUN is the folder of a teacher's `audio-distilbert pretrain` (its `states-N.ckpt`), CORPUS the corpus it trained on
(`audio-distilbert corpus`). In WORKDIR this builds the demo's phone_linear corpus (same speakers and held-out voices,
checked) and its unseen-synthesizer test set, then:

- `points`: the checkpoints every `--every` steps and the last one, each exported and probed with phone_linear as the
  demo probes its models: `dev_acc` (the best dev accuracy, dev being utterances of the training speakers),
  `test_acc` (held-out voices) and `unseen_synthesizer_test_acc`; one phone_linear seed per point, `--seeds` at the
  last, and s3prl's `fbank` with `--seeds` for reference.
- `continuation`: the last checkpoint trained `--extra-steps` more (default: a quarter of its steps) with masked
  acoustic modelling on CORPUS, on a fresh schedule with the same runner and peak learning rate, probed with the
  same seeds as the last point. A schedule decaying to zero flattens any curve at its end, so this is the test:
  the teacher has converged when the continuation gains less than `CONVERGED_GAIN` of dev accuracy.

Every step is keyed like the demo's: a finished one is reused, an interrupted one resumes.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from upstream_distilbert.atomic import atomic_write_text
from upstream_distilbert.digest import file_digest
from upstream_distilbert.errors import InputError, MissingError
from upstream_distilbert.s3prl_states import read_states

from .curves import accuracies, control_configs
from .demo import (
    Upstream,
    export_step,
    make_plan,
    model_results,
    pretrain_and_export,
    speakers_corpus,
    unseen_synthesizer_corpus,
)
from .provenance import provenance
from .report import TEST_SETS, mean_std, on, paired, plus_minus
from .steps import Step

CONVERGED_GAIN = 0.003  # of dev accuracy (0.3 points), mean over the seeds


def checkpoints(run: Path, every: int) -> list[tuple[int, Path]]:
    """(steps, file) of the run's checkpoints whose steps are a multiple of `every`, and its last, by steps. Steps
    are read from each file: s3prl names the one it saves at the end of the run by its epoch (states-epoch-N)."""
    found = sorted((int(read_states(p)["Step"]), p) for p in run.glob("states-*.ckpt"))
    if not found:
        raise MissingError(f"{run}: no states-*.ckpt of a pretraining run there")
    return [(steps, path) for steps, path in found if steps % every == 0 or path == found[-1][1]]


def _point(steps: int, measured: dict) -> dict:
    """A curve point: dev and test accuracies (means, spreads, per seed)."""
    return ({"steps": steps, "dev_acc": measured["best_dev_acc"], "dev_acc_std": measured["best_dev_acc_std"],
             "dev_accs": measured["best_dev_accs"]} | accuracies(measured))


def continuation_entry(extra_steps: int, before: dict, after: dict) -> dict:
    """The continuation's figures, its dev gain over the end point seed by seed and whether that is below
    CONVERGED_GAIN."""
    gains = [a - b for a, b in zip(after["best_dev_accs"], before["best_dev_accs"])]
    gain, gain_std = mean_std(gains)
    return ({"extra_steps": extra_steps} | {k: v for k, v in _point(extra_steps, after).items() if k != "steps"}
            | {"dev_acc_before": before["best_dev_acc"], "dev_acc_before_std": before["best_dev_acc_std"],
               "dev_gain": gain, "dev_gain_std": gain_std, "dev_gains": gains, "converged": gain < CONVERGED_GAIN}
            | paired(after, before, "continuation", "end_point"))


def teacher_curve(workdir: Path, run: Path, teacher_corpus: Path, every: int, extra_steps: int | None,
                  seeds: int) -> dict:
    """Measure the points and the continuation (or read the finished ones); return the document."""
    plan = make_plan(seeds=seeds)
    corpus = speakers_corpus(workdir / "corpus", plan, plan.utterances_per_speaker)
    manifest = teacher_corpus / "corpus.json"
    if not manifest.is_file():
        raise MissingError(f"{manifest}: missing; --teacher-corpus takes a folder of `audio-distilbert corpus`")
    trained = json.loads(manifest.read_text())["held_out_voices"]
    if sorted(trained) != sorted(plan.test_voices):
        raise InputError(f"{manifest}: holds out voices {sorted(trained)}, expected the demo's {sorted(plan.test_voices)}")
    unseen = unseen_synthesizer_corpus(workdir, plan)
    fbank, _ = model_results(workdir, "fbank", Upstream("fbank"), plan, corpus, unseen)
    points, end = [], None
    found = checkpoints(run, every)
    for steps, states in found:
        ckpt = export_step(workdir / "exports" / f"teacher-{steps}", states)
        last = steps == found[-1][0]
        measured, _ = model_results(workdir, f"teacher-{steps}", Upstream("distilbert_local", ckpt),
                                    plan if last else replace(plan, seeds=1), corpus, unseen)
        points.append(_point(steps, measured) | {"states": {"file": states.name, "sha256": file_digest(states)}})
        end = (steps, ckpt, measured)
    steps, ckpt, before = end
    extra = extra_steps or steps // 4
    # The corpus is identified by its manifest; it is another command's folder, read here, never prepared.
    data = Step.of(teacher_corpus, kind="corpus", manifest=manifest)
    continued = pretrain_and_export(workdir, f"teacher-{steps}-continued-{extra}",
                                    control_configs(workdir, ckpt)["teacher_more_steps"], (extra,), data, teacher=ckpt)
    after, _ = model_results(workdir, f"teacher-{steps}-continued-{extra}", Upstream("distilbert_local", continued),
                             plan, corpus, unseen)
    return {"provenance": provenance(), "plan": {"every": every, "seeds": fbank["seeds"], "phone_steps": plan.phone_steps,
                                                 "test_voices": list(plan.test_voices)},
            "fbank": _point(0, fbank), "points": points, "continuation": continuation_entry(extra, before, after)}


def table(document: dict) -> str:
    """The curve and the continuation as plain text."""
    sets = [t for t in TEST_SETS if on(t, "test_acc") in document["fbank"]]
    rows = [f"{'steps':>8} {'seeds':>5} {'dev':>15} " + " ".join(f"{t:>20}" for t in sets)]
    for label, point in [("fbank", document["fbank"]), *((str(p["steps"]), p) for p in document["points"])]:
        rows.append(f"{label:>8} {len(point['seeds']):>5} {plus_minus(point['dev_acc'], point['dev_acc_std']):>15} "
                    + " ".join(f"{plus_minus(point[on(t, 'test_acc')], point[on(t, 'test_acc_std')]):>20}" for t in sets))
    c = document["continuation"]
    rows.append(f"continuation +{c['extra_steps']}: dev {plus_minus(c['dev_acc'], c['dev_acc_std'])}, gain "
                f"{plus_minus(c['dev_gain'], c['dev_gain_std'])} over the end point (paired): "
                + ("converged" if c["converged"] else f"not converged (gain >= {CONVERGED_GAIN})"))
    return "\n".join(rows)


def plot(document: dict, path: Path) -> Path:
    """Dev and test accuracies against pretraining steps, fbank's as dashed lines, the continuation as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    points, c, end = document["points"], document["continuation"], document["points"][-1]["steps"]
    for key, label, colour in (("dev_acc", "dev (training speakers)", "black"), ("test_acc", "held-out voices", "tab:blue"),
                               ("unseen_synthesizer_test_acc", "unseen synthesizer", "tab:orange")):
        if key not in document["fbank"]:
            continue
        ax.plot([p["steps"] for p in points], [p[key] for p in points], "o-", color=colour, label=label)
        ax.errorbar([end + c["extra_steps"]], [c[key]], yerr=[c[f"{key}_std"] or 0], fmt="s", color=colour, capsize=3)
        ax.axhline(document["fbank"][key], color=colour, linestyle="--", linewidth=0.8)
    ax.axvline(end, color="grey", linewidth=0.6)
    ax.set(xlabel="teacher pretraining steps (squares: continuation on a fresh schedule; dashed: fbank)",
           ylabel="phone_linear frame accuracy", title="teacher convergence")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a teacher's pretraining folder (states-N.ckpt)")
    parser.add_argument("--teacher-corpus", type=Path, required=True, help="the corpus that run trained on")
    parser.add_argument("--workdir", type=Path, default=Path("."), help="where the probes' steps go (default: .)")
    parser.add_argument("--every", type=int, default=2000, help="probe the checkpoints of every N steps (and the last)")
    parser.add_argument("--extra-steps", type=int, help="the continuation's steps (default: a quarter of the run's)")
    parser.add_argument("--seeds", type=int, default=3, help="phone_linear seeds of the last point, the continuation "
                                                             "and fbank")
    parser.add_argument("--json", type=Path, help="default: WORKDIR/teacher_curve.json (and its .png beside it)")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.every < 1:
        raise SystemExit(f"--every {args.every}: expected at least 1 step")
    document = teacher_curve(args.workdir.resolve(), args.run.resolve(), args.teacher_corpus.resolve(), args.every,
                             args.extra_steps, args.seeds)
    out = args.json or args.workdir / "teacher_curve.json"
    atomic_write_text(out, json.dumps(document, indent=2) + "\n")
    plot(document, out.with_suffix(".png"))
    print(table(document))


if __name__ == "__main__":
    main()
