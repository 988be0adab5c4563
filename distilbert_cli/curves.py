"""What distillation buys, against controls at equal compute, and what more compute buys.

    bash scripts/dev.sh exec python -m distilbert_cli.curves --workdir DEMO_WORKDIR [--controls] [--teacher-layers]
        [--student-steps 4000 ...] [--teacher-states RUN/states-2000.ckpt ...] [--teacher-label RUN]
        [--phone-steps 3000] [--json FILE]

Runs on the folder of a finished full demo (`audio-distilbert demo --workdir DEMO_WORKDIR`) and measures every point
exactly as the demo measures its models (phone_linear with the demo's seeds, tested on the held-out speakers and on
the unseen synthesizer), so each point is paired seed by seed with the demo's student and teacher:

- `--student-steps`: students distilled with the demo's recipe for more steps (the schedule spans each run).
- `--controls`, for the demo's student and each of those points of N distillation steps:
  (a) `teacher_more_steps`: the teacher itself trained N more steps of masked acoustic modelling (MAM) with the
      student's data, runner and learning rate (demo_teacher.yaml's model initialised from the teacher file);
  (b) `scratch_equal_compute`: a student-sized model (demo_student.yaml's shape) trained from scratch with MAM as the
      teacher was (its corpus, runner and learning rate) for the teacher's steps plus N;
  (c) `init_mam_only`: the student initialised from the teacher like the demo's, trained N steps with MAM only (no
      prediction or hidden-state distillation).
  Each control point holds the student's paired difference to it and the student's retention against it.
- `--teacher-layers`: the teacher probed on each hidden state alone (s3prl's `-l`) beside the learned weighted sum.
- `--teacher-states`: checkpoints of any teacher pretraining run, exported as they are (teacher-LABEL-STEPS).
- `--phone-steps`: the demo's three models under longer phone_linear runs (has the short probe converged?).

The control configs are derived from configs/pretrain/demo_teacher.yaml and demo_student.yaml and written to the
workdir. A finished point is reused and an interrupted one resumes (the demo's keyed steps).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import yaml
from distilbert_configs import config_path

from upstream_distilbert.atomic import atomic_write_text
from upstream_distilbert.digest import file_digest
from upstream_distilbert.errors import InputError
from upstream_distilbert.s3prl_states import read_states

from .demo import (
    Plan,
    Upstream,
    export_step,
    make_plan,
    model_results,
    model_upstreams,
    plan_file,
    pretrain_and_export,
    speakers_corpus,
    student_config,
    unseen_synthesizer_corpus,
)
from .provenance import provenance, relative
from .report import (
    LABELS,
    MODELS,
    TEST_SETS,
    figure_of,
    on,
    paired,
    plus_minus,
    ratio,
    sets_in,
)

CONTROLS = {
    "teacher_more_steps": "(a) the teacher trained N more MAM steps",
    "scratch_equal_compute": "(b) student-sized, MAM from scratch for the teacher's steps + N",
    "init_mam_only": "(c) student initialised from the teacher, N MAM steps, no distillation",
}
_MAM_ONLY = {"reconstruction_weight": 1.0, "prediction_weight": 0.0, "hidden_weight": 0.0}


def accuracies(measured: dict) -> dict:
    """A model's accuracy figures (means, spreads, per seed), without its other results."""
    return {k: v for k, v in measured.items() if k.startswith(tuple(on(t, "test_acc") for t in TEST_SETS))
            or k == "seeds"}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def curve_point(steps: int, measured: dict, reference: dict) -> dict:
    """One curve point: its accuracies (mean, std, per seed) and their ratio to `reference` (mean ± std)."""
    point = {"steps": steps} | accuracies(measured)
    for key in (on(t, "test_acc") for t in TEST_SETS):
        if key in measured and key in reference:
            point[f"{key}_over_reference"], point[f"{key}_over_reference_std"] = ratio(measured, reference, key)
    return point


def control_point(steps: int, measured: dict, student: dict, **extra: object) -> dict:
    """A control of N = `steps` steps: its accuracies, and the student of N distillation steps against it, seed
    by seed (`paired.student_minus_control`, `retention` = student / control)."""
    return {"steps": steps, **extra} | accuracies(measured) | paired(student, measured, "student", "control")


