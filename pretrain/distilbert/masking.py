"""Masked acoustic modelling (Mockingjay/TERA): what the student sees, and which bins it must reconstruct.

Per utterance: spans of `mask_consecutive_min..max` frames covering `mask_proportion` of it are chosen; 80% of
the time they are zeroed, 10% replaced by other frames of the utterance, 10% left as they are (BERT's rule);
a band of up to `mask_frequency` of the bins is zeroed on every frame; with probability `noise_proportion`
Gaussian noise (std 0.2) is added everywhere. All draws come from the given generator, so the same seed gives
the same masks in any worker and after a resume.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .config import TaskConfig


def _randint(low: int, high: int, generator: torch.Generator) -> int:
    """Uniform integer in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _span_starts(num_frames: int, span: int, count: int, task: TaskConfig, generator: torch.Generator) -> Tensor:
    last_start = max(num_frames - span - 1, 0)
    if task.mask_allow_overlap:
        return torch.randperm(last_start + 1, generator=generator)[:count]
    bucket = max(round(span * task.mask_bucket_ratio), 1)
    first = _randint(0, min(span, last_start), generator)
    starts = torch.arange(first, last_start + 1, bucket)
    return starts[torch.randperm(len(starts), generator=generator)[:count]]


def mask_frames(features: Tensor, task: TaskConfig, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """features (T, D) -> (masked input (T, D), boolean label (T, D) of the bins the loss is taken on)."""
    num_frames, num_bins = features.shape
    masked = features.clone()
    label = torch.zeros_like(features, dtype=torch.bool)
    if task.mask_proportion > 0:
        span = _randint(task.mask_consecutive_min, task.mask_consecutive_max, generator)
        count = round(num_frames * task.mask_proportion / span)
        starts = _span_starts(num_frames, span, count, task, generator)
        frames = (starts[:, None] + torch.arange(span)).flatten().clamp(max=num_frames - 1)
        dice = float(torch.rand((), generator=generator))
        if dice < 0.8:
            masked[frames] = 0
        elif dice < 0.9:
            donors = (torch.randint(0, max(num_frames - span, 1), (len(starts),), generator=generator)[:, None]
                      + torch.arange(span)).flatten().clamp(max=num_frames - 1)
            masked[frames] = features[donors]
        label[frames] = True
    if task.mask_frequency > 0:
        width = _randint(0, int(num_bins * task.mask_frequency), generator)
        start = _randint(0, num_bins - width, generator)
        masked[:, start : start + width] = 0
        label[:, start : start + width] = True
    if task.noise_proportion > 0 and float(torch.rand((), generator=generator)) < task.noise_proportion:
        masked += 0.2 * torch.randn(masked.shape, generator=generator)
    return masked, label
