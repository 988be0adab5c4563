"""Checks of audio files from their headers (soundfile only, no torch): fast enough for a whole corpus, so that
`prepare` and pretraining can refuse unusable files before any work starts."""
from __future__ import annotations

from pathlib import Path

import soundfile

from .errors import InputError, MissingError

AUDIO_SUFFIXES = (".flac", ".wav")


class AudioProblems(InputError):
    """Some audio files are unusable; the message lists every one with its path."""

    def __init__(self, where: str, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        super().__init__(f"{where}: {len(problems)} unusable audio file(s):\n  {shown}")
        self.problems = problems


def audio_files(root: Path) -> list[Path]:
    """Every .flac/.wav file below the folder `root`, sorted; an error naming `root` when it is missing or holds
    none."""
    if not root.is_dir():
        raise MissingError(f"{root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"{root}: no {'/'.join(AUDIO_SUFFIXES)} files below it")
    return files


def audio_file_samples(path: str | Path, sample_rate: int, min_samples: int) -> int:
    """An audio file's sample count, from its header alone (fast enough for a whole corpus); ValueError naming
    the file when it is unreadable, of another sample rate, not mono, or too short for this front end."""
    try:
        info = soundfile.info(str(path))
    except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
        raise InputError(f"{path}: cannot read audio ({error})") from error
    if info.samplerate != sample_rate:
        raise InputError(f"{path}: sample rate {info.samplerate} Hz, expected {sample_rate} Hz")
    if info.channels != 1:
        raise InputError(f"{path}: {info.channels} channels, expected mono audio")
    if info.frames < min_samples:
        raise InputError(f"{path}: {info.frames} samples, expected at least {min_samples} (two feature frames)")
    return int(info.frames)
