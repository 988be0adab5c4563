"""Waveform augmentation for pretraining: speed, pitch, reverberation of simulated rooms, additive noise.

Each transform applies with its probability and draws its parameter uniformly from its range with the batch's
seeded generator, so the data stream stays a function of (seed, epoch, bucket) and a resumed run sees the same
audio. A transform whose probability is 0 draws nothing. Built from torchaudio's resampling, phase vocoder,
`add_noise` and `fftconvolve`, and pyroomacoustics' image-source rooms (imported only when reverberation is on).
"""
from __future__ import annotations

import math

import torch
import torchaudio.functional as AF
from torch import Tensor

from .config import AugmentationConfig

RATE_GRID = 160  # resampling rates are multiples of this, so torchaudio's polyphase kernels stay short
STFT = 512  # phase vocoder window (32 ms at 16 kHz), hop a quarter of it
MAX_IMAGE_ORDER = 40  # image-source reflections per wall: enough for the reverberation times allowed here


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _happens(generator: torch.Generator, probability: float) -> bool:
    return probability > 0 and float(torch.rand((), generator=generator)) < probability


def change_speed(wave: Tensor, factor: float, sample_rate: int) -> Tensor:
    """Play `factor` times faster (shorter and higher): resample, the rate rounded to a multiple of 160 Hz."""
    source = round(sample_rate * factor / RATE_GRID) * RATE_GRID
    return AF.resample(wave, source, sample_rate)


def change_pitch(wave: Tensor, factor: float, sample_rate: int) -> Tensor:
    """Frequencies times `factor` at the same duration: the speed change, then the phase vocoder stretches the
    result back to the input's length."""
    faster = change_speed(wave, factor, sample_rate)
    window = torch.hann_window(STFT, device=wave.device)
    spec = torch.stft(faster, STFT, STFT // 4, window=window, return_complex=True)
    advance = torch.linspace(0, math.pi * STFT // 4, spec.shape[-2], device=wave.device)[:, None]
    stretched = AF.phase_vocoder(spec, len(faster) / len(wave), advance)
    return torch.istft(stretched, STFT, STFT // 4, window=window, length=len(wave))


def room_impulse_response(rt60: float, room: tuple[float, float, float], source: tuple[float, float, float],
                          microphone: tuple[float, float, float], sample_rate: int) -> Tensor:
    """The impulse response from `source` to `microphone` in a shoebox `room` (metres) whose walls absorb
    what Sabine's formula needs for `rt60` seconds (pyroomacoustics' image-source method)."""
    import pyroomacoustics as pra

    try:
        absorption, order = pra.inverse_sabine(rt60, list(room))
    except ValueError:  # shorter than even fully absorbing walls give this room: the driest room there is
        absorption, order = 0.99, 1
    shoebox = pra.ShoeBox(list(room), fs=sample_rate, materials=pra.Material(absorption),
                          max_order=min(order, MAX_IMAGE_ORDER), air_absorption=False)
    shoebox.add_source(list(source))
    shoebox.add_microphone(list(microphone))
    shoebox.compute_rir()
    return torch.as_tensor(shoebox.rir[0][0], dtype=torch.float32)


def reverberate(wave: Tensor, rir: Tensor) -> Tensor:
    """`wave` heard through `rir`, trimmed to its length and scaled back to its RMS level."""
    wet = AF.fftconvolve(wave, rir.to(wave))[: len(wave)]
    return wet * (wave.pow(2).mean().sqrt() / wet.pow(2).mean().sqrt().clamp_min(1e-12))


def add_white_noise(wave: Tensor, snr_db: float, generator: torch.Generator) -> Tensor:
    noise = torch.randn(len(wave), generator=generator).to(wave)
    return AF.add_noise(wave[None], noise[None], torch.tensor([snr_db], dtype=wave.dtype))[0]


class WaveAugmenter:
    """Applies the configured transforms to one waveform, drawing from the caller's generator."""

    def __init__(self, config: AugmentationConfig, sample_rate: int, min_samples: int) -> None:
        self.config, self.sample_rate, self.min_samples = config, sample_rate, min_samples

    def _random_room(self, generator: torch.Generator) -> tuple[tuple[float, ...], ...]:
        cfg = self.config
        room = (_uniform(generator, cfg.room_min, cfg.room_max), _uniform(generator, cfg.room_min, cfg.room_max),
                _uniform(generator, 2.4, 3.5))  # length, width, ceiling height

        def inside() -> tuple[float, ...]:
            return tuple(_uniform(generator, 0.5, side - 0.5) for side in room)

        return room, inside(), inside()  # the room, the source, the microphone

    def __call__(self, wave: Tensor, generator: torch.Generator) -> Tensor:
        cfg, rate = self.config, self.sample_rate
        if _happens(generator, cfg.speed_prob):
            factor = _uniform(generator, cfg.speed_min, cfg.speed_max)
            if len(wave) / factor >= self.min_samples:  # a very short utterance stays as it is
                wave = change_speed(wave, factor, rate)
        if _happens(generator, cfg.pitch_prob):
            wave = change_pitch(wave, _uniform(generator, cfg.pitch_min, cfg.pitch_max), rate)
        if _happens(generator, cfg.reverb_prob):
            rt60 = _uniform(generator, cfg.reverb_rt60_min, cfg.reverb_rt60_max)
            wave = reverberate(wave, room_impulse_response(rt60, *self._random_room(generator), rate))
        if _happens(generator, cfg.noise_prob):
            wave = add_white_noise(wave, _uniform(generator, cfg.noise_snr_min, cfg.noise_snr_max), generator)
        return wave