def probe_point(phone_steps: int, measured: dict[str, dict]) -> dict:
    """The demo's three models under one phone_linear length: their accuracies, the teacher's ratio to fbank
    (independent seeds' spread) and the student's to the teacher (paired)."""
    point: dict = {"phone_steps": phone_steps, "models": {name: accuracies(m) for name, m in measured.items()}}
    for key in (on(t, "test_acc") for t in TEST_SETS):
        if all(key in m for m in measured.values()):
            point[f"{key}_teacher_over_fbank"], point[f"{key}_teacher_over_fbank_std"] = ratio(
                measured["teacher"], measured["fbank"], key)
    return point | paired(measured["student"], measured["teacher"])


def control_configs(workdir: Path, teacher: Path) -> dict[str, Path]:
    """The three controls' model configs (`-g`), derived from the demo's teacher and student configs."""
    teacher_config = yaml.safe_load(config_path("pretrain", "demo_teacher.yaml").read_text())
    student = yaml.safe_load(config_path("pretrain", "demo_student.yaml").read_text())
    init = {"expert": "distilbert_local", "ckpt": str(teacher), "init_student": True}
    configs = {
        "teacher_more_steps": teacher_config | {"teacher": init, "distillation": _MAM_ONLY},
        "scratch_equal_compute": student | {"audio": teacher_config["audio"], "teacher": None,
                                            "distillation": {"reconstruction_weight": 1.0}},
        "init_mam_only": student | {"teacher": init, "distillation": _MAM_ONLY},
    }
    return {name: atomic_write_text(workdir / f"control-{name}.yaml", yaml.safe_dump(config))
            for name, config in configs.items()}


def _controls(workdir: Path, plan: Plan, corpus, unseen, teacher: Path, points: dict[int, dict]) -> dict:
    """The three controls at each student point (steps -> the student's measured figures)."""
    configs = control_configs(workdir, teacher)
    teacher_corpus = speakers_corpus(workdir / "teacher-corpus", plan, plan.teacher_utterances_per_speaker)
    teacher_steps = plan.teacher_steps[-1]  # the shipped teacher's recipe, or the demo's --retrain-teacher run
    out: dict = {name: [] for name in CONTROLS}
    for steps, student in sorted(points.items()):
        runs = {
            "teacher_more_steps": ((steps,), corpus, plan.student_lr),
            "scratch_equal_compute": ((teacher_steps + steps,), teacher_corpus, None),
            "init_mam_only": ((steps,), corpus, plan.student_lr),
        }
        for name, (total, data, lr) in runs.items():
            run = f"control-{name}-{steps}"
            ckpt = pretrain_and_export(workdir, run, configs[name], total, data, lr, teacher=teacher)
            measured, _ = model_results(workdir, run, Upstream("distilbert_local", ckpt), plan, corpus, unseen)
            out[name].append(control_point(steps, measured, student, total_steps=total[0]))
    return out


