"""The exported student file: weights only, versioned, self-describing, loadable with `weights_only=True`.

    {"format": "audio-distilbert-student", "version": 1, "config": {transformer, audio}, "state_dict": {...},
     "teacher": {"expert": ..., "ckpt": ..., "sha256": ...}}      (the last optional: the teacher distilled from)

Every failure to load names the file and the offending key, and every write goes to a temporary file in the
same folder that is then renamed over the target, so a reader never sees half a checkpoint.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write
from .config import ConfigError, ModelConfig
from .errors import InputError
from .model import AudioDistilBert

STUDENT_FORMAT = "audio-distilbert-student"
STUDENT_VERSION = 1


class CheckpointError(InputError):
    """A checkpoint is missing, unreadable, or does not describe a model that its weights fit."""


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save `obj` to `path` atomically (`atomic.atomic_write`): a reader never sees half a checkpoint."""
    return atomic_write(path, lambda file: torch.save(obj, file))


def save_student(model: AudioDistilBert, path: str | os.PathLike, teacher: Mapping[str, Any] | None = None) -> Path:
    """Write `model` (weights on CPU, config as plain types) in the student format; `teacher` (expert, ckpt,
    sha256 of the teacher it was distilled from) is recorded under the optional key "teacher"."""
    state = {
        "format": STUDENT_FORMAT,
        "version": STUDENT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    if teacher is not None:
        state["teacher"] = dict(teacher)
    return atomic_save(state, path)


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(value: Any, path: Path, where: str = "the file") -> None:
    """Raise a CheckpointError unless `value` is made of tensors and plain values only, which is all our files
    hold: whatever else torch's weights-only loader let through (a class some code in the process allowed for
    its own files) is refused here, without touching that process-wide allow-list."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_plain(key, path, f"a key of {where}")
            _check_plain(item, path, f"key {key!r}" if where == "the file" else f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, path, where)
    elif not isinstance(value, _PLAIN):
        raise CheckpointError(f"{path}: {where} holds a {type(value).__module__}.{type(value).__name__}; our files "
                              "hold tensors and plain values only")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """torch.load with `weights_only=True`, turning every failure into a CheckpointError that names the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for corrupt or pickled files
        raise CheckpointError(
            f"{path}: cannot be read as a weights-only torch checkpoint ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected a dict at the top level, got {type(state).__name__}")
    _check_plain(state, path)
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
