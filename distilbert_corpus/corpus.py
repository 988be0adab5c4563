"""`audio-distilbert corpus`: a LibriSpeech-layout corpus with exact frame-level phone labels, synthesized here.

Synthesizers that report the timing of every phone they rendered (`synthesizers`: flite, and optionally espeak-ng
with MBROLA voices and festival's diphone voices as extra speakers) make labels that need no aligner; `text` says
what they read (open-vocabulary sentences by default, the held-out speakers' from words no training sentence
has). Output (s3prl's layouts):

    OUT/LibriSpeech/train-clean-100/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac   16 kHz mono
    OUT/LibriSpeech/train-clean-100/<spk>/<chapter>/<spk>-<chapter>.trans.txt   <utt> SENTENCE IN CAPITALS
    OUT/cpc_phone/converted_aligned_phones.txt   <utt> <label> ...   one label per 10 ms, n_samples // 160
    OUT/cpc_phone/{train,test}_split.txt         whole speakers held out for test
    OUT/len_for_bucket/train-clean-100.csv       lengths for bucketing (phone_linear's bucket_file)
    OUT/len_for_bucket/train-speakers.csv        the same without the held-out speakers: what pretraining reads
                                                 (datarc.sets: [train-speakers]), so no model hears a test voice
    OUT/asr/{train-clean-100,dev-clean,test-clean}.csv, OUT/asr/char.dict
                                                 s3prl's asr task (bucket_file, dict_path): train and dev from the
                                                 training speakers (every tenth utterance is dev), test the held-out
    OUT/superb_pr/{train,dev,test}.csv, OUT/superb_pr/phones.txt
                                                 SUPERB phoneme recognition (s3prl's ctc, corpus libriphone): the
                                                 same splits as asr, `wav_path` relative to that folder and
                                                 `transcription` the rendered phones (`phones.pr_phones`)
    OUT/corpus.json                              how it was made (the completion mark: written last)

Each utterance's sentence and voice settings derive from (seed, speaker, utterance), so a seed gives the same
corpus with any number of jobs. An utterance whose labels and audio disagree by more than 2 frames is dropped.
"""
from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import soundfile
from tqdm import tqdm

from upstream_distilbert.errors import InputError, RefusedError

from .phones import CLASSES, PR_PHONES, SILENCE, pr_phones
from .prepare import prepare_length_csvs
from .synthesizers import Speaker, check_installed, make_speakers
from .text import TEXTS, VOCABULARIES, sentence, vocabularies

RATE = 16000
HOP = 160
TOLERANCE_FRAMES = 2
CHAPTER = 1
SET_NAME = "train-clean-100"
PRETRAIN_SET = "train-speakers"
ASR_SETS = {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}  # s3prl asr's split names
ASR_CHARACTERS = "|'ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # s3prl asr's units: `|` between words
DEV_EVERY = 10  # every tenth utterance of a training speaker is ASR dev
PR_FOLDER, PR_VOCABULARY = "superb_pr", "phones.txt"
SUBFOLDERS = ("LibriSpeech", "cpc_phone", "len_for_bucket", "asr", PR_FOLDER)
OWNED_MARK = ".audio-distilbert-corpus"  # written first: the subfolders beside it are ours to replace
COMPLETE_MARK = "corpus.json"  # written last: the corpus is whole, and how it was made


def is_complete(out: str | Path) -> bool:
    """Whether `out` holds a corpus whose build finished."""
    return (Path(out) / COMPLETE_MARK).is_file()


def transcripts(out: str | Path) -> dict[str, str]:
    """{utterance id: sentence in capitals} of every `*.trans.txt` under `out`'s LibriSpeech folder."""
    lines = {}
    for path in sorted((Path(out) / "LibriSpeech").rglob("*.trans.txt")):
        for line in path.read_text().splitlines():
            utt, _, words = line.partition(" ")
            lines[utt] = words
    return lines


def _claim(out: Path) -> None:
    """Make `out` ready for a new corpus: remove what an earlier `corpus` run wrote there, and refuse to touch
    subfolders that it did not write (a real LibriSpeech, say)."""
    present = [name for name in SUBFOLDERS if (out / name).exists()]
    if present and not (out / OWNED_MARK).is_file():
        raise RefusedError(
            f"{out}: already holds {', '.join(present)}, not written by `audio-distilbert corpus` (no {OWNED_MARK} "
            "there); not deleting them: give corpus an empty or new folder"
        )
    (out / COMPLETE_MARK).unlink(missing_ok=True)
    for name in present:
        shutil.rmtree(out / name)
    out.mkdir(parents=True, exist_ok=True)
    (out / OWNED_MARK).write_text("written by `audio-distilbert corpus`, which may replace "
                                  f"{', '.join(SUBFOLDERS)} here\n")


def frame_labels(phones: list[tuple[str, float]], num_samples: int) -> list[int] | None:
    """The class of the phone at each 10 ms frame's centre, `num_samples // 160` of them; None when the audio
    and the timings disagree by more than 2 frames (a voice may cut trailing silence: that is not counted)."""
    unknown = sorted({p for p, _ in phones} - set(CLASSES))
    if unknown:
        raise ValueError(f"synthesized phone(s) {unknown} outside the 41 classes")
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
    text: str  # TEXTS
    vocabulary: str  # the open text's vocabulary of this speaker


