"""The exported student file: weights only, versioned, self-describing, loadable with `weights_only=True`.

    {"format": "audio-distilbert-student", "version": 1, "config": {transformer, audio}, "state_dict": {...}}

Every failure to load names the file and the offending key, and every write goes to a temporary file in the
same folder that is then renamed over the target, so a reader never sees half a checkpoint.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, ModelConfig
from .model import AudioDistilBert

STUDENT_FORMAT = "audio-distilbert-student"
STUDENT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not describe a model that its weights fit."""


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save to a temporary file beside `path`, fsync it, then rename it over `path` (with the permissions a
    plain open() would give it: mkstemp makes files private)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_student(model: AudioDistilBert, path: str | os.PathLike) -> Path:
    """Write `model` (weights on CPU, config as plain types) in the student format."""
    state = {
        "format": STUDENT_FORMAT,
        "version": STUDENT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    return atomic_save(state, path)


@contextmanager
def _plain_weights_only() -> Iterator[None]:
    """torch's weights-only loader without the classes this process allowed for s3prl's checkpoints
    (`s3prl_states`): our files hold tensors and plain types only, and must not load anything else."""
    allowed = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.add_safe_globals(allowed)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """torch.load with `weights_only=True`, turning every failure into a CheckpointError that names the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with _plain_weights_only():
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for corrupt or pickled files
        raise CheckpointError(
            f"{path}: cannot be read as a weights-only torch checkpoint ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected a dict at the top level, got {type(state).__name__}")
    return dict(state)


def load_student(path: str | os.PathLike) -> AudioDistilBert:
    """Rebuild the model saved at `path`, checking format, version, config and every weight's shape."""
    state = read_checkpoint(path)
    for key in ("format", "version", "config", "state_dict"):
        if key not in state:
            raise CheckpointError(f"{path}: missing key '{key}' (found {sorted(map(str, state))})")
    if state["format"] != STUDENT_FORMAT:
        raise CheckpointError(f"{path}: key 'format' is {state['format']!r}, expected {STUDENT_FORMAT!r}")
    version = state["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: key 'version' is {version!r}, expected a positive integer")
    if version > STUDENT_VERSION:
        raise CheckpointError(
            f"{path}: key 'version' is {version}, newer than {STUDENT_VERSION}, the newest this audio-distilbert "
            "reads; upgrade audio-distilbert"
        )
    try:
        config = ModelConfig.from_dict(state["config"], where="config")
    except ConfigError as error:
        raise CheckpointError(f"{path}: {error}") from error
    return model_with_weights(config, state["state_dict"], str(path))


def model_with_weights(config: ModelConfig, state_dict: Any, source: str) -> AudioDistilBert:
    """The model of `config` holding `state_dict`, checked (`check_weights`) before anything is allocated."""
    with torch.device("meta"):  # shapes only: nothing is allocated until the weights are known to fit
        skeleton = AudioDistilBert(config)
    check_weights(skeleton.state_dict(), state_dict, source)
    model = AudioDistilBert(config)
    model.load_state_dict(state_dict)
    return model


def check_weights(expected: Mapping[str, torch.Tensor], state_dict: Any, source: str) -> None:
    """Raise a CheckpointError naming `source` and each missing, unexpected, misshapen, non-float or non-finite
    weight of `state_dict` against the tensors a model `expected`."""
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(f"{source}: key 'state_dict' is {type(state_dict).__name__}, expected a dict of tensors")
    problems = [f"missing key '{k}'" for k in expected if k not in state_dict]
    problems += [f"unexpected key '{k}'" for k in state_dict if k not in expected]
    for key, value in state_dict.items():
        if key not in expected:
            continue
        if not torch.is_tensor(value):
            problems.append(f"key '{key}' is {type(value).__name__}, expected a tensor")
        elif value.shape != expected[key].shape:
            problems.append(f"key '{key}' has shape {tuple(value.shape)}, the config needs {tuple(expected[key].shape)}")
        elif value.dtype != expected[key].dtype and not (value.is_floating_point() and expected[key].is_floating_point()):
            problems.append(f"key '{key}' has dtype {value.dtype}, expected {expected[key].dtype}")
        elif value.is_floating_point() and not bool(torch.isfinite(value).all()):
            problems.append(f"key '{key}' holds {int((~torch.isfinite(value)).sum())} NaN or infinite value(s)")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(f"{source}: the weights do not fit the config: {shown}")


def load_weights(model: torch.nn.Module, state_dict: Any, source: str) -> None:
    """load_state_dict after `check_weights`, so a bad file is an error that names it."""
    check_weights(model.state_dict(), state_dict, source)
    model.load_state_dict(state_dict)
