"""s3prl's runner checkpoints (`states-N.ckpt`), read weights-only.

s3prl's runners pickle an argparse `Namespace` (`Args`) into every checkpoint and, with its `*_with_schedule`
optimizers, a learning-rate schedule object inside the optimizer state. Those few classes are allowed by name
(torch's safe globals); anything else a file asks to build (a crafted pickle) is refused, so no checkpoint is
ever fully unpickled by `export`, `convert` or `bench`, nor by s3prl's pretraining resume once
`allow_s3prl_checkpoints()` has run (it calls `torch.load` without choosing, which torch >= 2.6 runs weights-only).
s3prl's own `mockingjay_local` (and tera, audio_albert) unpickles its file whole: `convert` turns such a file into
ours once, after which it loads weights-only; `unpickle_states` is that command's explicit opt-in for old files.
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


def unpickle_states(path: str | os.PathLike) -> dict[str, Any]:
    """An s3prl checkpoint fully unpickled, for files that hold other classes than `read_states` allows (older
    released checkpoints pickle their schedule under s3prl's pre-package `optimizers` module). Unpickling runs
    code the file names: only for files the user trusts, and only when asked for by name (`convert --trust-pickle`)."""
    import sys

    from s3prl import optimizers

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    previous = sys.modules.get("optimizers")
    sys.modules["optimizers"] = optimizers
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - torch and pickle raise many types for corrupt files
        raise CheckpointError(f"{path}: cannot be unpickled as an s3prl checkpoint ({type(error).__name__}: {error})") from error
    finally:
        if previous is None:
            sys.modules.pop("optimizers", None)
        else:
            sys.modules["optimizers"] = previous
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict at the top level, got {type(state).__name__}")
    return state