def utterance_sentence(job: Job) -> str:
    """The sentence of one utterance: a function of (seed, speaker, utterance) and the speaker's vocabulary."""
    return sentence(random.Random(f"{job.seed}-{job.speaker.id}-{job.utterance}"), job.text, job.vocabulary)


class Rendered(NamedTuple):
    utt: str  # utterance id
    samples: int
    labels: list[int]  # one phone class per 10 ms frame
    sentence: str
    phones: list[str]  # the phones it was rendered with, for phoneme recognition (`pr_phones`)



def render(job: Job) -> Rendered | None:
    """Synthesize one utterance to FLAC; return what the corpus's files need of it, or None if dropped."""
    utt_id = f"{job.speaker.id}-{CHAPTER}-{job.utterance:04d}"
    text = utterance_sentence(job)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "u.wav"
        phones = job.speaker.render(text, wav)
        audio, rate = soundfile.read(str(wav), dtype="float32")
    if rate != RATE or audio.ndim != 1:
        raise RuntimeError(f"{job.speaker.engine} voice {job.speaker.voice} wrote {rate} Hz, {audio.ndim}-D audio; "
                           "expected 16 kHz mono")
    labels = frame_labels(phones, len(audio))
    if labels is None:
        return None
    flac = job.out / "LibriSpeech" / SET_NAME / str(job.speaker.id) / str(CHAPTER) / f"{utt_id}.flac"
    flac.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(flac), audio, RATE, format="FLAC")
    return Rendered(utt_id, len(audio), labels, text, pr_phones([p for p, _ in phones]))


@dataclass(frozen=True)
class CorpusReport:
    utterances: int
    dropped: int
    train_speakers: tuple[int, ...]
    test_speakers: tuple[int, ...]
    seconds: float


def _write_transcripts(out: Path, kept: list[Rendered]) -> None:
    """LibriSpeech's `<spk>-<chapter>.trans.txt` beside each speaker's audio: `<utt> SENTENCE`, in capitals."""
    by_folder: dict[Path, list[str]] = {}
    for r in kept:
        spk, chapter, _ = r.utt.split("-")
        folder = out / "LibriSpeech" / SET_NAME / spk / chapter
        by_folder.setdefault(folder / f"{spk}-{chapter}.trans.txt", []).append(f"{r.utt} {r.sentence.upper()}\n")
    for path, lines in by_folder.items():
        path.write_text("".join(lines))


def _splits(table: pd.DataFrame, held_out: pd.Series) -> dict[str, pd.Series]:
    """train, dev and test rows of a length table: dev every DEV_EVERY-th utterance of a training speaker, test the
    held-out speakers'."""
    utterance = table["file_path"].str.rsplit("-", n=1).str[1].str.split(".").str[0].astype(int)
    dev = ~held_out & (utterance % DEV_EVERY == 0)
    return {"train": ~held_out & ~dev, "dev": dev, "test": held_out}


def _write_asr_sets(out: Path, table: pd.DataFrame, held_out: pd.Series, kept: list[Rendered]) -> None:
    """s3prl asr's length CSVs (`_splits`) and its character dictionary (`<symbol> <count>` lines, counted on the
    training sentences; every symbol listed, so that any test sentence can be written)."""
    asr = out / "asr"
    asr.mkdir()
    splits = _splits(table, held_out)
    for split, rows in splits.items():
        table[rows].reset_index(drop=True).to_csv(asr / f"{ASR_SETS[split]}.csv")
    train_ids = {Path(p).stem for p in table[splits["train"]]["file_path"]}
    counts = dict.fromkeys(ASR_CHARACTERS, 0)
    for r in kept:
        if r.utt in train_ids:
            for char in r.sentence.upper().replace(" ", "|") + "|":
                counts[char] += 1
    (asr / "char.dict").write_text("".join(f"{c} {n}\n" for c, n in sorted(counts.items(), key=lambda kv: -kv[1])))


def _write_pr_sets(out: Path, table: pd.DataFrame, held_out: pd.Series, kept: list[Rendered]) -> None:
    """SUPERB phoneme recognition's split files for s3prl's ctc `libriphone` corpus (`_splits`): `wav_path`
    relative to the folder, `transcription` the phones each utterance was rendered with; and its vocabulary."""
    pr = out / PR_FOLDER
    pr.mkdir()
    phones = {r.utt: " ".join(r.phones) for r in kept}
    for split, rows in _splits(table, held_out).items():
        paths = table[rows]["file_path"]
        pd.DataFrame({"wav_path": [str(Path("..") / "LibriSpeech" / p) for p in paths],
                      "transcription": [phones[Path(p).name.split(".")[0]] for p in paths]}).to_csv(
            pr / f"{split}.csv", index=False)
    (pr / PR_VOCABULARY).write_text("".join(f"{p}\n" for p in PR_PHONES))


