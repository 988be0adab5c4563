"""Benchmarks: FLOP counting against a hand count, and `audio-distilbert bench` on two tiny checkpoints."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from distilbert_benchmarks.checkpointing import checkpointing
from distilbert_benchmarks.flops import EncoderShape, encoder_flops, flops_per_audio_second
from distilbert_benchmarks.report import _precision_rows
from upstream_distilbert import AudioDistilBert, save_student

from .conftest import cli, run, tiny_config


def test_flops_match_a_hand_count() -> None:
    # 2 layers, H=32, 4 heads of 8, I=64, D=80, T=10 frames, one layer with head 1 pruned (A=24).
    config = tiny_config()
    shape = EncoderShape.of(config)
    input_projection = 2 * 80 * 32 * 10
    layer = 10 * (2 * (3 * 32 * 32 + 32 * 32) + 4 * 32 * 64) + 4 * 10 * 10 * 32
    assert encoder_flops(shape, 10) == input_projection + 2 * layer
    model = AudioDistilBert(config)
    model.prune_heads({1: [1]})
    pruned = 10 * (2 * (3 * 32 * 24 + 24 * 32) + 4 * 32 * 64) + 4 * 10 * 10 * 24
    assert encoder_flops(EncoderShape.of(model.config), 10) == input_projection + layer + pruned
    # Chunks of 5 frames: two sequences of 5, per second of audio (0.1 s here).
    assert flops_per_audio_second(shape, 0.1, chunk=5) == 2 * encoder_flops(shape, 5) / 0.1
    equal = (2 * encoder_flops(shape, 4) + encoder_flops(shape, 3)) / 0.11  # 11 frames: 4 + 4 + 3
    assert flops_per_audio_second(shape, 0.11, chunk=5) == pytest.approx(equal)
    tail = (2 * encoder_flops(shape, 5) + encoder_flops(shape, 1)) / 0.11  # s3prl's Mockingjay: 5 + 5 + 1
    assert flops_per_audio_second(shape, 0.11, chunk=5, equal_chunks=False) == pytest.approx(tail)


def test_bench_reports_every_key_with_sane_values(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = save_student(AudioDistilBert(tiny_config(num_hidden_layers=4)), tmp_path / "teacher.ckpt")
    student = save_student(AudioDistilBert(tiny_config(num_hidden_layers=1)), tmp_path / "student.ckpt")
    out = tmp_path / "bench.json"
    proc = run([*cli(), "bench", "--teacher", str(teacher), "--student", str(student), "--seconds", "10",
                "--repeats", "1", "--json", str(out)])
    doc = json.loads(out.read_text())
    assert "size ratio" in proc.stdout
    for name in ("teacher", "student", "s3prl_mockingjay_at_student_size"):
        m = doc[name]
        assert m["params"] > 0 and m["gflops_per_audio_second"] > 0 and m["seconds_per_audio_second"] > 0
        assert {(r["seconds"], r["batch"]) for r in m["runs"]} == {(1.0, 1), (1.0, 8), (10.0, 1), (10.0, 8)}
        assert all(r["peak_memory_mib"] >= 0 and r["gflops_per_second"] > 0 for r in m["runs"])
    assert doc["student"]["params"] == doc["s3prl_mockingjay_at_student_size"]["params"]
    assert doc["size_ratio"] == doc["teacher"]["params"] / doc["student"]["params"] > 2
    assert doc["speedup"] > 0 and doc["gemm_peak_gflops"] > 1
    assert 0 < doc["student_efficiency"] < 2
    assert doc["teacher"]["gflops_per_audio_second"] > doc["student"]["gflops_per_audio_second"]
    assert set(doc["precisions"]) == {"fp32", "bf16", "int8"} and doc["precisions"]["fp32"]["seconds_per_audio_second"] > 0
    assert all(m is None or {r["batch"] for r in m["runs"]} == {1, 8} for m in doc["precisions"].values())
    shares = doc["precisions"]["int8"]["time_shares"]
    assert set(shares) == {"linear", "attention", "other"} and sum(shares.values()) == pytest.approx(1)
    assert shares["linear"] > 0 and shares["attention"] > 0
    assert doc["onnx"]["seconds_per_audio_second"] > 0 and doc["onnx"]["max_abs_diff"] <= 1e-4
    assert doc["onnx"]["int8_seconds_per_audio_second"] > 0 and {r["batch"] for r in doc["onnx"]["runs"]} == {1, 8}
    assert "student at lower precision: bf16 " in proc.stdout and "its int8 file " in proc.stdout
    rows = _precision_rows(doc)  # the README table's rows from this document: fp32, bf16, int8, ONNX fp32 and int8
    assert len(rows) == 2 + 3 + 2 and rows[-1].startswith("| ONNX Runtime int8")


def test_training_throughput_reports_steps_and_gemm_shares(tmp_path: Path) -> None:
    """The three training steps run for real (s3prl's optimizer, our teacher, s3prl's Mockingjay model) and their
    rates agree with each other: steps/s x frames per step = frames/s."""
    from distilbert_benchmarks.training import throughput

    torch.manual_seed(0)
    teacher = save_student(AudioDistilBert(tiny_config(num_hidden_layers=2)), tmp_path / "teacher.ckpt")
    student = save_student(AudioDistilBert(tiny_config(num_hidden_layers=1)), tmp_path / "student.ckpt")
    doc = throughput(str(teacher), str(student), batch=2, frames=50, repeats=1)
    assert doc["gemm_peak_gflops"] > 1
    for key in ("distillation", "teacher_mam", "s3prl_mockingjay_pretraining"):
        assert doc[f"{key}_frames_per_second"] == pytest.approx(100 * doc[f"{key}_steps_per_second"])
        assert 0 < doc[f"{key}_gemm_share"] < 2


def test_gradient_checkpointing_benchmark_shows_the_memory_it_saves(tmp_path: Path) -> None:
    """A 6-layer model at 800 frames: recomputing attention lowers the step's peak (about 0.26x, each peak measured
    in a fresh process with glibc returning freed tensors at once; in-process it ranged 0.57-0.72x)."""
    torch.manual_seed(0)
    model = save_student(AudioDistilBert(tiny_config(num_hidden_layers=6)), tmp_path / "model.ckpt")
    point = checkpointing(str(model), frames=(800,), repeats=1)["frames"]["800"]
    assert point["off"]["peak_memory_mib"] > 30 and point["on"]["seconds"] > 0 and point["off"]["seconds"] > 0
    assert point["memory_ratio"] == point["on"]["peak_memory_mib"] / point["off"]["peak_memory_mib"] < 0.4
