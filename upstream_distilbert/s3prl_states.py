"""s3prl's runner checkpoints (`states-N.ckpt`), read weights-only.

s3prl's runners pickle an argparse `Namespace` (`Args`) into every checkpoint and, with its `*_with_schedule`
optimizers, a learning-rate schedule object inside the optimizer state. Those few classes are allowed by name
(torch's safe globals); anything else a file asks to build (a crafted pickle) is refused, so no checkpoint is
ever fully unpickled: not by `export`, `convert` or `bench`, and not by s3prl's own loads once
`allow_s3prl_checkpoints()` has run (its resume and `mockingjay_local` call `torch.load` without choosing, which
torch >= 2.6 runs weights-only).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from .checkpoint import CheckpointError


def s3prl_safe_globals() -> list[Any]:
    """The classes s3prl's runners pickle: argparse.Namespace and s3prl's learning-rate schedules, the latter
    under both names they are pickled with (`optimizers.X` from run_*.py, `s3prl.optimizers.X` from imports)."""
    from s3prl import optimizers

    schedules = [obj for obj in vars(optimizers).values()
                 if isinstance(obj, type) and issubclass(obj, optimizers._LRSchedule)]
    allowed: list[Any] = [argparse.Namespace]
    for cls in schedules:
        allowed += [(cls, f"optimizers.{cls.__name__}"), (cls, f"s3prl.optimizers.{cls.__name__}")]
    return allowed


def allow_s3prl_checkpoints() -> None:
    """Let every weights-only load in this process (torch's default) read s3prl's own checkpoints."""
    torch.serialization.add_safe_globals(s3prl_safe_globals())


def read_states(path: str | os.PathLike) -> dict[str, Any]:
    """An s3prl checkpoint as a dict, loaded weights-only with s3prl's classes allowed; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with torch.serialization.safe_globals(s3prl_safe_globals()):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for corrupt or hostile files
        raise CheckpointError(
            f"{path}: cannot be read as an s3prl checkpoint with weights_only=True ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})"
        ) from error
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict at the top level, got {type(state).__name__}")
    return state
