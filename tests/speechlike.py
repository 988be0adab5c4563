"""Small LibriSpeech-layout folders of real FLAC files for pretraining tests.

Until the built-in synthesized corpus exists, tests write voiced, speech-like signals: a glottal pulse train
with a moving pitch, shaped by moving formant resonances, with pauses. Deterministic for a seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

RATE = 16000


def speechlike_wave(seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    pitch = rng.uniform(100, 220) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    source = np.sign(np.sin(2 * np.pi * np.cumsum(pitch) / RATE)) * 0.5 + 0.05 * rng.standard_normal(n)
    out = np.zeros(n)
    for base in (500, 1500, 2500):
        centre = base * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(1, 4) * t + rng.uniform(0, 6)))
        phase = 2 * np.pi * np.cumsum(centre) / RATE
        out += np.convolve(source, np.ones(8) / 8, mode="same") * (0.5 + 0.5 * np.cos(phase))
    envelope = (np.sin(2 * np.pi * rng.uniform(2, 4) * t) > -0.3).astype(float)
    out *= np.convolve(envelope, np.ones(400) / 400, mode="same")
    return (0.3 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def write_librispeech(root: Path, utterances: int = 12, seed: int = 0, min_sec: float = 1.0,
                      max_sec: float = 3.0, set_name: str = "train-clean-100") -> tuple[Path, Path]:
    """Write `root/LibriSpeech/<set>/<spk>/<chapter>/*.flac` and `root/len_for_bucket/<set>.csv`;
    return (libri_root, file_path) as s3prl's datarc names them."""
    rng = np.random.default_rng(seed)
    libri = root / "LibriSpeech"
    rows = []
    for i in range(utterances):
        spk, chapter = 100 + i % 3, 10
        rel = Path(set_name) / str(spk) / str(chapter) / f"{spk}-{chapter}-{i:04d}.flac"
        wave = speechlike_wave(rng.uniform(min_sec, max_sec), rng)
        (libri / rel).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(libri / rel, wave, RATE)
        rows.append((str(rel), len(wave)))
    table_dir = root / "len_for_bucket"
    table_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(sorted(rows, key=lambda r: -r[1]), columns=["file_path", "length"])
    table["label"] = "None"
    table.to_csv(table_dir / f"{set_name}.csv")
    return libri, table_dir
