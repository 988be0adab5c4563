"""The built-in corpus: real flite (and MBROLA) speech, exact labels, s3prl's cpc_phone layout read by s3prl's own
dataset."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from distilbert_corpus import synthesizers
from distilbert_corpus.corpus import frame_labels
from distilbert_corpus.phones import NUM_CLASSES

from . import fairness
from .conftest import REPO, cli, require_mbrola, run

SMALL = ["--speakers", "6", "--utterances-per-speaker", "8", "--seed", "3", "--test-voices", "awb,kal"]


def _labels(root: Path) -> dict[str, list[int]]:
    lines = (root / "cpc_phone" / "converted_aligned_phones.txt").read_text().splitlines()
    return {line.split()[0]: [int(x) for x in line.split()[1:]] for line in lines}


def _built(tmp_path_factory: pytest.TempPathFactory, name: str, args: list[str], utterances: int) -> Path:
    """A corpus made by the command with `args`, all `utterances` of it kept."""
    out = tmp_path_factory.mktemp(name)
    proc = run([*cli(), "corpus", str(out), *args])
    assert f"{utterances} utterances" in proc.stdout and "0 dropped" in proc.stdout
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _built(tmp_path_factory, "corpus", SMALL, 48)


def _assert_same_corpus(again: Path, corpus: Path) -> None:
    assert _labels(again) == _labels(corpus)
    for flac in sorted((corpus / "LibriSpeech").rglob("*.flac")):
        assert (again / flac.relative_to(corpus)).read_bytes() == flac.read_bytes()
    for name in ("train_split.txt", "test_split.txt"):
        assert (again / "cpc_phone" / name).read_text() == (corpus / "cpc_phone" / name).read_text()


def test_same_seed_same_corpus(corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    run([*cli(), "corpus", str(again), *SMALL, "--jobs", "1"])
    _assert_same_corpus(again, corpus)


def _assert_labels_fit_the_audio(corpus: Path, festival: set[str] = frozenset()) -> None:
    """Every utterance has n_samples // 160 labels, and for every speaker the speech labels line up with the loud
    frames of the audio best as they are or one frame later (flite, MBROLA) or one frame earlier (the `festival`
    speakers): a speaker whose timings ran 2 frames early or late would fail."""
    labels = _labels(corpus)
    flacs = {p.stem: p for p in (corpus / "LibriSpeech").rglob("*.flac")}
    assert set(labels) == set(flacs)
    shifts = range(-4, 5)
    agreement: dict[str, np.ndarray] = {}
    for utt, frames in labels.items():
        audio, rate = soundfile.read(str(flacs[utt]), dtype="float32")
        assert rate == 16000 and audio.ndim == 1
        assert len(frames) == len(audio) // 160
        energy = np.sqrt((audio[: len(frames) * 160].reshape(-1, 160) ** 2).mean(axis=1))
        loud, speech = energy > 0.02 * energy.max(), np.array(frames) != 0
        scores = [(np.roll(speech, s) == loud)[5:-5].mean() for s in shifts]
        agreement[utt.split("-")[0]] = agreement.get(utt.split("-")[0], 0) + np.array(scores)
    for speaker, scores in agreement.items():
        best = {shifts[i] for i in np.flatnonzero(scores >= scores.max() - 1e-9)}  # ties: several shifts fit best
        assert best & ({-1, 0} if speaker in festival else {0, 1}), (speaker, scores)


def test_labels_fit_the_audio_and_cover_every_class(corpus: Path) -> None:
    _assert_labels_fit_the_audio(corpus)
    labels = _labels(corpus)
    counts = Counter(c for frames in labels.values() for c in frames)
    assert set(counts) == set(range(NUM_CLASSES))


def test_test_speakers_are_held_out(corpus: Path) -> None:
    split = {name: (corpus / "cpc_phone" / f"{name}_split.txt").read_text().split() for name in ("train", "test")}
    speakers = {name: {u.split("-")[0] for u in ids} for name, ids in split.items()}
    assert speakers["train"] and speakers["test"] and not speakers["train"] & speakers["test"]
    assert len(speakers["train"] | speakers["test"]) == 6
    assert sorted(split["train"] + split["test"]) == sorted(_labels(corpus))
    pretrain = pd.read_csv(corpus / "len_for_bucket" / "train-speakers.csv")
    assert sorted(Path(f).stem for f in pretrain["file_path"]) == sorted(split["train"])  # no test voice
    # whole voices held out: no training speaker is a held-out voice at another pitch or rate
    people = fairness.speakers(corpus)
    assert fairness.held_out(corpus) == {int(s) for s in speakers["test"]}
    test = [people[int(s)] for s in speakers["test"]]
    assert not fairness.shared_voices(test, [people[int(s)] for s in speakers["train"]])
    assert json.loads((corpus / "corpus.json").read_text())["held_out_voices"] == sorted({s["person"] for s in test})


def test_transcripts_beside_the_audio_and_test_words_no_training_sentence_has(corpus: Path) -> None:
    """LibriSpeech-style transcripts for every utterance; no content word of a held-out speaker's sentence is a
    training sentence's word or a function word in any form: written, inflected or spoken the same."""
    from distilbert_corpus.corpus import transcripts
    from distilbert_corpus.text import FUNCTION_WORDS, content_words

    lines = transcripts(corpus)
    assert sorted(lines) == sorted(_labels(corpus))
    for flac in (corpus / "LibriSpeech").rglob("*.flac"):
        spk, chapter, _ = flac.stem.split("-")
        assert (flac.parent / f"{spk}-{chapter}.trans.txt").is_file()
    assert all(words == words.upper() and words.replace(" ", "").isalpha() for words in lines.values())
    test = set((corpus / "cpc_phone" / "test_split.txt").read_text().split())
    test_words = set().union(*(content_words(t) for u, t in lines.items() if u in test))
    heard = {w for u, t in lines.items() if u not in test for w in t.lower().split()}
    assert test_words and heard
    assert fairness.relatives(test_words, heard | FUNCTION_WORDS) == []