def curves(workdir: Path, student_steps: list[int], controls: bool = False, teacher_layers: bool = False,
           teacher_states: list[Path] = (), teacher_label: str = "run", phone_steps: list[int] = ()) -> dict:
    """Measure the points (or read the finished ones) and return the curves document."""
    demo = json.loads((workdir / "results.json").read_text())
    if demo["plan"]["quick"]:
        raise InputError(f"{workdir}/results.json: a quick demo; the curves need the full demo's folder")
    plan = make_plan(seeds=demo["plan"]["seeds"], text=demo["plan"]["text"])
    corpus = speakers_corpus(workdir / "corpus", plan, plan.utterances_per_speaker)
    unseen = unseen_synthesizer_corpus(workdir, plan)
    teacher = plan_file(workdir, demo, "teacher")
    for name in ("teacher", "student"):  # the files the demo measured, not whatever sits at their paths now
        path, recorded = plan_file(workdir, demo, name), demo["plan"].get(f"{name}_sha256")
        if recorded and (digest := file_digest(path)) != recorded:
            raise InputError(f"{path}: sha256 {digest}, not the {recorded} that {workdir}/results.json "
                             f"measured as its {name}; rerun the demo there first")
    models = demo["models"]
    students = [curve_point(plan.student_steps, models["student"], models["teacher"])
                | paired(models["student"], models["teacher"])]
    measured_students = {plan.student_steps: models["student"]}
    for steps in student_steps:
        name = f"student-{steps}"
        ckpt = pretrain_and_export(workdir, name, student_config(workdir, teacher), (steps,), corpus,
                                   plan.student_lr, teacher=teacher)
        measured, _ = model_results(workdir, name, Upstream("distilbert_local", ckpt), plan, corpus, unseen)
        measured_students[steps] = measured
        students.append(curve_point(steps, measured, models["teacher"]) | paired(measured, models["teacher"]))
    document: dict = {"provenance": provenance(), "workdir": relative(workdir), "seeds": models["fbank"]["seeds"],
                      "plan": demo["plan"], "reference": {name: accuracies(m) for name, m in models.items()},
                      "student_vs_teacher": students}
    if controls:
        document["controls"] = _controls(workdir, plan, corpus, unseen, teacher, measured_students)
    if teacher_layers:
        document["teacher_layers"] = _teacher_layers(workdir, plan, corpus, unseen, teacher)
    document["teacher_run_vs_fbank"] = _teacher_points(workdir, plan, corpus, unseen, teacher_states, teacher_label,
                                                       models["fbank"])
    probes = [probe_point(plan.phone_steps, models)]
    upstreams = model_upstreams(teacher, plan_file(workdir, demo, "student"))
    for steps in phone_steps:
        longer = replace(plan, phone_steps=steps)
        probes.append(probe_point(steps, {name: model_results(workdir, f"{name}-phone{steps}", upstream, longer,
                                                              corpus, unseen)[0]
                                          for name, upstream in upstreams.items()}))
    document["phone_linear_steps"] = probes
    return document


def _teacher_layers(workdir: Path, plan: Plan, corpus, unseen, teacher: Path) -> list[dict]:
    """The teacher probed on each hidden state alone (0 = input embedding), with its best-dev accuracy."""
    from upstream_distilbert import load_student

    layers = load_student(teacher).config.transformer.num_hidden_layers + 1
    points = []
    for layer in range(layers):
        measured, _ = model_results(workdir, f"teacher-layer{layer}", Upstream("distilbert_local", teacher), plan,
                                    corpus, unseen, layer=layer)
        points.append({"layer": layer, "best_dev_acc": measured["best_dev_acc"]} | accuracies(measured))
    return points


def _teacher_points(workdir: Path, plan: Plan, corpus, unseen, teacher_states: list[Path], label: str,
                    fbank: dict) -> list[dict]:
    points = []
    for states in teacher_states:
        steps = int(read_states(states)["Step"])
        name = f"teacher-{label}-{steps}"
        ckpt = export_step(workdir / "exports" / name, states)
        measured, _ = model_results(workdir, name, Upstream("distilbert_local", ckpt), plan, corpus, unseen)
        points.append(curve_point(steps, measured, fbank) | {"states": relative(states, workdir)})
    return points


def _cell(point: dict, key: str, percent: bool = False) -> str:
    return figure_of(point, key, percent) if key in point else "-"


def _sets(points: list[dict]) -> list[str]:
    """The test sets every point has."""
    return [t for t in TEST_SETS if all(t in sets_in(p, "test_acc") for p in points)]


def _ratio_table(title: str, ratio_name: str, points: list[dict], first_cell, ratio_key=None) -> list[str]:
    """Rows of points with accuracies and their ratio to a reference, per test set: `ratio_key(test set)` names it
    (default: the ratio of means, `<acc>_over_reference`)."""
    ratio_key = ratio_key or (lambda t: on(t, "test_acc") + "_over_reference")
    sets = _sets(points)
    rows = [_row([title, *(LABELS[t] for t in sets), *(f"{ratio_name} ({LABELS[t]})" for t in sets)]),
            "|---:" * (1 + 2 * len(sets)) + "|"]
    for p in points:
        rows.append(_row([first_cell(p), *(_cell(p, on(t, "test_acc")) for t in sets),
                          *(_cell(p, ratio_key(t), percent=True) for t in sets)]))
    return rows + [""]


