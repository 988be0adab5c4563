"""Training throughput: frames per second of one distillation step (frozen teacher forward, student forward and
backward, optimizer step) against one step of s3prl's own Mockingjay pretraining at the teacher's size, on the
same batch of features and masks, with s3prl's AdamW_with_schedule on both sides."""
from __future__ import annotations

from collections.abc import Callable

import torch

from distilbert_pretrain.config import DistillationConfig, TaskConfig, TeacherConfig
from distilbert_pretrain.masking import mask_frames
from distilbert_pretrain.objectives import DistillationModel
from distilbert_pretrain.teacher import Teacher
from downstream_hooks.registration import expose_s3prl_top_level
from upstream_distilbert.checkpoint import load_student
from upstream_distilbert.model import AudioDistilBert

from .models import mockingjay_transformer
from .timing import interleaved_medians


def _s3prl_optimizer(model: torch.nn.Module, steps: int) -> torch.optim.Optimizer:
    expose_s3prl_top_level()
    from optimizers import get_optimizer

    return get_optimizer([model], steps, {"name": "AdamW_with_schedule", "lr": 2e-4, "warmup_proportion": 0.07})


def _batch(batch: int, frames: int, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch, frames, dim, generator=generator)
    pairs = [mask_frames(f, TaskConfig(), generator) for f in features]
    return features, torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def distillation_step(teacher_ckpt: str, student_ckpt: str, batch: int, frames: int) -> Callable[[], None]:
    config = load_student(student_ckpt).config
    teacher = Teacher(TeacherConfig(expert="distilbert_local", ckpt=teacher_ckpt), config.audio, "cpu")
    model = DistillationModel(AudioDistilBert(config), DistillationConfig(), None).train()
    optimizer = _s3prl_optimizer(model, 1000)
    features, masked, label = _batch(batch, frames, config.audio.feature_dim)
    lengths = torch.full((batch,), frames)

    def step() -> None:
        target = teacher.reconstruct(masked, lengths)
        loss = model.total(model(masked, lengths, features, label, teacher_prediction=target))
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
    """Both steps timed round-robin on the same batch; frames per second of each."""
    times = interleaved_medians({
        "distillation": distillation_step(teacher_ckpt, student_ckpt, batch, frames),
        "mockingjay": mockingjay_step(teacher_ckpt, batch, frames),
    }, repeats)
    return {
        "batch": batch, "frames": frames,
        "distillation_frames_per_second": batch * frames / times["distillation"],
        "s3prl_mockingjay_pretraining_frames_per_second": batch * frames / times["mockingjay"],
        "ratio": times["mockingjay"] / times["distillation"],
    }
