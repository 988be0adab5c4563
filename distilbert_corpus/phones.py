"""The 41 phone classes of s3prl's cpc_phone labels.

Classes: 0 silence, 1..39 the ARPAbet phones without stress (alphabetical), 40 schwa (AX, kept apart from AH).
"""
from __future__ import annotations

ARPABET = (
    "aa ae ah ao aw ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t th uh uw v w y z zh"
).split()
SILENCE, SCHWA = 0, 40
CLASSES = {"pau": SILENCE, **{p: i + 1 for i, p in enumerate(ARPABET)}, "ax": SCHWA}
NUM_CLASSES = 41
