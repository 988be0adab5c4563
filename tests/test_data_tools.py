"""`prepare` (length CSVs) and `extract` (representations) on real FLAC folders."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

from distilbert_cli.extract import extract
from distilbert_corpus.corpus import build_corpus
from distilbert_corpus.prepare import prepare_length_csvs

from .conftest import cli, run


@pytest.fixture(scope="module")
def libri(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in corpus (2 speakers x 2 utterances), with one speaker copied into a second set folder."""
    root = tmp_path_factory.mktemp("prep")
    build_corpus(root, speakers=2, utterances_per_speaker=2, test_voices=1)
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
    with pytest.raises(FileNotFoundError, match="no such folder"):
        prepare_length_csvs(tmp_path / "absent", tmp_path / "out")
    broken = tmp_path / "broken" / "train-clean-100" / "1" / "2"
    broken.mkdir(parents=True)
    (broken / "1-2-0000.flac").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="1-2-0000.flac: cannot read audio"):
        prepare_length_csvs(tmp_path / "broken", tmp_path / "out")


def test_extract_all_layers_or_one_at_any_precision(libri: Path, student_ckpt: Path, tmp_path: Path) -> None:
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
    assert extract(student_ckpt, wav_dir, tmp_path / "int8", precision="int8") == (2, 0)
    for flac in flacs:
        rel = flac.relative_to(wav_dir).with_suffix(".pt")
        every, int8 = (torch.load(tmp_path / d / rel, weights_only=True) for d in ("all", "int8"))
        assert int8.dtype == torch.float32 and int8.shape == every.shape and not torch.equal(int8[1:], every[1:])
        assert torch.nn.functional.cosine_similarity(int8[1:], every[1:], dim=-1).min() > 0.99
    with pytest.raises(ValueError, match=r"precision must be one of \['fp32', 'bf16', 'int8'\], got 'fp8'"):
        extract(student_ckpt, wav_dir, tmp_path / "fp8", precision="fp8")


def _bad_copies(libri: Path, folder: Path) -> dict[str, Path]:
    """Unusable variants of a real corpus utterance, each in its own LibriSpeech-layout file."""
    audio, rate = soundfile.read(str(next(libri.rglob("*.flac"))), dtype="float32")
    folder.mkdir(parents=True)
    bad = {"stereo": folder / "1-1-0001.flac", "8khz": folder / "1-1-0002.flac", "short": folder / "1-1-0003.flac",
           "corrupt": folder / "1-1-0004.flac"}
    soundfile.write(str(bad["stereo"]), np.stack([audio, audio], axis=1), rate)
    soundfile.write(str(bad["8khz"]), audio[::2], 8000)
    soundfile.write(str(bad["short"]), audio[:300], rate)
    bad["corrupt"].write_bytes(b"fLaC not really")
    soundfile.write(str(folder / "1-1-0000.flac"), audio, rate)  # one good file beside them
    return bad


