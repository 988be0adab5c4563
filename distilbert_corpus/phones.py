"""The 41 phone classes of s3prl's cpc_phone labels, and a seeded sentence grammar that exercises all of them.

Classes: 0 silence, 1..39 the ARPAbet phones without stress (alphabetical), 40 schwa (AX, kept apart from AH).
"""
from __future__ import annotations

import random

ARPABET = (
    "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t th uh uw v w y z zh"
).split()
SILENCE, SCHWA = 0, 40
CLASSES = {"pau": SILENCE, **{p: i + 1 for i, p in enumerate(ARPABET)}, "ax": SCHWA}
NUM_CLASSES = 41

# Words chosen so that every class occurs often, rare ones (zh, oy, uh, th, ng) included.
_WORDS = {
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


def sentence(rng: random.Random) -> str:
    """One sentence: DET ADJ NOUN VERB DET NOUN [PREP DET ADJ NOUN] [ADV]."""
    w = {k: (lambda k=k: rng.choice(_WORDS[k])) for k in _WORDS}
    words = [w["det"](), w["adj"](), w["noun"](), w["verb"](), w["det"](), w["noun"]()]
    if rng.random() < 0.6:
        words += [w["prep"](), w["det"](), w["adj"](), w["noun"]()]
    if rng.random() < 0.5:
        words.append(w["adv"]())
    return " ".join(words)