def held_out_speakers(people: list[Speaker], test_voices: int | tuple[str, ...] | None, seed: int) -> list[int]:
    """The ids of every speaker of the held-out voices: `test_voices` persons drawn by `seed` from those of the
    flite and MBROLA speakers, or the persons named (`("awb", "kal")`); `None`: every speaker (a test set only).
    A person's speakers at every pitch, rate and engine are held out together (flite's kal16 with festival's kal),
    so that no training speaker shares a voice with a test speaker."""
    if test_voices is None:
        return sorted(s.id for s in people)
    candidates = sorted({s.person for s in people if s.engine != "festival"})
    persons = {s.person for s in people}
    if isinstance(test_voices, int):
        most = min(len(candidates), len(persons) - 1)
        if not 1 <= test_voices <= most:
            raise InputError(f"test voices {test_voices}: expected 1..{most} (of the voices {', '.join(candidates)}, "
                             f"keeping at least one for training), or a test set only")
        test_voices = tuple(random.Random(seed).sample(candidates, test_voices))
    unknown = sorted(set(test_voices) - persons)
    if unknown or not 1 <= len(set(test_voices)) < len(persons):
        raise InputError(f"test voices {','.join(test_voices)}: expected some of {', '.join(sorted(persons))} "
                         f"{'(no speaker is ' + ', '.join(unknown) + ') ' if unknown else ''}and at least one left "
                         "for training")
    return sorted(s.id for s in people if s.person in test_voices)


def build_corpus(out: str | Path, speakers: int = 8, utterances_per_speaker: int = 120, seed: int = 0,
                 jobs: int = 2, test_voices: int | tuple[str, ...] | None = 2, mbrola_speakers: int = 0,
                 festival_speakers: int = 0, text: str = "open", test_vocabulary: str = "held_out",
                 first_speaker_id: int = 100) -> CorpusReport:
    """Write the whole corpus under `out` (replacing an earlier corpus there, never other files): `speakers` flite
    speakers, then `mbrola_speakers` espeak-ng + MBROLA ones, then `festival_speakers` festival ones (ids from
    `first_speaker_id`); `corpus.json` is written last. The held-out test speakers are every speaker of the
    `test_voices` (a count drawn by the seed, or persons by name: `held_out_speakers`); `None` makes a test set only (the demo's
    unseen-synthesizer speakers, with `test_vocabulary="unseen"` and ids of their own). With the open text,
    training speakers read the train vocabulary and held-out ones `test_vocabulary`."""
    out = Path(out)
    if text not in TEXTS:
        raise InputError(f"text {text!r}: expected one of {', '.join(TEXTS)}")
    if test_vocabulary not in VOCABULARIES[1:]:
        raise InputError(f"test vocabulary {test_vocabulary!r}: expected one of {', '.join(VOCABULARIES[1:])}")
    people = make_speakers(speakers, mbrola_speakers, festival_speakers, first_speaker_id)
    check_installed(people)
    held_out = held_out_speakers(people, test_voices, seed)
    if text == "open":
        vocabularies()  # read once here, so that the forked workers share it
    _claim(out)
    work = [Job(out, s, u, seed, text, test_vocabulary if s.id in held_out else "train")
            for s in people for u in range(utterances_per_speaker)]
    with Pool(jobs) as pool:
        results = list(tqdm(pool.imap(render, work, chunksize=4), total=len(work), desc="corpus", unit="utt"))
    kept = sorted(r for r in results if r is not None)
    _write_transcripts(out, kept)
    phone_dir = out / "cpc_phone"
    phone_dir.mkdir(parents=True)
    (phone_dir / "converted_aligned_phones.txt").write_text(
        "".join(f"{r.utt} {' '.join(map(str, r.labels))}\n" for r in kept))
    for name, wanted in (("train_split.txt", False), ("test_split.txt", True)):
        ids = [r.utt for r in kept if (int(r.utt.split("-")[0]) in held_out) == wanted]
        (phone_dir / name).write_text("".join(f"{utt}\n" for utt in ids))
    lengths = prepare_length_csvs(out / "LibriSpeech", out / "len_for_bucket")[SET_NAME]
    table = pd.read_csv(lengths, index_col=0)
    speaker = table["file_path"].str.split("/").str[1].astype(int)
    table[~speaker.isin(held_out)].reset_index(drop=True).to_csv(lengths.with_name(f"{PRETRAIN_SET}.csv"))
    _write_asr_sets(out, table, speaker.isin(held_out), kept)
    _write_pr_sets(out, table, speaker.isin(held_out), kept)
    report = CorpusReport(len(kept), len(work) - len(kept), tuple(s.id for s in people if s.id not in held_out),
                          tuple(held_out), sum(r.samples for r in kept) / RATE)
    (out / COMPLETE_MARK).write_text(json.dumps({
        "seed": seed, "text": text, "test_vocabulary": test_vocabulary, "utterances_per_speaker": utterances_per_speaker,
        "speakers": [{**s.__dict__, "person": s.person} for s in people], "held_out": held_out,
        "held_out_voices": sorted({s.person for s in people if s.id in held_out}), "utterances": report.utterances,
        "dropped": report.dropped, "seconds": report.seconds}, indent=1) + "\n")
    return report