def table(document: dict) -> str:
    """Markdown tables of every measured part: accuracies and ratios as mean ± std over the seeds."""
    rows: list[str] = []
    if len(document["student_vs_teacher"]) > 1:
        # the students and the teacher share each phone_linear seed: the retention is the paired per-seed ratio
        rows += _ratio_table("distillation steps", "retention", document["student_vs_teacher"], lambda p: str(p["steps"]),
                             lambda t: on(t, "retention"))
    if "controls" in document:
        rows += controls_table(document)
    if "teacher_layers" in document:
        rows += teacher_layers_table(document)
    if document.get("teacher_run_vs_fbank"):
        rows += _ratio_table("teacher steps", "over fbank", document["teacher_run_vs_fbank"], lambda p: str(p["steps"]))
    if len(document.get("phone_linear_steps", [])) > 1:
        rows += _probe_table(document["phone_linear_steps"])
    return "\n".join(rows)


def controls_table(document: dict) -> list[str]:
    """The student against each control, per test set: accuracies, the paired difference and the retention."""
    rows = []
    students = {p["steps"]: p for p in document["student_vs_teacher"]}
    for t in _sets(document["student_vs_teacher"]):
        key = on(t, "test_acc")
        rows += [_row([f"N ({LABELS[t]})", "student (N distillation steps)", "control", "control's accuracy",
                       "student minus control (paired)", "student / control"]), "|---:|---:|---|---:|---:|---:|"]
        for name, label in CONTROLS.items():
            for p in document["controls"][name]:
                diff = p["paired"]["student_minus_control"][t]
                rows.append(_row([str(p["steps"]), _cell(students[p["steps"]], key), label, _cell(p, key),
                                  plus_minus(diff["mean"], diff["std"]), _cell(p, on(t, "retention"), percent=True)]))
        rows.append("")
    return rows


def teacher_layers_table(document: dict) -> list[str]:
    """The teacher probed on each hidden state alone, beside the learned weighted sum of all of them."""
    layers = document["teacher_layers"]
    sets = _sets(layers)
    rows = [_row(["teacher probed on", "best dev", *(LABELS[t] for t in sets)]), "|---" + "|---:" * (1 + len(sets)) + "|"]
    reference = document["reference"]["teacher"]
    rows.append(_row(["all hidden states (learned weighted sum)", "-", *(_cell(reference, on(t, "test_acc")) for t in sets)]))
    for p in layers:
        rows.append(_row([f"hidden state {p['layer']}" + (" (input embedding)" if p["layer"] == 0 else ""),
                          f"{p['best_dev_acc']:.3f}", *(_cell(p, on(t, "test_acc")) for t in sets)]))
    return rows + [""]


def _probe_table(points: list[dict]) -> list[str]:
    rows = []
    for t in _sets([p["models"]["fbank"] for p in points]):
        key = on(t, "test_acc")
        rows += [_row([f"phone_linear steps ({LABELS[t]})", *MODELS, "teacher / fbank", "retention (paired)"]),
                 "|---:|---:|---:|---:|---:|---:|"]
        for p in points:
            rows.append(_row([str(p["phone_steps"]), *(_cell(p["models"][m], key) for m in MODELS),
                              _cell(p, f"{key}_teacher_over_fbank", percent=True),
                              _cell(p, on(t, "retention"), percent=True)]))
        rows.append("")
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="a finished full demo's folder")
    parser.add_argument("--student-steps", type=int, nargs="*", default=[],
                        help="distillation steps of further students (the demo's own is always the first point)")
    parser.add_argument("--controls", action="store_true",
                        help="the three controls at equal compute at every student point")
    parser.add_argument("--teacher-layers", action="store_true", help="the teacher probed on each hidden state alone")
    parser.add_argument("--teacher-states", type=Path, nargs="*", default=[],
                        help="states-N.ckpt files of a teacher's pretraining run")
    parser.add_argument("--teacher-label", default="run",
                        help="names the teacher points (teacher-LABEL-STEPS); one label per pretraining run")
    parser.add_argument("--phone-steps", type=int, nargs="*", default=[],
                        help="phone_linear lengths besides the demo's, for fbank, the teacher and the student alike")
    parser.add_argument("--json", type=Path, help="default: WORKDIR/curves.json")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    document = curves(args.workdir.resolve(), args.student_steps, args.controls, args.teacher_layers,
                      args.teacher_states, args.teacher_label, args.phone_steps)
    atomic_write_text(args.json or args.workdir / "curves.json", json.dumps(document, indent=2) + "\n")
    print(table(document))


if __name__ == "__main__":
    main()
