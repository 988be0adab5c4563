"""`audio-distilbert prepare`: s3prl's length CSVs for any LibriSpeech-layout folder.

    ROOT/<set>/<speaker>/<chapter>/<utterance>.flac  ->  OUT/<set>.csv with columns `,file_path,length,label`
    (file_path relative to ROOT, length in samples, longest first), what s3prl's bucketing datasets read.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import soundfile
from tqdm import tqdm

from upstream_distilbert.audio_files import (
    AudioProblems,
    audio_file_samples,
    audio_files,
)
from upstream_distilbert.config import AudioConfig
from upstream_distilbert.errors import InputError, MissingError

FRONT_END = AudioConfig()  # 16 kHz, 25 ms windows every 10 ms: what every model here reads


def prepare_length_csvs(root: str | Path, out: str | Path) -> dict[str, Path]:
    """Write one CSV per top-level set folder of `root`; return {set: csv path}. Every file is checked first
    (readable, 16 kHz, mono, at least two feature frames long): any problem stops it, every one listed."""
    root, out = Path(root), Path(out)
    files = audio_files(root)
    rows: dict[str, list[tuple[str, int]]] = {}
    problems = []
    for path in tqdm(files, desc="lengths", unit="file"):
        relative = path.relative_to(root)
        if len(relative.parts) < 2:
            problems.append(f"{path}: expected ROOT/<set>/.../<utterance>{path.suffix}, found it directly in {root}")
            continue
        try:
            samples = audio_file_samples(path, FRONT_END.sample_rate, FRONT_END.min_samples)
        except ValueError as error:
            problems.append(str(error))
            continue
        rows.setdefault(relative.parts[0], []).append((str(relative), samples))
    if problems:
        raise AudioProblems(str(root), problems)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, entries in rows.items():
        table = pd.DataFrame(sorted(entries, key=lambda r: -r[1]), columns=["file_path", "length"])
        table["label"] = "None"
        written[name] = out / f"{name}.csv"
        table.to_csv(written[name])
    return written


def check_cpc_phone(root: str | Path, phone_path: str | Path, tolerance_frames: int = 2) -> int:
    """Check a cpc_phone folder against the audio under `root`: every utterance in a split list has audio and
    labels, every label is a class 0..40, and each label count is within `tolerance_frames` of the audio's
    `samples // 160`. Raises ValueError listing the problems (file and utterance named); returns the number of
    utterances checked."""
    root, phone_path = Path(root), Path(phone_path)
    labels_file = phone_path / "converted_aligned_phones.txt"
    for needed in (labels_file, phone_path / "train_split.txt", phone_path / "test_split.txt"):
        if not needed.is_file():
            raise MissingError(f"{needed}: missing from the cpc_phone folder")
    audio = {p.stem: p for p in audio_files(root)}
    labels: dict[str, list[str]] = {}
    for line in labels_file.read_text().splitlines():
        if line.strip():
            utt, *values = line.split()
            labels[utt] = values
    problems, checked = [], 0
    for split in ("train_split.txt", "test_split.txt"):
        for utt in (phone_path / split).read_text().split():
            checked += 1
            where = f"{phone_path / split}: utterance {utt}"
            if utt not in audio:
                problems.append(f"{where} has no audio file under {root}")
                continue
            if utt not in labels:
                problems.append(f"{where} has no line in {labels_file}")
                continue
            bad = [v for v in labels[utt] if not v.isdigit() or not 0 <= int(v) <= 40]
            if bad:
                problems.append(f"{labels_file}: utterance {utt} has label(s) {bad[:3]} outside 0..40")
            frames = soundfile.info(str(audio[utt])).frames // 160
            if abs(len(labels[utt]) - frames) > tolerance_frames:
                problems.append(f"{labels_file}: utterance {utt} has {len(labels[utt])} labels, its audio "
                                f"{audio[utt]} {frames} frames of 10 ms")
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise InputError(f"{phone_path}: {len(problems)} problem(s):\n  {shown}")
    return checked
