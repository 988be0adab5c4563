"""`audio-distilbert extract`: the student's representations of every utterance in a folder, one file each.

OUT/<relative path>.pt holds a tensor (layers, frames, hidden) with every hidden state, or (frames, hidden) for
`--layer N`; each loads with `torch.load(..., weights_only=True)`.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tqdm import tqdm

from upstream_distilbert.checkpoint import atomic_save
from upstream_distilbert.expert import UpstreamExpert
from upstream_distilbert.features import read_wave

from .prepare import audio_files


def extract(ckpt: str | Path, wav_dir: str | Path, out: str | Path, layer: int | None = None) -> list[Path]:
    """Write the representations of every audio file under `wav_dir`; return the files written."""
    wav_dir, out = Path(wav_dir), Path(out)
    files = audio_files(wav_dir)
    if not files:
        raise ValueError(f"{wav_dir}: no .flac/.wav files below it")
    expert = UpstreamExpert(str(ckpt)).eval()
    layers = expert.model.config.transformer.num_hidden_layers + 1
    if layer is not None and not -layers <= layer < layers:
        raise ValueError(f"--layer {layer}: {ckpt} has hidden states 0..{layers - 1} (input embedding = 0)")
    written = []
    with torch.inference_mode():
        for path in tqdm(files, desc="extract", unit="file"):
            wave = read_wave(path, expert.model.config.audio.sample_rate)
            hidden = torch.stack(expert([wave])["hidden_states"])[:, 0]  # (layers, frames, hidden)
            target = (out / path.relative_to(wav_dir)).with_suffix(".pt")
            written.append(atomic_save(hidden if layer is None else hidden[layer].clone(), target))
    return written
