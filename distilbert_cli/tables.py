"""The accuracy tables of the README and the docs, made from the committed result files under `results/`.

    bash scripts/dev.sh exec python -m distilbert_cli.tables [--check] [FILE ...]

Each table sits between `<!-- results:NAME:start -->` and `<!-- results:NAME:end -->` in a Markdown file; this
rewrites every such block from `results/*.json` (default files: README.md, models/README.md and docs/**/*.md), or
with `--check` exits 1 naming the files whose blocks differ. A result file is the `results.json` of a demo or the
`curves.json` of `distilbert_cli.curves`, copied here as it was written: each records the command, date, commit and
CPU that made it.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from upstream_distilbert.atomic import atomic_write_text
from upstream_distilbert.errors import InputError, MissingError

from .curves import controls_table, teacher_layers_table
from .report import LABELS, MODELS, figure_of, on, plus_minus, sets_in

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
_BLOCK = re.compile(r"(<!-- results:(?P<name>[\w-]+):start -->\n).*?(<!-- results:(?P=name):end -->)", re.S)
NAMES = {"fbank": "s3prl `fbank` (80 log-mel + deltas)", "teacher": "teacher", "student": "student"}


def _read(name: str) -> dict:
    path = RESULTS / name
    if not path.is_file():
        raise MissingError(f"{path}: no such result file")
    return json.loads(path.read_text())


def source_line(document: dict, file: str) -> str:
    """Where a table's figures come from: the file, and the command, date, CPU and commit that made it."""
    p = document["provenance"]
    commit = (p["commit"] or "no git checkout")[:12]
    return f"From `results/{file}`: `{p['command']}`, {p['date'][:10]}, {p['cpu']}, commit {commit}."


def _size(model: dict) -> str:
    """The parameters and time cells of a model that has them."""
    return f"{model['params']:,} | {model['seconds_per_audio_second']:.4f}" if "params" in model else "- | -"


def _model_rows(entries: list[tuple[str, dict, str]], sets: list[str]) -> list[str]:
    """A Markdown table of models (label, figures, size cells) with their test accuracy on each test set."""
    rows = ["| model | " + " | ".join(LABELS[t] for t in sets) + " | parameters | seconds per audio second |",
            "|---" + "|---:" * (len(sets) + 2) + "|"]
    for label, model, size in entries:
        rows.append(f"| {label} | " + " | ".join(figure_of(model, on(t, "test_acc")) for t in sets) + f" | {size} |")
    return rows


def demo_table(document: dict, file: str = "demo.json") -> str:
    """The demo's models on every test set, their size and speed, and the student against its teacher."""
    models = document["models"]
    sets = sets_in(models["fbank"], "test_acc")
    plan = document["plan"]
    rows = [source_line(document, file) + f" phone_linear test accuracy, mean ± std over {plan['seeds']} seeds "
            f"({', '.join(map(str, models['fbank']['seeds']))}); text: {plan['text']}.", "",
            *_model_rows([(NAMES[name], models[name], _size(models[name])) for name in MODELS], sets)]
    rows += ["", "Student against teacher, seed by seed: " + "; ".join(
        f"{LABELS[t]} retention {figure_of(document, on(t, 'retention'), percent=True)}, difference "
        f"{plus_minus(document['paired']['student_minus_teacher'][t]['mean'], document['paired']['student_minus_teacher'][t]['std'])}"
        for t in sets) + f"; {document['size_ratio']:.2f}x fewer parameters, {document['speedup']:.2f}x the speed."]
    return "\n".join(rows)


def check_same_models(demo: dict, curves: dict) -> None:
    """Refuse to set a curves file beside a demo file made from other models or figures: the curves' teacher and
    student digests (where both record them) and their reference accuracies must be the demo's."""
    for key in ("teacher_sha256", "student_sha256"):
        ours, theirs = demo["plan"].get(key), curves["plan"].get(key)
        if ours and theirs and ours != theirs:
            raise InputError(f"results/curves.json was measured on plan.{key} {theirs}, results/demo.json has {ours}: "
                             "they are of different models; rerun the curves on the demo's folder")
    for name, model in demo["models"].items():
        for key, values in model.items():
            if key.endswith("test_accs") and curves["reference"].get(name, {}).get(key, values) != values:
                raise InputError(f"results/curves.json's reference {name}.{key} {curves['reference'][name][key]} is "
                                 f"not results/demo.json's {values}: the files are of different demo runs")


