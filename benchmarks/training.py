"""Training throughput: one distillation step (frozen teacher forward, student forward and backward, optimizer
step), one masked-acoustic-modelling step of our teacher (how the teacher is trained), and one step of s3prl's own
Mockingjay pretraining at the teacher's size, on the same batch of features and masks, with s3prl's
AdamW_with_schedule everywhere; timed round-robin beside a square matrix product, so each step's achieved FLOP
rate (a backward pass counted as twice its forward) is also a share of the machine's matrix-multiply rate."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from distilbert_pretrain.config import DistillationConfig, TaskConfig, TeacherConfig
from distilbert_pretrain.masking import mask_frames
from distilbert_pretrain.objectives import DistillationModel
from distilbert_pretrain.teacher import Teacher
from downstream_hooks.registration import expose_s3prl_top_level
from upstream_distilbert.checkpoint import load_student
from upstream_distilbert.model import AudioDistilBert

from .flops import EncoderShape, encoder_flops
from .models import mockingjay_transformer
from .timing import gemm_probe, interleaved_medians


def _s3prl_optimizer(model: torch.nn.Module, steps: int) -> torch.optim.Optimizer:
    expose_s3prl_top_level()
    from optimizers import get_optimizer

    return get_optimizer([model], steps, {"name": "AdamW_with_schedule", "lr": 2e-4, "warmup_proportion": 0.07})


def _batch(batch: int, frames: int, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch, frames, dim, generator=generator)
    pairs = [mask_frames(f, TaskConfig(), generator) for f in features]
    return features, torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def distillation_step(teacher_ckpt: str | None, student_ckpt: str, batch: int, frames: int,
                      gradient_checkpointing: bool = False) -> Callable[[], None]:
    """The student's step distilling from `teacher_ckpt` (prediction + reconstruction, the original implementation's 5:2), or with
    `teacher_ckpt=None` plain masked acoustic modelling of the model in `student_ckpt` (a teacher's own training);
    `gradient_checkpointing` recomputes the trained model's attention in its backward pass."""
    config = load_student(student_ckpt).config
    config = replace(config, transformer=replace(config.transformer, gradient_checkpointing=gradient_checkpointing))
    teacher = None
    if teacher_ckpt is not None:
        teacher = Teacher(TeacherConfig(expert="distilbert_local", ckpt=teacher_ckpt), config.audio, "cpu")
    objectives = DistillationConfig() if teacher else DistillationConfig(reconstruction_weight=1.0, prediction_weight=0.0)
    model = DistillationModel(AudioDistilBert(config), objectives, None).train()
    optimizer = _s3prl_optimizer(model, 1000)
    features, masked, label = _batch(batch, frames, config.audio.feature_dim)
    lengths = torch.full((batch,), frames)

    def step() -> None:
        extra = {"teacher_prediction": teacher.reconstruct(masked, lengths)} if teacher else {}
        loss = model.total(model(masked, lengths, features, label, **extra))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        optimizer.zero_grad()

    return step


def mockingjay_step(teacher_ckpt: str, batch: int, frames: int) -> Callable[[], None]:
    """s3prl's TransformerForMaskedAcousticModel at the teacher's shape, as `run_pretrain.py -u mockingjay` runs it."""
    expose_s3prl_top_level()
    from pretrain.mockingjay.pretrain_expert import TransformerForMaskedAcousticModel
    from pretrain.mockingjay.task import fast_position_encoding
    from upstream.mockingjay.model import TransformerConfig

    config = load_student(teacher_ckpt).config
    mj = TransformerConfig(mockingjay_transformer(config.transformer))
    model = TransformerForMaskedAcousticModel(mj, config.audio.feature_dim, None).train()
    optimizer = _s3prl_optimizer(model, 1000)
    features, masked, label = _batch(batch, frames, config.audio.feature_dim)
    pos = fast_position_encoding(frames, config.transformer.hidden_size)
    attention = torch.ones(batch, frames)

    def step() -> None:
        loss, _ = model(masked, pos, label, attention, features)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        optimizer.zero_grad()

    return step


def throughput(teacher_ckpt: str, student_ckpt: str, batch: int = 8, frames: int = 300, repeats: int = 5) -> dict:
    """The three steps and the matrix product timed round-robin on the same batch: frames and steps per second,
    and the achieved share of the matrix-multiply rate."""
    gemm, gemm_flops = gemm_probe()
    times = interleaved_medians({
        "distillation": distillation_step(teacher_ckpt, student_ckpt, batch, frames),
        "teacher_mam": distillation_step(None, teacher_ckpt, batch, frames),
        "mockingjay": mockingjay_step(teacher_ckpt, batch, frames),
        "gemm": gemm,
    }, repeats)
    forward = {name: batch * encoder_flops(EncoderShape.of(load_student(ckpt).config), frames)
               for name, ckpt in (("teacher", teacher_ckpt), ("student", student_ckpt))}
    step_flops = {"distillation": forward["teacher"] + 3 * forward["student"], "teacher_mam": 3 * forward["teacher"],
                  "mockingjay": 3 * forward["teacher"]}
    gemm_rate = gemm_flops / times["gemm"]
    doc = {"batch": batch, "frames": frames, "gemm_peak_gflops": gemm_rate / 1e9}
    for name, key in (("distillation", "distillation"), ("teacher_mam", "teacher_mam"),
                      ("mockingjay", "s3prl_mockingjay_pretraining")):
        doc[f"{key}_frames_per_second"] = batch * frames / times[name]
        doc[f"{key}_steps_per_second"] = 1 / times[name]
        doc[f"{key}_gemm_share"] = step_flops[name] / times[name] / gemm_rate
    doc["ratio"] = times["mockingjay"] / times["distillation"]
    return doc
