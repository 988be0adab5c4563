"""The expert's inference options (s3prl's `-g` yaml) and how an utterance is cut into chunks: shared by the torch
expert and the ONNX Runtime path, so that both run an utterance the same way."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from .config import ConfigError, fields_from_mapping
from .errors import InputError
from .precision import PRECISIONS


def chunk_sizes(frames: int, chunk: int) -> list[int]:
    """Frames of each chunk when `frames` run in as few chunks of at most `chunk` (0: whole) as possible, their
    sizes differing by at most one frame: 301 frames in chunks of 300 are 151 + 150, 10 in chunks of 4 are 4 + 3
    + 3, never a short tail."""
    if not chunk or frames <= chunk:
        return [frames]
    count = math.ceil(frames / chunk)
    size, longer = divmod(frames, count)
    return [size + 1] * longer + [size] * (count - longer)


UNRECORDED_CROP_CHUNK = 3000  # frames per chunk (30 s) for student files that do not record their training crop


@dataclass(frozen=True)
class ExpertOptions:
    """Inference options, from the yaml that s3prl passes as `model_config` (`-g`)."""

    max_input_length: int = -1  # frames per chunk; 0 runs every input whole; -1: the student file's training crop
    precision: str = "fp32"  # fp32 | bf16 (autocast, where the CPU or GPU has bf16) | int8 (CPU: int8 linear layers)

    def chunk_length(self, trained_on: int) -> int:
        """Frames per chunk (0: whole inputs) for a model trained on crops of `trained_on` frames (0: unknown)."""
        if self.max_input_length >= 0:
            return self.max_input_length
        return trained_on or UNRECORDED_CROP_CHUNK

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.max_input_length < -1:
            raise InputError(f"max_input_length must be >= 0 (0: no chunks), or -1 for the student file's training "
                             f"crop; got {self.max_input_length}")

    @classmethod
    def from_yaml(cls, path: str | None) -> "ExpertOptions":
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: cannot read the expert options ({error})") from error
        fields = fields_from_mapping(cls, data, str(path))
        try:
            return cls(**fields)
        except ValueError as error:
            raise ConfigError(f"{path}: {error}") from error
