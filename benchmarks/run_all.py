"""Run every benchmark and write benchmarks/results/{speed,training,checkpointing,scaling}.json.

    bash scripts/dev.sh exec python -m distilbert_benchmarks.run_all [--teacher CKPT --student CKPT]

Without checkpoints it measures randomly initialised models of the paper's sizes (teacher: 3 layers x 768, our
family; student: 1 layer x 768): speed and memory do not depend on the weights.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from upstream_distilbert import AudioDistilBert, ModelConfig, TransformerConfig, save_student

from .checkpointing import checkpointing
from .models import load_measured
from .scaling import scaling
from .speed import bench, summary
from .training import throughput

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = ["speed", "training", "checkpointing", "scaling"]


def paper_sized(folder: Path) -> tuple[str, str]:
    torch.manual_seed(0)
    teacher = save_student(AudioDistilBert(ModelConfig(TransformerConfig(num_hidden_layers=3))), folder / "teacher.ckpt")
    student = save_student(AudioDistilBert(ModelConfig(TransformerConfig(num_hidden_layers=1))), folder / "student.ckpt")
    return str(teacher), str(student)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher")
    parser.add_argument("--student")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=BENCHMARKS, help="run only these benchmarks")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        teacher, student = (args.teacher, args.student) if args.teacher else paper_sized(Path(tmp))
        weights = "given checkpoints" if args.teacher else "random, paper-sized (speed does not depend on weights)"
        if "speed" in args.only:
            speed = {"weights": weights, **bench(teacher, student)}
            (args.out / "speed.json").write_text(json.dumps(speed, indent=2) + "\n")
            print(summary(speed))
        if "training" in args.only:
            training = {"weights": weights, **throughput(teacher, student)}
            (args.out / "training.json").write_text(json.dumps(training, indent=2) + "\n")
            print(json.dumps(training, indent=2))
        if "checkpointing" in args.only:  # the teacher: the deepest model, where recomputing attention saves most
            memory = {"weights": weights, "model": "teacher", **checkpointing(teacher)}
            (args.out / "checkpointing.json").write_text(json.dumps(memory, indent=2) + "\n")
            print(json.dumps(memory, indent=2))
        if "scaling" in args.only:
            curves = {"weights": weights, **scaling(load_measured(student, "distilbert_local", "student"))}
            (args.out / "scaling.json").write_text(json.dumps(curves, indent=2) + "\n")
            print(json.dumps(curves, indent=2))


if __name__ == "__main__":
    main()