def headline_table(demo: dict, curves: dict) -> str:
    """The README's table: the demo's models with control (a), the teacher trained as long as the student, beside
    them, and the student's retention against both, seed by seed (`check_same_models` first)."""
    check_same_models(demo, curves)
    models, plan = demo["models"], demo["plan"]
    (control,) = [p for p in curves["controls"]["teacher_more_steps"] if p["steps"] == plan["student_steps"]]
    sets = sets_in(models["fbank"], "test_acc")
    steps = plan["teacher_steps"][-1]
    entries = [(NAMES["fbank"], models["fbank"], "- | -"),
               (f"teacher ({steps} MAM steps, shipped)", models["teacher"], _size(models["teacher"])),
               (f"teacher + {plan['student_steps']} more MAM steps (control a)", control, "same as the teacher | -"),
               (f"student ({plan['student_steps']} distillation steps)", models["student"], _size(models["student"]))]
    rows = [source_line(demo, "demo.json") + " " + source_line(curves, "curves.json")
            + f" phone_linear frame accuracy, mean ± std over seeds {', '.join(map(str, models['fbank']['seeds']))}.",
            "", *_model_rows(entries, sets)]
    rows += ["", "Student retention, seed by seed: " + "; ".join(
        f"{LABELS[t]} {figure_of(demo, on(t, 'retention'), percent=True)} of the teacher, "
        f"{figure_of(control, on(t, 'retention'), percent=True)} of the teacher trained as long (control a)"
        for t in sets) + f"; {demo['size_ratio']:.2f}x fewer parameters, {demo['speedup']:.2f}x the speed."]
    return "\n".join(rows)


TASKS = {"asr": "s3prl's asr (`asr_small.yaml`, {steps} steps, greedy CTC, no language model)",
         "pr": "SUPERB phoneme recognition through s3prl's ctc (`pr_small.yaml`, {steps} steps, linear)"}


def error_rate_table(document: dict, name: str, file: str = "demo.json") -> str:
    """A CTC task of the demo (TASKS): each model's test error rates (percent), and the student against the teacher
    seed by seed on the first of them: retention (teacher / student) and, where recorded, the difference."""
    task = document["tasks"][name]
    models = task["models"]
    metrics = [k[len("test_"):-len("_std")] for k in models["fbank"] if k.startswith("test_") and k.endswith("_std")]
    sets = sets_in(models["fbank"], f"test_{metrics[0]}")
    upper = [m.upper() for m in metrics]
    rows = [source_line(document, file) + " " + TASKS[name].format(steps=document["plan"][f"{name}_steps"])
            + f", test {' and '.join(upper)} in percent, mean ± std over {len(models['fbank']['seeds'])} seeds.", "",
            "| model | " + " | ".join(f"{m} ({LABELS[t]})" for t in sets for m in upper) + " |",
            "|---" + "|---:" * (len(metrics) * len(sets)) + "|"]
    for model in MODELS:
        m = models[model]
        rows.append(f"| {NAMES[model]} | " + " | ".join(
            plus_minus(m[on(t, f"test_{k}")], m[on(t, f"test_{k}_std")], 100, 1) for t in sets for k in metrics) + " |")
    diff = task.get("paired", {}).get("student_minus_teacher", {})
    rows += ["", f"Student against teacher, seed by seed (retention = teacher {upper[0]} / student {upper[0]}; above "
             "100%: the student errs less): " + "; ".join(
                 f"{LABELS[t]} {figure_of(task, on(t, 'retention'), percent=True)}"
                 + (f", difference {plus_minus(diff[t]['mean'], diff[t]['std'], 100, 1)} points" if t in diff else "")
                 for t in sets) + "."]
    return "\n".join(rows)


