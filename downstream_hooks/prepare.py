"""`audio-distilbert prepare`: s3prl's length CSVs for any LibriSpeech-layout folder.

    ROOT/<set>/<speaker>/<chapter>/<utterance>.flac  ->  OUT/<set>.csv with columns `,file_path,length,label`
    (file_path relative to ROOT, length in samples, longest first), what s3prl's bucketing datasets read.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import soundfile
from tqdm import tqdm

AUDIO_SUFFIXES = (".flac", ".wav")


def audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def prepare_length_csvs(root: str | Path, out: str | Path) -> dict[str, Path]:
    """Write one CSV per top-level set folder of `root`; return {set: csv path}."""
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such LibriSpeech folder")
    files = audio_files(root)
    if not files:
        raise ValueError(f"{root}: no {'/'.join(AUDIO_SUFFIXES)} files below it")
    rows: dict[str, list[tuple[str, int]]] = {}
    for path in tqdm(files, desc="lengths", unit="file"):
        relative = path.relative_to(root)
        if len(relative.parts) < 2:
            raise ValueError(f"{path}: expected ROOT/<set>/.../<utterance>{path.suffix}, found it directly in {root}")
        try:
            frames = soundfile.info(str(path)).frames
        except RuntimeError as error:
            raise ValueError(f"{path}: cannot read audio ({error})") from error
        if frames <= 0:
            raise ValueError(f"{path}: holds no samples")
        rows.setdefault(relative.parts[0], []).append((str(relative), frames))
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, entries in rows.items():
        table = pd.DataFrame(sorted(entries, key=lambda r: -r[1]), columns=["file_path", "length"])
        table["label"] = "None"
        written[name] = out / f"{name}.csv"
        table.to_csv(written[name])
    return written