def test_prepare_lists_every_unusable_file(libri: Path, tmp_path: Path) -> None:
    bad = _bad_copies(libri, tmp_path / "root" / "train-clean-100" / "1" / "1")
    proc = subprocess.run([*cli(), "prepare", str(tmp_path / "root"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "4 unusable audio file(s)" in proc.stderr
    assert f"{bad['stereo']}: 2 channels, expected mono audio" in proc.stderr
    assert f"{bad['8khz']}: sample rate 8000 Hz, expected 16000 Hz" in proc.stderr
    assert f"{bad['short']}: 300 samples, expected at least 560" in proc.stderr
    assert f"{bad['corrupt']}: cannot read audio" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing written from a bad folder


def test_corpus_never_deletes_what_it_did_not_write(tmp_path: Path) -> None:
    from distilbert_corpus.corpus import COMPLETE_MARK, is_complete

    real = tmp_path / "data"
    (real / "LibriSpeech" / "train-clean-100").mkdir(parents=True)
    (real / "LibriSpeech" / "train-clean-100" / "mine.flac").write_bytes(b"a real recording")
    proc = subprocess.run([*cli(), "corpus", str(real), "--speakers", "3", "--utterances-per-speaker", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "not written by `audio-distilbert corpus`" in proc.stderr
    assert (real / "LibriSpeech" / "train-clean-100" / "mine.flac").read_bytes() == b"a real recording"
    ours = tmp_path / "ours"
    build_corpus(ours, speakers=2, utterances_per_speaker=1, test_voices=1)
    assert is_complete(ours)
    (ours / COMPLETE_MARK).unlink()  # as if killed before the end: not taken for a finished corpus
    assert not is_complete(ours)
    build_corpus(ours, speakers=2, utterances_per_speaker=1, test_voices=1)  # its own folders: replaced
    assert is_complete(ours) and len(list((ours / "LibriSpeech").rglob("*.flac"))) == 2


def test_extract_refuses_clashing_names_names_a_bad_file_and_skips_finished_ones(libri: Path, student_ckpt: Path,
                                                                                  tmp_path: Path) -> None:
    from distilbert_cli.extract import extract

    wavs = tmp_path / "wavs"
    wavs.mkdir()
    audio, rate = soundfile.read(str(next(libri.rglob("*.flac"))), dtype="float32")
    soundfile.write(str(wavs / "x.flac"), audio, rate)
    soundfile.write(str(wavs / "x.wav"), audio, rate)
    with pytest.raises(ValueError, match=r"would write the same output file, so one would be lost: .*x\.flac and .*x\.wav"):
        extract(student_ckpt, wavs, tmp_path / "out")
    (wavs / "x.wav").unlink()
    soundfile.write(str(wavs / "y.wav"), audio[:300], rate)
    with pytest.raises(ValueError, match=rf"{wavs / 'y.wav'}: 300 samples is too short"):
        extract(student_ckpt, wavs, tmp_path / "out")
    (wavs / "y.wav").unlink()
    soundfile.write(str(wavs / "z.wav"), audio[: len(audio) // 2], rate)
    assert extract(student_ckpt, wavs, tmp_path / "out") == (1, 1)  # x.pt, written before y failed, is kept
    first = (tmp_path / "out" / "x.pt").stat().st_mtime_ns
    (tmp_path / "out" / "z.pt").unlink()  # as if the run had stopped before z
    assert extract(student_ckpt, wavs, tmp_path / "out") == (1, 1)
    assert (tmp_path / "out" / "x.pt").stat().st_mtime_ns == first


def test_extract_refuses_to_continue_a_folder_made_differently(libri: Path, student_ckpt: Path, tmp_path: Path) -> None:
    """extract.json records checkpoint, layer, precision and chunking; a rerun into that folder with another of
    them would mix features made differently, so it is refused, naming what differs."""
    import json

    from upstream_distilbert import AudioDistilBert, save_student

    from .conftest import tiny_config

    wav_dir, out = libri / "test-clean", tmp_path / "out"
    assert extract(student_ckpt, wav_dir, out, layer=-1) == (2, 0)
    made = json.loads((out / "extract.json").read_text())
    assert made["layer"] == 2 and made["precision"] == "fp32" and len(made["ckpt_sha256"]) == 64
    assert extract(student_ckpt, wav_dir, out, layer=2) == (0, 2)  # the same settings: continues
    with pytest.raises(FileExistsError, match=r"made with layer 2; this extraction would add files made with layer 1"):
        extract(student_ckpt, wav_dir, out, layer=1)
    with pytest.raises(FileExistsError, match="precision 'fp32'.*precision 'int8'"):
        extract(student_ckpt, wav_dir, out, layer=2, precision="int8")
    other = save_student(AudioDistilBert(tiny_config()), tmp_path / "other.ckpt")
    with pytest.raises(FileExistsError, match="ckpt_sha256"):
        extract(other, wav_dir, out, layer=2)
    (out / "extract.json").unlink()  # .pt files nobody can vouch for
    proc = subprocess.run([*cli(), "extract", "--ckpt", str(student_ckpt), "--wav-dir", str(wav_dir), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "holds .pt files but no extract.json" in proc.stderr
