"""Waveform checks and the fbank front end shared by the upstream expert and pretraining.

Features are torchaudio's Kaldi-compatible fbank (the same call s3prl's `fbank` baseline makes), optional
deltas, and per-utterance CMVN, one utterance at a time so that a batch never changes an utterance's features.
"""
from __future__ import annotations

from pathlib import Path

import soundfile
import torch
import torchaudio
from torch import Tensor, nn

from .config import AudioConfig
from .errors import InputError


def check_wave(wave: Tensor, name: str, min_samples: int) -> None:
    """Raise ValueError unless `wave` is a finite 1-D float tensor of at least `min_samples` samples."""
    if not isinstance(wave, Tensor):
        raise InputError(f"{name}: expected a 1-D float torch.Tensor, got {type(wave).__name__}")
    if wave.dim() != 1:
        raise InputError(
            f"{name}: expected a 1-D (mono) waveform, got shape {tuple(wave.shape)}; "
            "mix or select a channel first"
        )
    if not wave.is_floating_point():
        raise InputError(f"{name}: expected a float waveform in [-1, 1], got dtype {wave.dtype}")
    if wave.numel() == 0:
        raise InputError(f"{name}: the waveform is empty")
    if wave.numel() < min_samples:
        raise InputError(
            f"{name}: {wave.numel()} samples is too short; at least {min_samples} samples are needed "
            "for two feature frames"
        )
    if not torch.isfinite(wave).all():
        bad = int((~torch.isfinite(wave)).sum())
        raise InputError(f"{name}: the waveform holds {bad} NaN or infinite sample(s)")


def read_wave(path: str | Path, sample_rate: int) -> Tensor:
    """A mono float waveform from an audio file, with errors that name the file and what was expected."""
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
        raise InputError(f"{path}: cannot read audio ({error})") from error
    if rate != sample_rate:
        raise InputError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz; resample it first")
    if data.shape[1] != 1:
        raise InputError(f"{path}: {data.shape[1]} channels, expected mono audio")
    return torch.from_numpy(data[:, 0].copy())


class FbankExtractor(nn.Module):
    """Waveform (samples,) at `sample_rate` -> features (frames, feature_dim), frames = 1 + (n - window) // hop."""

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def min_samples(self) -> int:
        return self.config.min_samples

    def num_frames(self, num_samples: int) -> int:
        return 1 + (num_samples - self.config.window_samples) // self.config.hop_samples

    @torch.no_grad()
    def forward(self, wave: Tensor) -> Tensor:
        cfg = self.config
        feats = torchaudio.compliance.kaldi.fbank(
            wave.float().view(1, -1),
            sample_frequency=cfg.sample_rate,
            num_mel_bins=cfg.num_mel_bins,
            frame_length=cfg.frame_length,
            frame_shift=cfg.frame_shift,
            use_log_fbank=cfg.use_log_fbank,
            dither=0.0,
        )
        if cfg.delta_order:
            orders = [feats]
            for _ in range(cfg.delta_order):
                orders.append(torchaudio.functional.compute_deltas(orders[-1].T, win_length=cfg.delta_win_length).T)
            feats = torch.cat(orders, dim=-1)
        if cfg.use_cmvn:
            feats = (feats - feats.mean(dim=0, keepdim=True)) / (1e-10 + feats.std(dim=0, keepdim=True))
        return feats
