"""`prepare` (length CSVs) and `extract` (representations) on real FLAC folders."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import soundfile
import torch

from downstream_hooks.corpus import build_corpus
from downstream_hooks.prepare import prepare_length_csvs

from .conftest import cli, run


@pytest.fixture(scope="module")
def libri(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in corpus (2 speakers x 2 utterances), with one speaker copied into a second set folder."""
    root = tmp_path_factory.mktemp("prep")
    build_corpus(root, speakers=2, utterances_per_speaker=2, test_speakers=1)
    shutil.copytree(root / "LibriSpeech" / "train-clean-100" / "101", root / "LibriSpeech" / "test-clean" / "101")
    return root / "LibriSpeech"


def test_prepare_writes_s3prl_length_csvs(libri: Path, tmp_path: Path) -> None:
    out = tmp_path / "len_for_bucket"
    proc = run([*cli(), "prepare", str(libri), "--out", str(out)])
    assert "train-clean-100" in proc.stdout and "test-clean" in proc.stdout
    table = pd.read_csv(out / "train-clean-100.csv")
    assert list(table.columns) == ["Unnamed: 0", "file_path", "length", "label"]
    assert len(table) == 4 and table["length"].is_monotonic_decreasing
    assert len(pd.read_csv(out / "test-clean.csv")) == 2
    for rel, length in zip(table["file_path"], table["length"]):
        assert soundfile.info(str(libri / rel)).frames == length


def test_prepare_names_broken_input(libri: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such LibriSpeech folder"):
        prepare_length_csvs(tmp_path / "absent", tmp_path / "out")
    broken = tmp_path / "broken" / "train-clean-100" / "1" / "2"
    broken.mkdir(parents=True)
    (broken / "1-2-0000.flac").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="1-2-0000.flac: cannot read audio"):
        prepare_length_csvs(tmp_path / "broken", tmp_path / "out")


def test_extract_all_layers_or_one(libri: Path, student_ckpt: Path, tmp_path: Path) -> None:
    wav_dir = libri / "test-clean"
    run([*cli(), "extract", "--ckpt", str(student_ckpt), "--wav-dir", str(wav_dir), "--out", str(tmp_path / "all")])
    run([*cli(), "extract", "--ckpt", str(student_ckpt), "--wav-dir", str(wav_dir), "--out", str(tmp_path / "one"),
         "--layer", "2"])
    flacs = sorted(wav_dir.rglob("*.flac"))
    assert len(flacs) == 2
    for flac in flacs:
        rel = flac.relative_to(wav_dir).with_suffix(".pt")
        every = torch.load(tmp_path / "all" / rel, weights_only=True)
        frames = 1 + (soundfile.info(str(flac)).frames - 400) // 160
        assert every.shape == (3, frames, 32)
        assert torch.equal(torch.load(tmp_path / "one" / rel, weights_only=True), every[2])