def test_s3prl_asr_dataset_reads_its_splits_and_dictionary(corpus: Path) -> None:
    """asr/: train and dev from the training speakers (disjoint), test from the held-out ones; s3prl's own asr
    dataset reads them with the corpus's char.dict, and each label decodes back to its transcript."""
    from s3prl.downstream.asr.dataset import SequenceDataset
    from s3prl.downstream.asr.dictionary import Dictionary

    from distilbert_corpus.corpus import transcripts

    asr = corpus / "asr"
    ids = {name: {Path(f).stem for f in pd.read_csv(asr / f"{name}.csv")["file_path"]}
           for name in ("train-clean-100", "dev-clean", "test-clean")}
    test = set((corpus / "cpc_phone" / "test_split.txt").read_text().split())
    assert ids["test-clean"] == test and ids["dev-clean"] and not ids["dev-clean"] & ids["train-clean-100"]
    assert ids["dev-clean"] | ids["train-clean-100"] == set(_labels(corpus)) - test
    dictionary = Dictionary.load(str(asr / "char.dict"))
    lines = transcripts(corpus)
    datarc = {"train": ["train-clean-100"], "dev-clean": ["dev-clean"], "test-clean": ["test-clean"]}
    for split in datarc:
        dataset = SequenceDataset(split, 2, dictionary, str(corpus / "LibriSpeech"), str(asr), **datarc)
        wavs, labels, names = dataset.collate_fn([dataset[0]])
        for label, name in zip(labels, names):
            text = dictionary.string(label[label != dictionary.eos()].tolist()).replace(" ", "").replace("|", " ")
            assert text.strip() == lines[name]


def test_s3prl_phone_dataset_reads_it(corpus: Path) -> None:
    from s3prl.downstream.phone_linear.dataset import PhoneDataset

    for split in ("train", "dev", "test"):
        dataset = PhoneDataset(split, 4, str(corpus / "LibriSpeech"), str(corpus / "cpc_phone"),
                               str(corpus / "len_for_bucket"))
        wavs, labels = dataset.collate_fn([dataset[0]])
        assert len(wavs) == len(labels) > 0
        for wav, label in zip(wavs, labels):
            assert len(label) == len(wav) // 160


