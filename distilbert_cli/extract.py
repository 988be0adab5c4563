"""`audio-distilbert extract`: the student's representations of every utterance in a folder, one file each.

OUT/<relative path>.pt holds a tensor (layers, frames, hidden) with every hidden state, or (frames, hidden) for
`--layer N`; each loads with `torch.load(..., weights_only=True)`. OUT/extract.json records what made them (the
checkpoint's sha256, the layer, the precision, the chunk length): a rerun with the same settings skips the files
already there and continues an interrupted extraction (files are written atomically); a rerun with other settings
is refused, so a folder never mixes features made differently.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from upstream_distilbert.audio_files import audio_files
from upstream_distilbert.atomic import atomic_write_text
from upstream_distilbert.checkpoint import atomic_save
from upstream_distilbert.digest import file_digest
from upstream_distilbert.errors import InputError, RefusedError
from upstream_distilbert.expert import UpstreamExpert
from upstream_distilbert.features import read_wave
from upstream_distilbert.options import ExpertOptions


def output_paths(files: list[Path], wav_dir: Path, out: Path) -> dict[Path, Path]:
    """Each audio file's output file; two inputs that would share one (`x.wav` and `x.flac`) are an error."""
    targets: dict[Path, list[Path]] = defaultdict(list)
    for path in files:
        targets[(out / path.relative_to(wav_dir)).with_suffix(".pt")].append(path)
    clashes = [" and ".join(map(str, sources)) for sources in targets.values() if len(sources) > 1]
    if clashes:
        raise InputError(f"{wav_dir}: these files would write the same output file, so one would be lost: "
                         f"{'; '.join(clashes[:5])}; rename or move one of each")
    return {sources[0]: target for target, sources in targets.items()}


MANIFEST = "extract.json"


def claim_folder(out: Path, made_by: dict) -> None:
    """Record in OUT/extract.json what this extraction's files are made by, or check that the folder's files were
    made the same way; refuse (naming what differs) when they were not."""
    manifest = out / MANIFEST
    if manifest.is_file():
        recorded = json.loads(manifest.read_text())
        differ = {k: (recorded.get(k), v) for k, v in made_by.items() if recorded.get(k) != v}
        if differ:
            raise RefusedError(f"{out}: holds features made with " + ", ".join(
                f"{k} {old!r}" for k, (old, _) in differ.items()) + "; this extraction would add files made with "
                + ", ".join(f"{k} {new!r}" for k, (_, new) in differ.items()) + ". Give another --out, or empty it")
    elif any(out.rglob("*.pt")):
        raise RefusedError(f"{out}: holds .pt files but no {MANIFEST} saying what made them; give another --out")
    else:
        atomic_write_text(manifest, json.dumps(made_by, indent=1) + "\n")


def extract(ckpt: str | Path, wav_dir: str | Path, out: str | Path, layer: int | None = None,
            precision: str = "fp32") -> tuple[int, int]:
    """Write the representations of every audio file under `wav_dir` that has none yet, computed at `precision`
    (stored as float32 either way); return (written, skipped)."""
    wav_dir, out = Path(wav_dir), Path(out)
    targets = output_paths(audio_files(wav_dir), wav_dir, out)
    expert = UpstreamExpert(str(ckpt), options=ExpertOptions(precision=precision)).eval()
    layers = expert.model.config.transformer.num_hidden_layers + 1
    if layer is not None and not -layers <= layer < layers:
        raise InputError(f"--layer {layer}: {ckpt} has hidden states 0..{layers - 1} (input embedding = 0)")
    claim_folder(out, {"ckpt_sha256": file_digest(ckpt), "layer": None if layer is None else layer % layers,
                       "precision": precision, "chunk_length": expert.chunk_length})
    todo = {source: target for source, target in targets.items() if not target.is_file()}
    with torch.inference_mode():
        for path, target in tqdm(todo.items(), desc="extract", unit="file"):
            wave = read_wave(path, expert.model.config.audio.sample_rate)
            try:
                hidden = torch.stack(expert([wave])["hidden_states"])[:, 0]  # (layers, frames, hidden)
            except ValueError as error:  # the expert names the list index; name the file instead
                raise InputError(f"{path}: {str(error).split(': ', 1)[-1]}") from error
            atomic_save(hidden if layer is None else hidden[layer].clone(), target)
    return len(todo), len(targets) - len(todo)
