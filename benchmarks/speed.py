"""`audio-distilbert bench`: size, FLOPs, speed and efficiency of teacher and student in one run, with s3prl's
own Mockingjay at the student's size as the peer and the machine's fp32 matrix-multiply rate as the limit."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from upstream_distilbert.atomic import atomic_write_text
from upstream_distilbert.checkpoint import load_student
from upstream_distilbert.errors import InputError

from .flops import flops_per_audio_second
from .models import Measured, load_measured, write_mockingjay_like
from .timing import gemm_probe, interleaved_medians, peak_memory_mib, time_shares

LENGTHS = (1.0, 10.0, 30.0)
BATCHES = (1, 8)
HEADLINE = (10.0, 1)  # seconds, batch: where the headline figures are taken


def _waves(seconds: float, batch: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(int(seconds * 16000), generator=generator) - 0.5 for _ in range(batch)]


def measure(models: list[Measured], lengths: tuple[float, ...], batches: tuple[int, ...], repeats: int) -> dict:
    """Every (length, batch), the models timed round-robin: seconds per audio second, achieved GFLOP/s and peak
    memory; per model, with its parameter count and FLOPs per audio second at the headline length."""
    results = {m.name: {"params": m.params, "gflops_per_audio_second": _headline_gflops(m), "runs": []} for m in models}
    with torch.inference_mode():
        for seconds in lengths:
            for batch in batches:
                waves = _waves(seconds, batch)
                times = interleaved_medians({m.name: (lambda m=m: m.upstream(waves)) for m in models}, repeats)
                for m in models:
                    gflop = flops_per_audio_second(m.shape, seconds, m.chunk, equal_chunks=m.equal_chunks) / 1e9
                    results[m.name]["runs"].append({
                        "seconds": seconds, "batch": batch,
                        "seconds_per_audio_second": times[m.name] / (seconds * batch),
                        "gflops_per_second": gflop * seconds * batch / times[m.name],
                        "peak_memory_mib": peak_memory_mib(lambda m=m: m.upstream(waves)),
                    })
    return results


def _headline_gflops(model: Measured) -> float:
    return flops_per_audio_second(model.shape, HEADLINE[0], model.chunk, equal_chunks=model.equal_chunks) / 1e9


def encoder_rates(models: list[Measured], repeats: int) -> dict[str, float]:
    """Achieved GFLOP/s of each transformer alone (features precomputed) at the headline length and batch, and
    of a square fp32 matrix product (`gemm`), all timed round-robin so that the ratios to the GEMM rate are fair."""
    seconds, batch = HEADLINE
    gemm, gemm_flops = gemm_probe()
    fns = {"gemm": gemm}
    for m in models:
        features = torch.randn(batch, int(seconds * 100), m.shape.input_dim)
        if hasattr(m.encoder, "input_representations"):  # s3prl's Mockingjay TransformerModel
            fns[m.name] = lambda m=m, f=features: _mockingjay_encode(m.encoder, f)
        else:
            fns[m.name] = lambda m=m, f=features: m.encoder(f)
    with torch.inference_mode():
        times = interleaved_medians(fns, repeats * 2)
    rates = {m.name: _headline_gflops(m) * seconds * batch / times[m.name] for m in models}
    rates["gemm"] = gemm_flops / times["gemm"] / 1e9
    return rates


def _mockingjay_encode(encoder: torch.nn.Module, features: torch.Tensor) -> object:
    from s3prl.upstream.mockingjay.builder import position_encoding

    pos = torch.as_tensor(position_encoding(features.shape[1], encoder.config.hidden_size), dtype=torch.float32)
    mask = torch.ones(features.shape[:2])
    return encoder(features, pos.expand(features.shape[0], -1, -1), mask, output_all_encoded_layers=True)


def precisions_and_onnx(student_ckpt: str, repeats: int, folder: Path) -> tuple[dict, dict]:
    """The student expert at fp32, bf16 (None where the CPU lacks it) and int8 at the headline length, batch 1 and
    8, timed round-robin, with the shares of its time in linear layers, attention and the rest at batch 8; and its
    ONNX export (fp32 and ONNX Runtime's int8) against the torch expert on the same whole inputs (ONNX runs inputs
    whole) at both batches, with the largest absolute difference of the fp32 file's hidden states from torch's."""
    from upstream_distilbert.expert import UpstreamExpert
    from upstream_distilbert.options import ExpertOptions
    from upstream_distilbert.onnx_export import OnnxEncoder, export_onnx, quantize_onnx
    from upstream_distilbert.precision import PRECISIONS, bf16_supported

    def expert(**options: object) -> UpstreamExpert:
        return UpstreamExpert(student_ckpt, options=ExpertOptions(**options)).eval()

    usable = [p for p in PRECISIONS if p != "bf16" or bf16_supported(torch.device("cpu"))]
    experts = {p: expert(precision=p) for p in usable}
    seconds = HEADLINE[0]
    precisions: dict = {p: {"runs": []} if p in usable else None for p in PRECISIONS}
    whole = expert(max_input_length=0)
    fp32_file = export_onnx(whole.model, folder / "student.onnx")
    runtimes = {"onnx": OnnxEncoder(fp32_file, whole.model, max_input_length=0),
                "onnx_int8": OnnxEncoder(quantize_onnx(fp32_file, folder / "student-int8.onnx"), whole.model,
                                         max_input_length=0),
                "torch": whole}
    onnx: dict = {"runs": []}
    with torch.inference_mode():
        for batch in BATCHES:
            waves, audio = _waves(seconds, batch), seconds * batch
            times = interleaved_medians({p: (lambda e=e: e(waves)) for p, e in experts.items()}, repeats)
            for p in usable:
                precisions[p]["runs"].append({"seconds": seconds, "batch": batch,
                                              "seconds_per_audio_second": times[p] / audio})
            times = interleaved_medians({k: (lambda r=r: r(waves)) for k, r in runtimes.items()}, repeats)
            onnx["runs"].append({"seconds": seconds, "batch": batch,
                                 "seconds_per_audio_second": times["onnx"] / audio,
                                 "int8_seconds_per_audio_second": times["onnx_int8"] / audio,
                                 "torch_fp32_whole_seconds_per_audio_second": times["torch"] / audio})
        largest = _waves(seconds, max(BATCHES))
        for p in usable:
            precisions[p]["seconds_per_audio_second"] = precisions[p]["runs"][0]["seconds_per_audio_second"]
            precisions[p]["time_shares"] = time_shares(lambda e=experts[p]: e(largest))
        waves = _waves(seconds, HEADLINE[1])
        onnx["max_abs_diff"] = max(float((torch.from_numpy(a) - b).abs().max())
                                   for a, b in zip(runtimes["onnx"](waves), whole(waves)["hidden_states"]))
    headline = onnx["runs"][0]  # batch 1
    onnx.update({key: value for key, value in headline.items() if key.endswith("seconds_per_audio_second")})
    return precisions, onnx


def _headline(result: dict) -> float:
    seconds, batch = HEADLINE
    return next(r["seconds_per_audio_second"] for r in result["runs"] if (r["seconds"], r["batch"]) == (seconds, batch))


def bench(teacher_ckpt: str, student_ckpt: str, max_seconds: float = 30.0, repeats: int = 5,
          teacher_expert: str | None = None, trust_pickle: bool = False) -> dict:
    """Measure teacher, student and s3prl's Mockingjay at the student's size; return the JSON document."""
    torch.manual_seed(0)
    lengths = tuple(s for s in LENGTHS if s <= max_seconds) or (max_seconds,)
    if HEADLINE[0] not in lengths:
        raise InputError(f"--seconds {max_seconds}: the headline figures are taken at {HEADLINE[0]} s; use >= 10")
    teacher = load_measured(teacher_ckpt, teacher_expert, "teacher", trust_pickle)
    student = load_measured(student_ckpt, "distilbert_local", "student")
    with tempfile.TemporaryDirectory() as tmp:
        peer_ckpt = write_mockingjay_like(load_student(student_ckpt).config, student.chunk, Path(tmp) / "peer.ckpt")
        peer = load_measured(peer_ckpt, "mockingjay_local", "s3prl_mockingjay_at_student_size")
        precisions, onnx = precisions_and_onnx(student_ckpt, repeats, Path(tmp))
    doc = {"threads": torch.get_num_threads(), "headline": {"seconds": HEADLINE[0], "batch": HEADLINE[1]}}
    models = [teacher, student, peer]
    doc.update(measure(models, lengths, BATCHES, repeats))
    rates = encoder_rates(models, repeats)
    for model in models:
        doc[model.name]["seconds_per_audio_second"] = _headline(doc[model.name])
        doc[model.name]["encoder_gflops_per_second"] = rates[model.name]
    doc["gemm_peak_gflops"] = peak = rates["gemm"]
    doc["student_efficiency"] = doc["student"]["encoder_gflops_per_second"] / peak
    doc["s3prl_mockingjay_efficiency"] = doc["s3prl_mockingjay_at_student_size"]["encoder_gflops_per_second"] / peak
    doc["size_ratio"] = doc["teacher"]["params"] / doc["student"]["params"]
    doc["speedup"] = doc["teacher"]["seconds_per_audio_second"] / doc["student"]["seconds_per_audio_second"]
    doc["encoder_speedup_over_s3prl_mockingjay"] = (  # same FLOPs: the ratio of achieved rates
        doc["student"]["encoder_gflops_per_second"] / doc["s3prl_mockingjay_at_student_size"]["encoder_gflops_per_second"]
    )
    doc["precisions"], doc["onnx"] = precisions, onnx
    doc["speedup_over_s3prl_mockingjay"] = (
        doc["s3prl_mockingjay_at_student_size"]["seconds_per_audio_second"] / doc["student"]["seconds_per_audio_second"]
    )
    return doc


def run(args: argparse.Namespace) -> dict:
    """`audio-distilbert bench` (its flags are defined by the command line, which imports this module only then)."""
    doc = bench(args.teacher, args.student, args.seconds, args.repeats, args.teacher_expert, args.trust_pickle)
    if args.json:
        atomic_write_text(args.json, json.dumps(doc, indent=2) + "\n")
    print(summary(doc))
    return doc


def summary(doc: dict) -> str:
    rows = [f"{'model':34} {'params':>12} {'GFLOP/audio s':>14} {'s/audio s':>10} {'encoder GFLOP/s':>16}"]
    for name in ("teacher", "student", "s3prl_mockingjay_at_student_size"):
        m = doc[name]
        rows.append(f"{name:34} {m['params']:>12,} {m['gflops_per_audio_second']:>14.2f} "
                    f"{m['seconds_per_audio_second']:>10.4f} {m['encoder_gflops_per_second']:>16.1f}")
    rows.append(f"size ratio {doc['size_ratio']:.2f}x, speedup {doc['speedup']:.2f}x, "
                f"student {doc['student_efficiency']:.0%} of the {doc['gemm_peak_gflops']:.0f} GFLOP/s GEMM rate "
                f"(s3prl's Mockingjay {doc['s3prl_mockingjay_efficiency']:.0%}), "
                f"{doc['speedup_over_s3prl_mockingjay']:.2f}x faster than s3prl's Mockingjay at its size")
    fp32 = doc["precisions"]["fp32"]["seconds_per_audio_second"]
    rows.append("student at lower precision: " + ", ".join(
        f"{p} {'not supported here' if m is None else format(fp32 / m['seconds_per_audio_second'], '.2f') + 'x'}"
        for p, m in doc["precisions"].items() if p != "fp32")
        + f" fp32's speed; ONNX Runtime {doc['onnx']['torch_fp32_whole_seconds_per_audio_second'] / doc['onnx']['seconds_per_audio_second']:.2f}x "
        f"torch fp32 on whole inputs (max abs difference {doc['onnx']['max_abs_diff']:.1e}), its int8 file "
        f"{fp32 / doc['onnx']['int8_seconds_per_audio_second']:.2f}x torch fp32's speed")
    return "\n".join(rows)