def test_labels_and_audio_that_disagree_are_dropped() -> None:
    phones = [("pau", 0.1), ("b", 0.2), ("oy", 0.4), ("pau", 0.6)]
    assert frame_labels(phones, 9600) is not None  # exact
    assert frame_labels(phones, 9600 - 1500) is not None  # only trailing silence cut (as kal16 does)
    assert frame_labels(phones, 6400 - 400) is None  # speech cut by more than 2 frames
    assert frame_labels(phones, 9600 + 400) is None  # audio 2.5 frames longer than the timings
    labels = frame_labels(phones, 9600)
    assert labels[:10] == [0] * 10 and labels[10] != 0 and len(labels) == 60
    with pytest.raises(ValueError, match=r"\['xx'\] outside the 41 classes"):
        frame_labels([("xx", 0.1)], 1600)


MIXED = ["--speakers", "1", "--mbrola-speakers", "3", "--utterances-per-speaker", "6", "--seed", "3"]


@pytest.fixture(scope="module")
def mixed_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One flite speaker and three espeak-ng + MBROLA ones (us1, us2, en1)."""
    require_mbrola(3)
    return _built(tmp_path_factory, "mixed", MIXED, 24)


def test_mbrola_speakers_have_exact_labels_and_are_reproducible(mixed_corpus: Path, tmp_path: Path) -> None:
    _assert_labels_fit_the_audio(mixed_corpus)
    speakers = {utt.split("-")[0] for utt in _labels(mixed_corpus)}
    assert speakers == {"100", "101", "102", "103"}
    again = tmp_path / "again"
    run([*cli(), "corpus", str(again), *MIXED, "--jobs", "1"])
    _assert_same_corpus(again, mixed_corpus)


def test_mbrola_scripts_map_onto_the_41_classes_or_name_the_symbol(tmp_path: Path, monkeypatch) -> None:
    script = "; comment\n_\t50\nD\t65\n@\t22\t0 179 100 191\n\nb\t65\nOI\t74\t0 219\n_\t100\n"
    assert synthesizers.pho_timings(script, "test") == [
        ("pau", 0.05), ("dh", 0.115), ("ax", 0.137), ("b", 0.202), ("oy", 0.276), ("pau", 0.376)]
    with pytest.raises(ValueError, match=r"MBROLA phone 'Y:' \(us1 'x'\) has no ARPAbet class"):
        synthesizers.pho_timings("Y:\t40\n", "us1 'x'")
    monkeypatch.setattr(synthesizers, "MBROLA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / 'us1' / 'us1'}.*scripts/dev.sh mbrola"):
        synthesizers.check_installed(synthesizers.make_speakers(1, 1))
    with pytest.raises(ValueError, match=r"--mbrola-speakers 10: expected 0..9"):
        synthesizers.make_speakers(1, 10)


def test_a_test_only_corpus_of_another_synthesizer(tmp_path: Path) -> None:
    """The demo's unseen-synthesizer speakers: MBROLA only, ids of their own, every utterance in the test split,
    reading the unseen vocabulary."""
    from distilbert_corpus.corpus import build_corpus, transcripts
    from distilbert_corpus.text import content_words, vocabularies

    require_mbrola(2)
    report = build_corpus(tmp_path, 0, 2, test_voices=None, mbrola_speakers=2, test_vocabulary="unseen",
                          first_speaker_id=200)
    assert report.train_speakers == () and report.test_speakers == (200, 201) and report.utterances == 4
    assert (tmp_path / "cpc_phone" / "train_split.txt").read_text() == ""
    assert sorted((tmp_path / "cpc_phone" / "test_split.txt").read_text().split()) == sorted(_labels(tmp_path))
    words = set().union(*(content_words(t) for t in transcripts(tmp_path).values()))
    assert words and words <= set(vocabularies()["unseen"].words)
    with pytest.raises(ValueError, match=r"--speakers 0: expected 1..12 \(0 with --mbrola-speakers\)"):
        synthesizers.make_speakers(0, 0)


def test_phone_linear_through_s3prl_and_the_result_reader(corpus: Path, student_ckpt: Path, tmp_path: Path) -> None:
    """s3prl's phone_linear on the corpus with our upstream, then its log.log read into JSON."""
    datarc = "config.downstream_expert.datarc"
    overrides = (f"{datarc}.libri_root={corpus / 'LibriSpeech'},,{datarc}.phone_path={corpus / 'cpc_phone'},,"
                 f"{datarc}.bucket_file={corpus / 'len_for_bucket'},,{datarc}.num_workers=0,,{datarc}.eval_batch_size=2,,"
                 "config.runner.total_steps=20,,config.runner.log_step=10,,config.runner.eval_step=10,,"
                 "config.runner.save_step=10")
    expdir = tmp_path / "phone"
    run([*cli(), "downstream", "-m", "train", "-u", "distilbert_local", "-k", str(student_ckpt), "-d", "phone_linear",
         "-c", str(REPO / "configs" / "downstream" / "phone_linear_small.yaml"), "-p", str(expdir), "--device", "cpu",
         "-o", overrides], cwd=tmp_path)
    out = tmp_path / "result.json"
    shown = json.loads(run([*cli(), "results", str(expdir), "--json", str(out)]).stdout)
    assert shown == json.loads(out.read_text())
    assert shown["best_dev_step"] in (10, 20) and shown["last_step"] == 20
    log = (expdir / "log.log").read_text()
    assert f"dev-|step:{shown['best_dev_step']}|acc:{shown['best_dev_acc']}" in log
    assert f"test-|step:{shown['best_dev_step']}|acc:{shown['test_acc']}" in log


