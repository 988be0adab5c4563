"""`states-N.ckpt` (s3prl's pretraining checkpoint) -> the student file that `distilbert_local` loads."""
from __future__ import annotations

from pathlib import Path

import torch

from downstream_hooks.registration import expose_s3prl_top_level
from upstream_distilbert.checkpoint import CheckpointError, load_weights, save_student
from upstream_distilbert.config import ConfigError
from upstream_distilbert.model import AudioDistilBert

from .config import PretrainConfig


def read_states(path: str | Path) -> dict:
    """Load an s3prl pretraining checkpoint. s3prl's runner pickles its argparse Namespace and its optimizer's
    schedule objects into it, so it cannot load weights-only: unpickle it in full (it is your own run's file),
    with s3prl's folder importable for those classes. The student file written from it is weights-only."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    expose_s3prl_top_level()  # s3prl's runner pickles classes of its top-level `optimizers` module
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - corrupt files fail in many ways
        raise CheckpointError(f"{path}: cannot be read as a pretraining checkpoint ({type(error).__name__}: {error})") from error


def export_student(states_path: str | Path, out_path: str | Path) -> Path:
    """Write the student of a distilbert pretraining checkpoint as a weights-only student file."""
    states = read_states(states_path)
    for key in ("Student", "Upstream_Config"):
        if key not in states:
            raise CheckpointError(
                f"{states_path}: missing key '{key}'; is this a states-N.ckpt of `run_pretrain.py -u distilbert`?"
            )
    try:
        config = PretrainConfig.load(states["Upstream_Config"])
    except ConfigError as error:
        raise CheckpointError(f"{states_path}: {error}") from error
    student = AudioDistilBert(config.model)
    load_weights(student, states["Student"], f"{states_path} 'Student'")
    return save_student(student, out_path)
