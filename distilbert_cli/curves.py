"""What more compute buys: retention against distillation steps, and a teacher's accuracy against its own steps.

    bash scripts/dev.sh exec python -m distilbert_cli.curves --workdir DEMO_WORKDIR \
        [--student-steps 4000 12000] [--teacher-states RUN/states-2000.ckpt ...] [--teacher-label RUN]
        [--phone-steps 3000] [--json FILE]

Runs on the folder of a finished full demo (`audio-distilbert demo --workdir DEMO_WORKDIR`) and measures every point
exactly as the demo measures its models: students distilled from the demo's teacher with the demo's student recipe
for more steps (the learning-rate schedule spans each run's own total), teacher checkpoints of any pretraining run
exported as they are; each then phone_linear with the demo's seeds, tested on the held-out speakers and on the
unseen-engine speakers. The demo's own figures (fbank, teacher, its student) are the reference and the first point
of the student curve. `--phone-steps` measures those three models again with longer phone_linear runs: whether the
demo's short probe has converged for each of them. A finished point is not run again, so an interrupted run continues.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from .demo import FULL, model_results, model_upstreams, pretrain_and_export, run_step, unseen_engine_corpus
from .report import MODELS, plus_minus, ratio
from upstream_distilbert.s3prl_states import read_states

_ACCURACIES = ("test_acc", "unseen_engine_test_acc")


def _accuracies(measured: dict) -> dict:
    """A model's accuracy figures (means, spreads, per seed), without its other results."""
    return {k: v for k, v in measured.items() if k.startswith(_ACCURACIES)}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def curve_point(steps: int, measured: dict, reference: dict) -> dict:
    """One curve point: its accuracies (mean, std, per seed) and their ratio to `reference` (mean ± std)."""
    point = {"steps": steps} | _accuracies(measured)
    for key in _ACCURACIES:
        if key in measured and key in reference:
            point[f"{key}_over_reference"], point[f"{key}_over_reference_std"] = ratio(measured, reference, key)
    return point


def probe_point(phone_steps: int, measured: dict[str, dict]) -> dict:
    """The demo's three models under one phone_linear length: their accuracies, the teacher's ratio to fbank and
    the student's to the teacher (retention), each mean ± propagated std."""
    point: dict = {"phone_steps": phone_steps, "models": {name: _accuracies(m) for name, m in measured.items()}}
    for key in _ACCURACIES:
        if all(key in m for m in measured.values()):
            for name, (top, bottom) in (("teacher_over_fbank", ("teacher", "fbank")),
                                        ("retention", ("student", "teacher"))):
                point[f"{key}_{name}"], point[f"{key}_{name}_std"] = ratio(measured[top], measured[bottom], key)
    return point


def curves(workdir: Path, student_steps: list[int], teacher_states: list[Path], teacher_label: str = "run",
           phone_steps: list[int] = ()) -> dict:
    """Measure the points (or read the finished ones) and return the curves document; a teacher point is named
    teacher-LABEL-STEPS in the workdir, so that runs with different labels keep apart."""
    demo = json.loads((workdir / "results.json").read_text())
    if demo["plan"]["quick"]:
        raise ValueError(f"{workdir}/results.json: a quick demo; the curves need the full demo's folder")
    plan = replace(FULL, seeds=demo["plan"]["seeds"])
    corpus, unseen = workdir / "corpus", unseen_engine_corpus(workdir, plan)
    models = demo["models"]
    students = [curve_point(plan.student_steps, models["student"], models["teacher"])]
    for steps in student_steps:
        name = f"student-{steps}"
        ckpt = pretrain_and_export(workdir, name, workdir / "student.yaml", (steps,), corpus, plan.student_lr)
        measured, _ = model_results(workdir, name, ["-u", "distilbert_local", "-k", str(ckpt)], plan, corpus, unseen)
        students.append(curve_point(steps, measured, models["teacher"]))
    teachers = []
    for states in teacher_states:
        steps = int(read_states(states)["Step"])
        name = f"teacher-{teacher_label}-{steps}"
        ckpt = workdir / f"{name}.ckpt"
        if not ckpt.is_file():
            run_step("export", str(states), "-o", str(ckpt), cwd=workdir)
        measured, _ = model_results(workdir, name, ["-u", "distilbert_local", "-k", str(ckpt)], plan, corpus, unseen)
        teachers.append(curve_point(steps, measured, models["fbank"]) | {"states": str(states)})
    probes = [probe_point(plan.phone_steps, models)]
    upstreams = model_upstreams(demo["plan"]["teacher_file"], workdir / "student.ckpt")
    for steps in phone_steps:
        longer = replace(plan, phone_steps=steps)
        probes.append(probe_point(steps, {name: model_results(workdir, f"{name}-phone{steps}", upstream, longer, corpus,
                                                              unseen)[0] for name, upstream in upstreams.items()}))
    return {"workdir": str(workdir), "seeds": demo["models"]["fbank"]["seeds"],
            "reference": {name: _accuracies(m) for name, m in models.items()},
            "student_vs_teacher": students, "teacher_run_vs_fbank": teachers, "phone_linear_steps": probes}