def test_result_reader_names_what_is_missing(tmp_path: Path) -> None:
    from downstream_hooks.results import read_results

    with pytest.raises(FileNotFoundError, match="log.log: no such log"):
        read_results(tmp_path)
    (tmp_path / "log.log").write_text("libri_phone/train-|step:10|acc:0.3\nlibri_phone/dev-|step:10|acc:nan\n")
    with pytest.raises(ValueError, match="no dev accuracy"):
        read_results(tmp_path)
    (tmp_path / "log.log").write_text("best|libri_phone/dev-|step:10|acc:0.3\nlibri_phone/dev-|step:20|acc:0.2\n")
    with pytest.raises(ValueError, match="no test accuracy at step 10"):
        read_results(tmp_path)


def test_cpc_phone_check_passes_the_corpus_and_names_each_break(corpus: Path, tmp_path: Path) -> None:
    proc = run([*cli(), "prepare", str(corpus / "LibriSpeech"), "--out", str(tmp_path / "len"),
                "--phones", str(corpus / "cpc_phone")])
    assert "48 utterances match their audio" in proc.stdout

    from distilbert_corpus.prepare import check_cpc_phone

    broken = tmp_path / "cpc_phone"
    broken.mkdir()
    lines = (corpus / "cpc_phone" / "converted_aligned_phones.txt").read_text().splitlines()
    test_ids = (corpus / "cpc_phone" / "test_split.txt").read_text().split()
    no_labels, out_of_range, short = test_ids[0], test_ids[1], test_ids[2]
    edited = []
    for line in lines:
        utt, *values = line.split()
        if utt == no_labels:
            continue
        if utt == out_of_range:
            values[5] = "41"
        if utt == short:
            values = values[:-10]
        edited.append(" ".join([utt, *values]))
    (broken / "converted_aligned_phones.txt").write_text("\n".join(edited) + "\n")
    (broken / "train_split.txt").write_text((corpus / "cpc_phone" / "train_split.txt").read_text() + "999-1-0000\n")
    (broken / "test_split.txt").write_text((corpus / "cpc_phone" / "test_split.txt").read_text())
    with pytest.raises(ValueError) as error:
        check_cpc_phone(corpus / "LibriSpeech", broken)
    message = str(error.value)
    assert "4 problem(s)" in message
    assert "utterance 999-1-0000 has no audio file" in message
    assert f"utterance {no_labels} has no line in" in message
    assert f"utterance {out_of_range} has label(s) ['41'] outside 0..40" in message
    assert f"utterance {short} has" in message and "frames of 10 ms" in message


