"""Waveform augmentation in pretraining: each transform does what it says on real measurements, draws only from the
batch's generator (so resumed runs see the same audio), and a real run of s3prl's runner trains with all of it."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from distilbert_pretrain.augmentation import (
    WaveAugmenter,
    add_white_noise,
    change_pitch,
    change_speed,
    reverberate,
    room_impulse_response,
)
from distilbert_pretrain.config import AugmentationConfig, PretrainConfig
from upstream_distilbert.config import ConfigError

from .conftest import cli, run, runner_config, write_yaml

RATE = 16000
EVERYTHING = {"speed_prob": 1.0, "pitch_prob": 1.0, "reverb_prob": 1.0, "noise_prob": 1.0}


def _sine(hz: float, seconds: float = 1.0) -> torch.Tensor:
    return torch.sin(2 * math.pi * hz * torch.arange(int(RATE * seconds)) / RATE)


def _peak_hz(wave: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave))).abs()
    return float(spectrum.argmax()) * RATE / len(wave)


def test_speed_shortens_and_raises_the_pitch() -> None:
    faster = change_speed(_sine(440.0), 1.1, RATE)
    assert abs(len(faster) - RATE / 1.1) <= 2
    assert _peak_hz(faster) == pytest.approx(484.0, abs=3)


def test_pitch_moves_frequencies_at_the_same_duration() -> None:
    higher = change_pitch(_sine(440.0), 1.12, RATE)
    assert len(higher) == RATE
    assert _peak_hz(higher) == pytest.approx(492.8, abs=5)
    assert _peak_hz(change_pitch(_sine(440.0), 0.89, RATE)) == pytest.approx(391.6, abs=5)


def test_noise_at_the_drawn_snr() -> None:
    clean = _sine(300.0, 2.0)
    noisy = add_white_noise(clean, 10.0, torch.Generator().manual_seed(0))
    snr = 10 * math.log10(clean.pow(2).sum() / (noisy - clean).pow(2).sum())
    assert snr == pytest.approx(10.0, abs=0.2)


def test_reverberation_spreads_a_click_over_the_rooms_decay_and_keeps_the_level() -> None:
    rir = room_impulse_response(0.6, (6.0, 5.0, 3.0), (1.5, 1.0, 1.6), (4.5, 3.5, 1.2), RATE)
    direct = int(rir.abs().argmax())
    energy = rir[direct:].pow(2).flip(0).cumsum(0).flip(0)  # Schroeder's backward integral
    decay_db = 10 * torch.log10(energy / energy[0])
    t20 = int((decay_db > -20).sum()) / RATE  # time for the first 20 dB of decay
    assert 0.15 < 3 * t20 < 1.5  # an RT60 of the right order (image sources approximate Sabine's room)
    speech = _sine(200.0) * torch.hann_window(RATE)
    wet = reverberate(speech, rir)
    assert len(wet) == len(speech)
    assert wet.pow(2).mean() == pytest.approx(float(speech.pow(2).mean()), rel=1e-4)
    assert (wet - speech).abs().max() > 0.1


def test_the_same_generator_state_gives_the_same_audio_and_off_draws_nothing() -> None:
    wave = _sine(250.0, 2.0) * 0.3
    augmenter = WaveAugmenter(AugmentationConfig(**EVERYTHING), RATE, 560)
    first = augmenter(wave, torch.Generator().manual_seed(7))
    assert torch.equal(first, augmenter(wave, torch.Generator().manual_seed(7)))
    assert not torch.equal(first[:RATE], augmenter(wave, torch.Generator().manual_seed(8))[:RATE])
    generator = torch.Generator().manual_seed(7)
    before = generator.get_state()
    off = WaveAugmenter(AugmentationConfig(), RATE, 560)
    assert torch.equal(off(wave, generator), wave) and torch.equal(generator.get_state(), before)


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"augmentation.noise_prob: expected a probability in \[0, 1\], got 1.5"):
        AugmentationConfig(noise_prob=1.5)
    with pytest.raises(ConfigError, match=r"augmentation.speed_min/speed_max: expected 0.5 <= min <= max <= 2.0"):
        AugmentationConfig(speed_min=1.2, speed_max=1.1)
    with pytest.raises(ConfigError, match=r"m.yaml.augmentation: unknown key\(s\) \['nois_prob'\]"):
        PretrainConfig.from_dict({"transformer": {}, "audio": {}, "augmentation": {"nois_prob": 0.5}}, "m.yaml")


def test_pretraining_with_every_augmentation_through_s3prls_runner(corpus: dict, tmp_path: Path) -> None:
    from .test_pretrain import TINY

    model = write_yaml(tmp_path / "model.yaml", {**TINY, "augmentation": EVERYTHING})
    run([*cli(), "pretrain", "-u", "distilbert", "-g", str(model), "-c", str(runner_config(tmp_path, corpus, 4, 2)),
         "-n", "aug", "-p", str(tmp_path / "exp"), "--device", "cpu"], cwd=tmp_path)
    from downstream_hooks.results import read_scalars

    losses = read_scalars(tmp_path / "exp")["distilbert/train-reconstruction"]
    assert sorted(losses) == [1, 2, 3, 4] and all(math.isfinite(v) for v in losses.values())
