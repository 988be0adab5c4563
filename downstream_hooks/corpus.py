"""`audio-distilbert corpus`: a LibriSpeech-layout corpus with exact frame-level phone labels, synthesized here.

flite renders each sentence and reports the end time of every phone it rendered, so labels need no aligner.
Speakers are flite voices at several pitches and speaking rates. Output (s3prl's layouts):

    OUT/LibriSpeech/train-clean-100/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac   16 kHz mono
    OUT/cpc_phone/converted_aligned_phones.txt   <utt> <label> ...   one label per 10 ms, n_samples // 160
    OUT/cpc_phone/{train,test}_split.txt         whole speakers held out for test
    OUT/len_for_bucket/train-clean-100.csv       lengths for bucketing (phone_linear's bucket_file)
    OUT/len_for_bucket/train-speakers.csv        the same without the held-out speakers: what pretraining reads
                                                 (datarc.sets: [train-speakers]), so no model hears a test voice

Each utterance's sentence and voice settings derive from (seed, speaker, utterance), so a seed gives the same
corpus with any number of jobs. An utterance whose labels and audio disagree by more than 2 frames is dropped.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile
from tqdm import tqdm

from .phones import CLASSES, SILENCE, sentence
from .prepare import prepare_length_csvs

RATE = 16000
HOP = 160
TOLERANCE_FRAMES = 2
CHAPTER = 1
SET_NAME = "train-clean-100"
PRETRAIN_SET = "train-speakers"
# (voice, mean F0 in Hz for each variant); variants also change the speaking rate.
VOICES = (("slt", (175, 215, 150)), ("rms", (100, 125, 85)), ("awb", (110, 140, 95)), ("kal16", (105, 130, 90)))
STRETCH = (1.0, 1.15, 0.88)


@dataclass(frozen=True)
class Speaker:
    id: int
    voice: str
    f0: int
    stretch: float


def make_speakers(count: int) -> list[Speaker]:
    """`count` distinct speakers: every voice at its first variant, then the next variants."""
    if not 1 <= count <= len(VOICES) * len(STRETCH):
        raise ValueError(f"--speakers {count}: expected 1..{len(VOICES) * len(STRETCH)}")
    return [Speaker(100 + i, VOICES[i % len(VOICES)][0], VOICES[i % len(VOICES)][1][i // len(VOICES)],
                    STRETCH[i // len(VOICES)]) for i in range(count)]


def synthesize(speaker: Speaker, text: str, wav: Path) -> list[tuple[str, float]]:
    """Render `text` into `wav`; return (phone, end seconds) for every phone flite rendered."""
    command = ["flite", "-voice", speaker.voice, "-psdur", "--setf", f"duration_stretch={speaker.stretch}",
               "--setf", f"int_f0_target_mean={speaker.f0}", "-t", text, "-o", str(wav)]
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    phones = []
    for token in proc.stdout.split():
        phone, _, end = token.rpartition(":")
        phones.append((phone, float(end)))
    if not phones:
        raise RuntimeError(f"flite printed no phone timings for {text!r} ({speaker.voice})")
    return phones


def frame_labels(phones: list[tuple[str, float]], num_samples: int) -> list[int] | None:
    """The class of the phone at each 10 ms frame's centre, `num_samples // 160` of them; None when the audio
    and the timings disagree by more than 2 frames (a voice may cut trailing silence: that is not counted)."""
    unknown = sorted({p for p, _ in phones} - set(CLASSES))
    if unknown:
        raise ValueError(f"flite rendered phone(s) {unknown} outside the 41 classes")
    ends = np.array([end for _, end in phones]) * RATE
    speech = [end for (p, _), end in zip(phones, ends) if CLASSES[p] != SILENCE]
    speech_end = speech[-1] if speech else 0.0
    slack = TOLERANCE_FRAMES * HOP
    if num_samples > ends[-1] + slack or num_samples < speech_end - slack:
        return None
    centres = np.arange(num_samples // HOP) * HOP + HOP / 2
    index = np.minimum(np.searchsorted(ends, centres, side="right"), len(phones) - 1)
    return [CLASSES[phones[i][0]] for i in index]


@dataclass(frozen=True)
class Job:
    out: Path
    speaker: Speaker
    utterance: int
    seed: int


def render(job: Job) -> tuple[str, int, list[int]] | None:
    """Synthesize one utterance to FLAC; return (utterance id, samples, labels), or None if dropped."""
    rng = random.Random(f"{job.seed}-{job.speaker.id}-{job.utterance}")
    utt_id = f"{job.speaker.id}-{CHAPTER}-{job.utterance:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "u.wav"
        phones = synthesize(job.speaker, sentence(rng), wav)
        audio, rate = soundfile.read(str(wav), dtype="float32")
    if rate != RATE or audio.ndim != 1:
        raise RuntimeError(f"flite voice {job.speaker.voice} wrote {rate} Hz, {audio.ndim}-D audio; expected 16 kHz mono")
    labels = frame_labels(phones, len(audio))
    if labels is None:
        return None
    flac = job.out / "LibriSpeech" / SET_NAME / str(job.speaker.id) / str(CHAPTER) / f"{utt_id}.flac"
    flac.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(flac), audio, RATE, format="FLAC")
    return utt_id, len(audio), labels


@dataclass(frozen=True)
class CorpusReport:
    utterances: int
    dropped: int
    train_speakers: tuple[int, ...]
    test_speakers: tuple[int, ...]
    seconds: float


def build_corpus(out: str | Path, speakers: int = 8, utterances_per_speaker: int = 120, seed: int = 0,
                 jobs: int = 2, test_speakers: int = 2) -> CorpusReport:
    """Write the whole corpus under `out` (replacing an earlier one there)."""
    if shutil.which("flite") is None:
        raise FileNotFoundError("flite is not installed: apt-get install flite (scripts/dev.sh does this)")
    out = Path(out)
    people = make_speakers(speakers)
    if not 1 <= test_speakers < speakers:
        raise ValueError(f"test speakers {test_speakers}: expected 1..{speakers - 1} of {speakers} speakers")
    for sub in ("LibriSpeech", "cpc_phone", "len_for_bucket"):
        shutil.rmtree(out / sub, ignore_errors=True)
    work = [Job(out, s, u, seed) for s in people for u in range(utterances_per_speaker)]
    with Pool(jobs) as pool:
        results = list(tqdm(pool.imap(render, work, chunksize=4), total=len(work), desc="corpus", unit="utt"))
    kept = sorted(r for r in results if r is not None)
    held_out = sorted(random.Random(seed).sample([s.id for s in people], test_speakers))
    phone_dir = out / "cpc_phone"
    phone_dir.mkdir(parents=True)
    (phone_dir / "converted_aligned_phones.txt").write_text(
        "".join(f"{utt} {' '.join(map(str, labels))}\n" for utt, _, labels in kept))
    for name, wanted in (("train_split.txt", False), ("test_split.txt", True)):
        ids = [utt for utt, _, _ in kept if (int(utt.split("-")[0]) in held_out) == wanted]
        (phone_dir / name).write_text("".join(f"{utt}\n" for utt in ids))
    lengths = prepare_length_csvs(out / "LibriSpeech", out / "len_for_bucket")[SET_NAME]
    table = pd.read_csv(lengths, index_col=0)
    speaker = table["file_path"].str.split("/").str[1].astype(int)
    table[~speaker.isin(held_out)].reset_index(drop=True).to_csv(lengths.with_name(f"{PRETRAIN_SET}.csv"))
    return CorpusReport(len(kept), len(work) - len(kept), tuple(s.id for s in people if s.id not in held_out),
                        tuple(held_out), sum(n for _, n, _ in kept) / RATE)