FESTIVAL = ["--speakers", "3", "--festival-speakers", "3", "--utterances-per-speaker", "4", "--seed", "3"]


@pytest.fixture(scope="module")
def festival_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three flite speakers (slt, rms, awb) and festival's kal, rab and ked (training voices: no flite kal here)."""
    return _built(tmp_path_factory, "festival", FESTIVAL, 24)


def test_festival_speakers_have_exact_labels_and_train_beside_other_voices(festival_corpus: Path, tmp_path: Path) -> None:
    _assert_labels_fit_the_audio(festival_corpus, festival={"103", "104", "105"})
    test = {u.split("-")[0] for u in (festival_corpus / "cpc_phone" / "test_split.txt").read_text().split()}
    assert {u.split("-")[0] for u in _labels(festival_corpus)} == {"100", "101", "102", "103", "104", "105"}
    assert len(test) == 2 and test <= {"100", "101", "102"}  # flite speakers, the same as without festival ones
    from distilbert_corpus.corpus import build_corpus

    assert build_corpus(tmp_path / "flite", 3, 1, seed=3).test_speakers == tuple(sorted(int(t) for t in test))
    again = tmp_path / "again"
    run([*cli(), "corpus", str(again), *FESTIVAL, "--jobs", "1"])
    _assert_same_corpus(again, festival_corpus)


def test_festival_segments_map_onto_the_41_classes_or_name_the_symbol(tmp_path: Path, monkeypatch) -> None:
    assert synthesizers.segment_timings("pau 0.2\ndh 0.23\naxr 0.31\n\nh# 0.5\n", "radio", "kal") == [
        ("pau", 0.2), ("dh", 0.23), ("er", 0.31), ("pau", 0.5)]
    assert synthesizers.segment_timings("# 0.2\nuh 0.3\nu 0.4\n", "mrpa", "rab") == [
        ("pau", 0.2), ("ah", 0.3), ("uh", 0.4)]  # British STRUT and FOOT
    with pytest.raises(ValueError, match=r"festival phone 'q' \(rab 'x'\) has no ARPAbet class"):
        synthesizers.segment_timings("q 0.1\n", "mrpa", "rab 'x'")
    monkeypatch.setattr(synthesizers, "FESTIVAL_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / 'kal_diphone'}.*festvox-kallpc16k"):
        synthesizers.check_installed(synthesizers.make_speakers(1, 0, 1))
    with pytest.raises(ValueError, match=r"--festival-speakers 10: expected 0..9"):
        synthesizers.make_speakers(1, 0, 10)


def test_a_held_out_voice_is_held_out_at_every_pitch_rate_and_engine() -> None:
    """flite's kal16 and festival's kal_diphone are one person's recordings: when the seed holds kal out, every
    speaker of it is a test speaker; for every seed no training speaker is a held-out person."""
    from distilbert_corpus.corpus import held_out_speakers

    people = synthesizers.make_speakers(8, 0, 6)
    drew_kal = False
    for seed in range(20):
        test = set(held_out_speakers(people, 2, seed))
        test_persons = {s.person for s in people if s.id in test}
        assert len(test_persons) == 2 and {s.id for s in people if s.person in test_persons} == test
        drew_kal |= "kal" in test_persons
    assert drew_kal
    assert held_out_speakers(people, None, 0) == [s.id for s in people]
    with pytest.raises(ValueError, match=r"test voices 5: expected 1..4 \(of the voices awb, kal, rms, slt"):
        held_out_speakers(people, 5, 0)
    assert len(held_out_speakers(people, ("awb", "kal"), 0)) == 6  # flite awb x 2, kal16 x 2, festival kal x 2
    with pytest.raises(ValueError, match=r"test voices ann: expected some of awb, kal, ked, rab, rms, slt \(no speaker is ann\)"):
        held_out_speakers(people, ("ann",), 0)