def table(document: dict) -> str:
    """Markdown tables of the curves (and of the phone_linear lengths, where more than the demo's was measured),
    accuracies and ratios as mean ± std over the seeds."""
    rows = []
    for key, title, ratio_name in (("student_vs_teacher", "distillation steps", "retention"),
                                   ("teacher_run_vs_fbank", "teacher steps", "over fbank")):
        if not document[key]:
            continue
        rows += [f"| {title} | held-out speakers | {ratio_name} | unseen engine | {ratio_name} (unseen) |",
                 "|---:|---:|---:|---:|---:|"]
        for p in document[key]:
            cells = [str(p["steps"])]
            for acc in _ACCURACIES:
                if acc in p:
                    cells.append(plus_minus(p[acc], p[f"{acc}_std"]))
                    cells.append(plus_minus(p[f"{acc}_over_reference"], p[f"{acc}_over_reference_std"], 100, 1) + "%")
                else:
                    cells += ["-", "-"]
            rows.append(_row(cells))
        rows.append("")
    if len(document.get("phone_linear_steps", [])) > 1:
        rows += _probe_table(document["phone_linear_steps"])
    return "\n".join(rows)


def _probe_table(points: list[dict]) -> list[str]:
    rows = []
    for key, where in ((k, w) for k, w in zip(_ACCURACIES, ("held-out speakers", "unseen engine"))
                       if f"{k}_retention" in points[0]):
        rows += [f"| phone_linear steps ({where}) | fbank | teacher | student | teacher / fbank | retention |",
                 "|---:|---:|---:|---:|---:|---:|"]
        for p in points:
            cells = [str(p["phone_steps"])]
            cells += [plus_minus(p["models"][m][key], p["models"][m][f"{key}_std"]) for m in MODELS]
            cells += [plus_minus(p[f"{key}_{r}"], p[f"{key}_{r}_std"], 100, 1) + "%" for r in ("teacher_over_fbank", "retention")]
            rows.append(_row(cells))
        rows.append("")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a finished full demo's folder")
    parser.add_argument("--student-steps", type=int, nargs="*", default=[4000, 12000])
    parser.add_argument("--teacher-states", type=Path, nargs="*", default=[],
                        help="states-N.ckpt files of a teacher's pretraining run")
    parser.add_argument("--teacher-label", default="run",
                        help="names the teacher points (teacher-LABEL-STEPS); one label per pretraining run")
    parser.add_argument("--phone-steps", type=int, nargs="*", default=[],
                        help="phone_linear lengths besides the demo's, for fbank, the teacher and the student alike")
    parser.add_argument("--json", type=Path, help="default: WORKDIR/curves.json")
    args = parser.parse_args()
    document = curves(args.workdir.resolve(), args.student_steps, args.teacher_states, args.teacher_label,
                      args.phone_steps)
    (args.json or args.workdir / "curves.json").write_text(json.dumps(document, indent=2) + "\n")
    print(table(document))


if __name__ == "__main__":
    main()