def precisions_table(document: dict, file: str = "demo.json") -> str:
    """The student at bf16 and int8: its fp32 heads on those features, and heads trained on them."""
    fp32 = document["models"]["student"]
    rows = [source_line(document, file) + " Held-out speakers; differences to fp32 are means ± std of the per-seed "
            "differences, in points.", "",
            "| student | fp32 head on these features | minus fp32 | head trained on these features | minus fp32 |",
            "|---|---:|---:|---:|---:|", f"| fp32 | {figure_of(fp32, 'test_acc')} | | | |"]
    for precision, entry in document["precisions"].items():
        if entry is None:
            rows.append(f"| {precision} | not supported by the CPU | | | |")
            continue
        cells = [f"{figure_of(entry[h], 'test_acc')} | {plus_minus(entry[h]['minus_fp32'], entry[h]['minus_fp32_std'], 100, 2)}"
                 for h in ("same_head", "retrained")]
        rows.append(f"| {precision} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def teacher_curve_table(document: dict, file: str = "teacher_curve.json") -> str:
    """A teacher's phone_linear curve over its pretraining steps (dev of the training speakers, both test sets), and
    the continuation that tests its convergence, its dev gain paired seed by seed."""
    sets = sets_in(document["fbank"], "test_acc")
    rows = [source_line(document, file) + " phone_linear frame accuracy; one seed (1337) per point, "
            f"{len(document['points'][-1]['seeds'])} at the last point, the continuation and fbank (mean ± std).", "",
            "| pretraining steps | dev (training speakers) | " + " | ".join(LABELS[t] for t in sets) + " |",
            "|---:" * (2 + len(sets)) + "|"]
    c = document["continuation"]
    end = document["points"][-1]["steps"]
    labelled = [("s3prl `fbank`", document["fbank"]), *((f"{p['steps']:,}", p) for p in document["points"]),
                (f"{end:,} + {c['extra_steps']:,} (continuation)", c)]
    for label, point in labelled:
        rows.append(f"| {label} | {figure_of(point, 'dev_acc')} | "
                    + " | ".join(figure_of(point, on(t, "test_acc")) for t in sets) + " |")
    verdict = ("below" if c["converged"] else "not below") + " the 0.3 points that count as converged"
    rows += ["", f"The continuation ({c['extra_steps']:,} more steps on a fresh schedule, same peak learning rate) "
             f"changes dev accuracy by {plus_minus(c['dev_gain'] * 100, (c['dev_gain_std'] or 0) * 100, digits=2)} "
             f"points, seed by seed: {verdict}."]
    return "\n".join(rows)


def _curves(render: Callable[[dict], list[str]]) -> Callable[[], str]:
    def table() -> str:
        document = _read("curves.json")
        return "\n".join([source_line(document, "curves.json") + " Means ± std over phone_linear seeds "
                          f"{', '.join(map(str, document['seeds']))}.", "", *render(document)]).rstrip()
    return table


TABLES: dict[str, Callable[[], str]] = {
    "headline": lambda: headline_table(_read("demo.json"), _read("curves.json")),
    "demo": lambda: demo_table(_read("demo.json")),
    **{name: (lambda name=name: error_rate_table(_read("demo.json"), name)) for name in TASKS},
    "precisions": lambda: precisions_table(_read("demo.json")),
    "controls": _curves(controls_table),
    "teacher-layers": _curves(teacher_layers_table),
    "teacher-curve": lambda: teacher_curve_table(_read("teacher_curve.json")),
}


def render(text: str, where: str) -> str:
    """`text` with every results block rewritten."""
    def block(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise InputError(f"{where}: unknown results block {name!r} (known: {', '.join(TABLES)})")
        return f"{match[1]}{TABLES[name]()}\n{match[3]}"

    return _BLOCK.sub(block, text)


def default_files() -> list[Path]:
    return [REPO / "README.md", REPO / "models" / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md, docs/**/*.md)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block differs")
    args = parser.parse_args(argv)
    stale = []
    for path in args.files or default_files():
        text = path.read_text()
        new = render(text, str(path))
        if new != text:
            stale.append(str(path))
            if not args.check:
                atomic_write_text(path, new)
    if args.check and stale:
        print(f"results tables out of date in {', '.join(stale)}: run python -m distilbert_cli.tables", file=sys.stderr)
        return 1
    print(("checked " if args.check else "rewrote the results tables of ") + (", ".join(stale) or "nothing to change"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
