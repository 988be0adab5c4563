"""The 41 phone classes of s3prl's cpc_phone labels, and the 39 phones of phoneme recognition.

Classes: 0 silence, 1..39 the ARPAbet phones without stress (alphabetical), 40 schwa (AX, kept apart from AH).
Phoneme recognition (SUPERB PR) scores phone sequences without silence over the 39 ARPAbet phones: silence is
dropped and schwa is AH, as CMUdict and SUPERB's lexicon write it (AH0); stress is not marked.
"""
from __future__ import annotations

ARPABET = (
    "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t th uh uw v w y z zh"
).split()
SILENCE, SCHWA = 0, 40
CLASSES = {"pau": SILENCE, **{p: i + 1 for i, p in enumerate(ARPABET)}, "ax": SCHWA}
NUM_CLASSES = 41
PR_PHONES = tuple(p.upper() for p in ARPABET)


def pr_phones(phones: list[str]) -> list[str]:
    """A rendered phone sequence (synthesizer names, `CLASSES`' keys) as phoneme recognition's targets: silence
    dropped, schwa as AH, in capitals."""
    unknown = sorted(set(phones) - set(CLASSES))
    if unknown:
        raise ValueError(f"synthesized phone(s) {unknown} outside the 41 classes")
    return [("ah" if p == "ax" else p).upper() for p in phones if CLASSES[p] != SILENCE]
