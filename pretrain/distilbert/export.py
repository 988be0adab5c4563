"""`states-N.ckpt` (s3prl's pretraining checkpoint) -> the student file that `distilbert_local` loads."""
from __future__ import annotations

from pathlib import Path

from upstream_distilbert.checkpoint import CheckpointError, load_weights, save_student
from upstream_distilbert.config import ConfigError
from upstream_distilbert.model import AudioDistilBert
from upstream_distilbert.s3prl_states import read_states

from .config import PretrainConfig


def export_student(states_path: str | Path, out_path: str | Path) -> Path:
    """Write the student of a distilbert pretraining checkpoint as a weights-only student file, recording the
    teacher it was distilled from."""
    return save_student(student_of_states(states_path), out_path, teacher_record(states_path))


def teacher_record(states_path: str | Path) -> dict | None:
    """{expert, ckpt, sha256} of the teacher a distilbert pretraining run distils from (sha256 None for runs
    older than its recording, or a hub name's default model); None for a run without a teacher."""
    states = read_states(states_path)
    teacher = (states.get("Upstream_Config") or {}).get("teacher")
    if not teacher:
        return None
    return {"expert": str(teacher.get("expert", "")), "ckpt": str(teacher.get("ckpt", "")),
            "sha256": states.get("Teacher_Digest")}


def student_of_states(states_path: str | Path) -> AudioDistilBert:
    """The student of a distilbert pretraining checkpoint, its weights checked against its config."""
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
    return student
