"""Render benchmarks/results/*.json as the README's figures table (between its bench markers).

    bash scripts/dev.sh exec python -m distilbert_benchmarks.report [--write docs/experiments/benchmarks.md]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .run_all import RESULTS

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _speed_rows(speed: dict) -> list[str]:
    names = {"teacher": "teacher", "student": "student", "s3prl_mockingjay_at_student_size": "s3prl Mockingjay, student size"}
    rows = ["| model | parameters | GFLOP per audio second | seconds per audio second (10 s, batch 1) | "
            "encoder GFLOP/s | peak memory MiB (30 s, batch 8) |", "|---|---:|---:|---:|---:|---:|"]
    for key, label in names.items():
        m = speed[key]
        peak = next((r["peak_memory_mib"] for r in m["runs"] if r["seconds"] == 30.0 and r["batch"] == 8), None)
        rows.append(f"| {label} | {m['params']:,} | {m['gflops_per_audio_second']:.2f} | "
                    f"{m['seconds_per_audio_second']:.4f} | {m['encoder_gflops_per_second']:.1f} | "
                    f"{'-' if peak is None else f'{peak:.0f}'} |")
    return rows


def _ratio_at(speed: dict, seconds: float, batch: int) -> float:
    """How many times faster the student upstream is than s3prl's Mockingjay at its size, at one point."""
    def at(name: str) -> float:
        return next(r["seconds_per_audio_second"] for r in speed[name]["runs"]
                    if (r["seconds"], r["batch"]) == (seconds, batch))

    return at("s3prl_mockingjay_at_student_size") / at("student")


def _training_line(training: dict, label: str) -> str:
    return (f"- training{label} (batch {training['batch']} x {training['frames']} frames): distillation step "
            f"{training['distillation_steps_per_second']:.2f} steps/s ({training['distillation_gemm_share']:.0%} of the "
            f"GEMM rate), the teacher's masked-acoustic-modelling step {training['teacher_mam_steps_per_second']:.2f} "
            f"({training['teacher_mam_gemm_share']:.0%}), s3prl's Mockingjay pretraining at the teacher's size "
            f"{training['s3prl_mockingjay_pretraining_steps_per_second']:.2f} "
            f"({training['s3prl_mockingjay_pretraining_gemm_share']:.0%})")


def _speed_cells(times: dict[int, float], reference: dict[int, float]) -> str:
    """Seconds per audio second at batch 1 and 8, then the speed against `reference` at each."""
    return (f"{times[1]:.4f} | {times[8]:.4f} | "
            f"{reference[1] / times[1]:.2f}x / {reference[8] / times[8]:.2f}x")


def _precision_rows(speed: dict) -> list[str]:
    """The student expert at each precision (10 s inputs, in chunks as in use) and under ONNX Runtime (whole)."""
    fp32 = {r["batch"]: r["seconds_per_audio_second"] for r in speed["precisions"]["fp32"]["runs"]}
    rows = ["| student, 10 s inputs | s per audio s, batch 1 | batch 8 | speed against torch fp32 (batch 1 / 8) | "
            "time in linear layers / attention / rest (batch 8) |", "|---|---:|---:|---:|---:|"]
    for precision, m in speed["precisions"].items():
        if m is None:
            rows.append(f"| torch {precision} | not supported by this CPU | | | |")
            continue
        runs = {r["batch"]: r["seconds_per_audio_second"] for r in m["runs"]}
        shares = " / ".join(f"{m['time_shares'][k]:.0%}" for k in ("linear", "attention", "other"))
        rows.append(f"| torch {precision} | {_speed_cells(runs, fp32)} | {shares} |")
    onnx = speed["onnx"]["runs"]
    column = {key: {r["batch"]: r[key] for r in onnx} for key in onnx[0] if key.endswith("seconds_per_audio_second")}
    rows.append(f"| ONNX Runtime fp32 (whole inputs; max abs difference {speed['onnx']['max_abs_diff']:.1e}) | "
                f"{_speed_cells(column['seconds_per_audio_second'], column['torch_fp32_whole_seconds_per_audio_second'])}"
                " torch fp32 on the same whole inputs | |")
    rows.append("| ONNX Runtime int8 (its dynamic quantization of the weights; whole inputs) | "
                f"{_speed_cells(column['int8_seconds_per_audio_second'], fp32)} | |")
    return rows


def _checkpointing_rows(doc: dict) -> list[str]:
    rows = [f"| {doc['model']}, one training step, batch {doc['batch']} | peak MiB without / with gradient "
            "checkpointing | seconds without / with | memory ratio | time ratio |", "|---|---:|---:|---:|---:|"]
    for frames, point in doc["frames"].items():
        off, on = point["off"], point["on"]
        rows.append(f"| {frames} frames | {off['peak_memory_mib']:.0f} / {on['peak_memory_mib']:.0f} | "
                    f"{off['seconds']:.2f} / {on['seconds']:.2f} | {point['memory_ratio']:.2f} | "
                    f"{point['time_ratio']:.2f} |")
    return rows


def render(results: Path = RESULTS) -> str:
    speed = json.loads((results / "speed.json").read_text())
    training = json.loads((results / "training.json").read_text())
    scaling = json.loads((results / "scaling.json").read_text())
    lines = [f"Measured by `python -m distilbert_benchmarks.run_all` ({speed['threads']} threads; weights: "
             f"{speed['weights']}); regenerate this table with `python -m distilbert_benchmarks.report --write docs/experiments/benchmarks.md`.",
             "", *_speed_rows(speed), "",
             f"- size ratio {speed['size_ratio']:.2f}x, speedup {speed['speedup']:.2f}x (teacher/student, 10 s inputs)",
             f"- student transformer at {speed['student_efficiency']:.0%} of the measured fp32 GEMM rate "
             f"({speed['gemm_peak_gflops']:.0f} GFLOP/s); s3prl's Mockingjay at the same size "
             f"{speed['s3prl_mockingjay_efficiency']:.0%}: the student transformer is "
             f"{speed['student']['encoder_gflops_per_second'] / speed['s3prl_mockingjay_at_student_size']['encoder_gflops_per_second']:.2f}x "
             f"faster than s3prl's, the whole upstream (fbank included) "
             f"{speed['speedup_over_s3prl_mockingjay']:.2f}x at 10 s and "
             f"{_ratio_at(speed, 30.0, 8):.2f}x at 30 s, batch 8",
             _training_line(training, ""),
             *([_training_line(json.loads(demo.read_text()), " at the demo's sizes (its teacher and student files)")]
               if (demo := results / "training_demo.json").is_file() else []),
             "", "| input seconds | " + " | ".join(f"{k}: s per audio s / peak MiB" for k in scaling if k != "weights") + " |",
             "|---:|" + "---:|" * (len(scaling) - 1)]
    curves = [v for k, v in scaling.items() if k != "weights"]
    for i, point in enumerate(curves[0]):
        cells = [f"{c[i]['seconds_per_audio_second']:.4f} / {c[i]['peak_memory_mib']:.0f}" for c in curves]
        lines.append(f"| {point['seconds']:.0f} | " + " | ".join(cells) + " |")
    lines += ["", *_precision_rows(speed)]
    if (memory := results / "checkpointing.json").is_file():
        lines += ["", *_checkpointing_rows(json.loads(memory.read_text()))]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--write", type=Path, help="replace the table between the bench markers of this file")
    args = parser.parse_args()
    table = render(args.results)
    if args.write:
        text = args.write.read_text()
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        args.write.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    print(table)


if __name__ == "__main__":
    main()
