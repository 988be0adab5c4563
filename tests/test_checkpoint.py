"""The exported student file: contract, validation errors, atomic writes."""
from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import pytest
import torch

from upstream_distilbert import AudioDistilBert, CheckpointError, load_student, save_student
from upstream_distilbert.checkpoint import STUDENT_FORMAT, atomic_save

from .conftest import tiny_config


def test_student_file_meets_the_contract(student_ckpt: Path) -> None:
    state = torch.load(student_ckpt, weights_only=True)
    assert state["format"] == STUDENT_FORMAT
    assert isinstance(state["version"], int)
    assert state["config"]["transformer"]["hidden_size"] == 32
    assert state["config"]["audio"]["kaldi"]["fbank"]["num_mel_bins"] == 80
    assert all(torch.is_tensor(v) for v in state["state_dict"].values())


def test_round_trip_keeps_weights_and_config(tmp_path: Path) -> None:
    model = AudioDistilBert(tiny_config(pre_layer_norm=True))
    model.prune_heads({0: [1]})
    loaded = load_student(save_student(model, tmp_path / "s.ckpt"))
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def _edit(student_ckpt: Path, tmp_path: Path, edit) -> Path:
    state = torch.load(student_ckpt, weights_only=True)
    edit(state)
    path = tmp_path / "edited.ckpt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.update(format="mockingjay"), "key 'format' is 'mockingjay'"),
        (lambda s: s.update(version=99), "key 'version' is 99, newer than 1"),
        (lambda s: s.pop("state_dict"), "missing key 'state_dict'"),
        (lambda s: s.pop("config"), "missing key 'config'"),
        (lambda s: s["config"]["transformer"].update(hidden_size=64), "key 'encoder.embedding.spec_transform.weight' has shape"),
        (lambda s: s["config"]["transformer"].update(num_hidden_layers=3), "missing key 'encoder.layers.2"),
        (lambda s: s["config"]["transformer"].update(hiden_size=3), "config.transformer: unknown key"),
        (lambda s: s["state_dict"].update(extra=torch.zeros(1)), "unexpected key 'extra'"),
        (lambda s: s.update(version=True), "key 'version' is True, expected a positive integer"),
        (lambda s: s["config"]["transformer"].update(hidden_size=2**40, num_attention_heads=1),
         "hidden_size: expected an integer in 1..16384, got 1099511627776"),
        (lambda s: s["config"]["transformer"].update(num_hidden_layers=10**6), "num_hidden_layers: expected an integer"),
        (lambda s: s["config"]["audio"]["kaldi"]["fbank"].update(num_mel_bins=10**7), "num_mel_bins: expected an integer up to 1024"),
        (lambda s: s["state_dict"].update({"encoder.final_norm": 1}), "unexpected key 'encoder.final_norm'"),
        (lambda s: s["state_dict"].update({"spec_head.output.bias": torch.zeros(80, dtype=torch.int64)}),
         "key 'spec_head.output.bias' has dtype torch.int64, expected torch.float32"),
        (lambda s: s["state_dict"]["spec_head.output.bias"].__setitem__(3, float("nan")),
         "key 'spec_head.output.bias' holds 1 NaN or infinite value(s)"),
    ],
    ids=["format", "newer-version", "no-state-dict", "no-config", "shape", "missing-layer", "typo", "extra-key",
         "bool-version", "huge-width", "huge-depth", "huge-mel", "non-tensor", "int-weights", "nan-weights"],
)
def test_bad_student_files_name_file_and_key(student_ckpt: Path, tmp_path: Path, edit, message: str) -> None:
    path = _edit(student_ckpt, tmp_path, edit)
    with pytest.raises(CheckpointError) as error:
        load_student(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_missing_corrupt_and_pickled_files_are_clear_errors(student_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_student(tmp_path / "absent.ckpt")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(student_ckpt.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=f"{corrupt}: cannot be read"):
        load_student(corrupt)
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"Args": Namespace(a=1)}, pickled)  # what s3prl's runners write: not weights-only
    with pytest.raises(CheckpointError, match=f"{pickled}: cannot be read as a weights-only"):
        load_student(pickled)
    from upstream_distilbert.s3prl_states import s3prl_checkpoints_allowed

    before = torch.serialization.get_safe_globals()
    with s3prl_checkpoints_allowed():  # allowed for s3prl's own files here, still refused as ours
        with pytest.raises(CheckpointError, match=f"{pickled}: key 'Args' holds a argparse.Namespace; our files"):
            load_student(pickled)
    assert set(map(str, torch.serialization.get_safe_globals())) == set(map(str, before))  # the allowance ended
    torch.serialization.add_safe_globals([Namespace])  # someone else's process-wide allowance: still refused
    try:
        with pytest.raises(CheckpointError, match="holds a argparse.Namespace"):
            load_student(pickled)
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(before)


class _FailsHalfway:
    """Pickling this raises, so torch.save dies after it has started writing."""

    def __reduce__(self):
        raise RuntimeError("killed mid-save")


def test_a_failed_save_leaves_the_previous_file_whole(student_ckpt: Path, tmp_path: Path) -> None:
    target = tmp_path / "student.ckpt"
    target.write_bytes(student_ckpt.read_bytes())
    with pytest.raises(RuntimeError, match="killed mid-save"):
        atomic_save({"weights": torch.zeros(1000), "bad": _FailsHalfway()}, target)
    assert target.read_bytes() == student_ckpt.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["student.ckpt"]


def test_a_saved_file_gets_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    """mkstemp's temporary file is private (0600); the renamed checkpoint must not stay so."""
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    saved = atomic_save({"weights": torch.zeros(3)}, tmp_path / "saved.ckpt")
    assert saved.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 != 0o600


def test_stale_temporaries_of_dead_processes_are_removed_and_nothing_else(tmp_path: Path) -> None:
    """Only temporaries of our naming whose process (on this host) is gone; a live writer's and other files stay."""
    import os
    import subprocess
    import sys

    from upstream_distilbert.atomic import remove_stale_temporaries, temporary_path

    dead = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
                           "from upstream_distilbert.atomic import temporary_path; print(temporary_path(sys.argv[2]))",
                           str(Path(__file__).resolve().parents[1]), str(tmp_path / "states-20.ckpt")],
                          capture_output=True, text=True, check=True).stdout.strip()
    live = temporary_path(tmp_path / "states-30.ckpt")  # this process's: still writing
    others = [tmp_path / ".states-20.ckpt.tmp", tmp_path / "states-20.ckpt.x.tmp", tmp_path / ".cache.otherhost-1.abcdefgh.tmp"]
    for path in others:
        path.write_text("not ours to delete\n")
    assert str(os.getpid()) in live.name
    assert remove_stale_temporaries(tmp_path) == [Path(dead)]
    assert live.exists() and all(p.exists() for p in others) and not Path(dead).exists()
