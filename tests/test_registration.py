"""`audio-distilbert s3prl install|uninstall` on a copy of s3prl's files: atomic, recoverable, never destroying a
user's edits, and refusing an unsupported s3prl. (The literal commands on the real s3prl are in
test_s3prl_runners, the uninstalled package in test_wheel.)"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import s3prl

from downstream_hooks import registration
from downstream_hooks.patching import S3prlMismatch, module_with, patch
from downstream_hooks.registration import (
    LEGACY_HUB_BLOCKS,
    LEGACY_SHIMS,
    MARKER,
    PRETRAIN,
    UserEdited,
    install,
    s3prl_dir,
    uninstall,
)

from .conftest import run, tree_digest


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """s3prl's hub.py, pretrain/ and downstream/ctc/ folders, copied."""
    copy = tmp_path / "s3prl"
    copy.mkdir()
    shutil.copyfile(s3prl_dir() / "hub.py", copy / "hub.py")
    for folder in ("pretrain", "downstream/ctc"):
        shutil.copytree(s3prl_dir() / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_install_twice_then_uninstall_restores_every_byte(root: Path) -> None:
    before = tree_digest(root)
    assert install(root).hub_registered and install(root).pretrain_registered
    assert install(root).ctc_corpus_registered
    assert (root / "hub.py").read_text().count(registration.BLOCK_BEGIN) == 1
    assert not list((root / "pretrain").glob(f"{PRETRAIN.staging_prefix}*"))
    assert (root / "downstream/ctc/corpus/libriphone.py").read_text() == registration.LIBRIPHONE_SHIM
    status = uninstall(root)
    assert not (status.hub_registered or status.pretrain_registered or status.ctc_corpus_registered)
    assert tree_digest(root) == before


def test_leftovers_of_interrupted_runs_are_finished_or_undone(root: Path) -> None:
    before = tree_digest(root)
    # killed while assembling the folder: a staging copy is left beside s3prl's tasks
    (root / "pretrain" / f"{PRETRAIN.staging_prefix}abc").mkdir()
    (root / "pretrain" / f"{PRETRAIN.staging_prefix}abc" / "pretrain_expert.py").write_text("half")
    # an older version, killed after creating the folder and before its marker: ours by its shim
    half = root / "pretrain" / "distilbert"
    half.mkdir()
    (half / "pretrain_expert.py").write_text(LEGACY_SHIMS[0])
    install(root)
    assert (half / MARKER).is_file() and not list((root / "pretrain").glob(f"{PRETRAIN.staging_prefix}*"))
    uninstall(root)
    assert tree_digest(root) == before
    half.mkdir()
    (half / "pretrain_expert.py").write_text(LEGACY_SHIMS[0])
    (root / "hub.py").write_text((root / "hub.py").read_text() + LEGACY_HUB_BLOCKS[0])
    uninstall(root)  # what an older install left is removed too
    assert tree_digest(root) == before


def test_edited_files_are_neither_overwritten_nor_deleted(root: Path) -> None:
    install(root)
    config = root / "pretrain" / "distilbert" / "config_model.yaml"
    config.write_text(config.read_text() + "# my change\n")
    with pytest.raises(UserEdited, match="edited since; not deleting them"):
        uninstall(root)
    with pytest.raises(UserEdited, match="edited since; not overwriting them"):
        install(root)
    assert config.read_text().endswith("# my change\n")
    foreign = root / "pretrain" / "distilbert"
    shutil.rmtree(foreign)
    foreign.mkdir()
    (foreign / "pretrain_expert.py").write_text("# someone else's task\n")
    with pytest.raises(FileExistsError, match="not made by audio-distilbert"):
        install(root)
    uninstall(root)  # not ours: left alone
    assert (foreign / "pretrain_expert.py").read_text() == "# someone else's task\n"
    hub = root / "hub.py"
    hub.write_text(hub.read_text() + registration.HUB_BLOCK.replace("raise", "pass"))
    with pytest.raises(UserEdited, match="block was edited"):
        uninstall(root)


def test_s3prls_own_ctc_corpus_folder_is_used_and_kept(root: Path) -> None:
    """A source checkout of s3prl ships downstream/ctc/corpus/: install leaves it (and says so), uninstall keeps it;
    our own folder, once edited, is refused like the pretraining one."""
    own = root / "downstream/ctc/corpus"
    own.mkdir()
    (own / "libriphone.py").write_text("# s3prl's own\n")
    status = install(root)
    assert status.hub_registered and not status.ctc_corpus_registered
    assert "s3prl's own folder, left as it is" in status.describe()
    uninstall(root)
    assert (own / "libriphone.py").read_text() == "# s3prl's own\n"
    shutil.rmtree(own)
    install(root)
    (own / "libriphone.py").write_text((own / "libriphone.py").read_text() + "# my change\n")
    with pytest.raises(UserEdited, match="corpus: files audio-distilbert wrote there were edited since"):
        uninstall(root)
    assert (root / "pretrain" / "distilbert").is_dir()  # refused before anything was removed


def test_hub_is_replaced_atomically(root: Path) -> None:
    """A write that fails half-way leaves hub.py as it was and no temporary file."""
    hub = root / "hub.py"
    before = hub.read_bytes()
    with pytest.raises(UnicodeEncodeError):
        registration.atomic_write_text(hub, "x" * 100_000 + "\ud800")
    assert hub.read_bytes() == before
    assert sorted(p.name for p in root.iterdir()) == ["downstream", "hub.py", "pretrain"]


def test_an_unsupported_s3prl_is_refused_unless_forced(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3prl, "__version__", "0.5.0")
    with pytest.raises(S3prlMismatch, match=r"s3prl 0\.5\.0 .* supports s3prl 0\.4\.18"):
        install(root)
    assert "not supported: audio-distilbert supports 0.4.18" in registration.status(root).describe()
    assert install(root, force=True).hub_registered


def test_patching_a_missing_attribute_fails_loudly() -> None:
    import os
    import types

    target = types.SimpleNamespace(present=1)
    patch(target, "present", 2)
    assert target.present == 2
    with pytest.raises(S3prlMismatch, match="has no absent, which audio-distilbert patches"):
        patch(target, "absent", 3)
    with pytest.raises(S3prlMismatch, match="os has no no_such_function"):
        module_with(os, no_such_function=print)


def test_the_hub_block_leaves_torchs_weights_only_allow_list_alone() -> None:
    """What `s3prl install` adds to s3prl's hub.py imports our entries and nothing else: torch's allow-list of
    weights-only loading is the same for every other torch.load of a process that imports s3prl's hub. (The
    block of the previous version widened it for the whole process.)"""
    probe = ("import torch\nbefore = list(torch.serialization.get_safe_globals())\n{block}\n"
             "print(set(map(str, before)) == set(map(str, torch.serialization.get_safe_globals())), 'distilbert_local' in dir())")
    for block, expected in ((registration.HUB_BLOCK, "True True"), (registration.LEGACY_HUB_BLOCKS[1], "True True")):
        out = run([sys.executable, "-c", probe.format(block=block)]).stdout.split("\n")[-2]
        assert out == expected  # the old block still imports (its allow call is now a no-op)
