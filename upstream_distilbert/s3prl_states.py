"""s3prl's runner checkpoints (`states-N.ckpt`), read weights-only.

s3prl's runners pickle an argparse `Namespace` (`Args`) into every checkpoint and, with its `*_with_schedule`
optimizers, a learning-rate schedule object inside the optimizer state. Those few classes are allowed by name
(torch's safe globals); anything else a file asks to build (a crafted pickle) is refused, so no checkpoint is
ever fully unpickled by `export`, `convert` or `bench`, nor by s3prl's runners inside
`s3prl_checkpoints_allowed()` (they call `torch.load` without choosing, which torch >= 2.6 runs weights-only); the
allowance ends with that block, so nobody else's `torch.load` in the process is widened.
s3prl's own `mockingjay_local` (and tera, audio_albert) unpickles its file whole: `convert` turns such a file into
ours once, after which it loads weights-only; `unpickle_states` is that command's explicit opt-in for old files.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
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
    """Does nothing: kept so that the `s3prl/hub.py` block an earlier `audio-distilbert s3prl install` wrote still
    imports. That block used it to widen torch's allow-list for the whole process; `s3prl install` replaces it."""


@contextmanager
def s3prl_checkpoints_allowed() -> Iterator[None]:
    """Within this block, weights-only loads (torch's default) also read s3prl's own checkpoints: for s3prl code
    that calls `torch.load` itself (its runners' resume, its upstreams). torch's `safe_globals` context."""
    with torch.serialization.safe_globals(s3prl_safe_globals()):
        yield


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


def newest_states(folder: str | os.PathLike) -> Path:
    """The `states-*.ckpt` of a run folder with the most steps done, as recorded in each (not by file time or
    name: s3prl names the last one of a run by its epoch)."""
    folder = Path(folder)
    steps = {path: int(read_states(path)["Step"]) for path in folder.glob("states-*.ckpt")}
    if not steps:
        raise CheckpointError(f"{folder}: no states-*.ckpt in this folder")
    return max(steps, key=steps.__getitem__)


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
