"""Speech synthesizers that report the phone timings they rendered, so that the corpus needs no aligner.

- flite (Debian main, always used): prints each phone's end time (`-psdur`); speakers vary its voice, mean F0
  and duration stretch.
- espeak-ng driving MBROLA voices (optional extra speakers): espeak-ng writes the `.pho` script (phone,
  duration in ms, pitch points) that mbrola renders exactly; speakers vary the voice, speaking rate (espeak-ng
  `-s`, which the script's durations already include) and pitch (mbrola `-f`, which leaves timing alone).
  `mbrola` is in Debian contrib and its voices in non-free (non-commercial licence): `bash scripts/dev.sh
  mbrola` installs them. us3 is left out: it fails on some of the grammar's diphones (and its labels reportedly run
  about 20 ms early). The US voices' flap (`4`, as in "water") is labelled t, as flite's and festival's are.
- festival's diphone voices kal and ked (US, Debian main) and rab (British, contrib): festival prints each segment's
  end time; speakers vary the voice, its target mean F0 and `Duration_Stretch`.

A voice is one recorded person's database, whatever engine renders it: flite's kal16 and festival's kal_diphone are
both Kevin Lenzo's KAL diphones (`PERSON`). A held-out test voice is a person no training speaker is.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import soundfile

from upstream_distilbert.errors import InputError, MissingError

FLITE_VOICES = (("slt", (175, 215, 150)), ("rms", (100, 125, 85)), ("awb", (110, 140, 95)),
                ("kal16", (105, 130, 90)))  # (voice, mean F0 in Hz of each variant)
MBROLA_VOICES = ("us1", "us2", "en1")
MBROLA_PITCH = (1.0, 1.15, 0.88)  # mbrola -f of each variant
STRETCH = (1.0, 1.15, 0.88)  # duration factor of each variant (> 1 speaks slower)
ESPEAK_WORDS_PER_MINUTE = 175  # espeak-ng's default rate, divided by the stretch
MBROLA_DIR = Path("/usr/share/mbrola")
FESTIVAL_VOICES = (("kal_diphone", "radio"), ("rab_diphone", "mrpa"), ("ked_diphone", "radio"))  # (voice, phone set)
FESTIVAL_F0 = (105, 130, 90)  # target mean F0 in Hz of each variant (105: both voices' own)
FESTIVAL_DIR = Path("/usr/share/festival/voices/english")
FESTIVAL_INSTALL = ("apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k "
                    "(scripts/dev.sh does this)")
# The person each voice was recorded from (the packages' documentation); a voice not listed is its own person.
PERSON = {"kal16": "kal", "kal_diphone": "kal", "ked_diphone": "ked", "rab_diphone": "rab"}
MBROLA_INSTALL = "bash scripts/dev.sh mbrola (Debian contrib/non-free: espeak-ng, mbrola and its voices)"

# MBROLA's SAMPA-style symbols (US voices and en1's British ones) -> ARPAbet; `_` is silence.
SAMPA_TO_ARPABET = {
    "_": "pau", "p": "p", "p_h": "p", "b": "b", "t": "t", "t_h": "t", "d": "d", "k": "k", "k_h": "k", "g": "g",
    "f": "f", "v": "v", "T": "th", "D": "dh", "s": "s", "z": "z", "S": "sh", "Z": "zh", "h": "hh", "tS": "ch",
    "dZ": "jh", "4": "t", "m": "m", "m=": "m", "n": "n", "n=": "n", "N": "ng", "l": "l", "5": "l", "l=": "l", "r": "r",
    "w": "w", "j": "y",
    "i": "iy", "i:": "iy", "I": "ih", "E": "eh", "e": "eh", "e@": "eh", "{": "ae", "A": "aa", "A:": "aa",
    "Q": "aa", "O": "ao", "O:": "ao", "U": "uh", "U@": "uh", "u": "uw", "u:": "uw", "V": "ah", "@": "ax",
    "I@": "ih", "r=": "er", "3:": "er", "EI": "ey", "eI": "ey", "AI": "ay", "aI": "ay", "OI": "oy", "aU": "aw",
    "@U": "ow",
}

# festival's phone sets -> ARPAbet: kal's "radio" set is ARPAbet plus allophones; rab's "mrpa" set is British,
# mapped as the MBROLA en1 symbols above are.
FESTIVAL_TO_ARPABET = {
    "radio": {**{p: p for p in ("aa ae ah ao aw ax ay b ch d dh eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t "
                                "th uh uw v w y z zh pau").split()},
              "axr": "er", "dx": "t", "el": "l", "em": "m", "en": "n", "nx": "n", "hv": "hh", "h#": "pau",
              "brth": "pau"},
    "mrpa": {**{p: p for p in "p t k b d g s z sh zh f v th dh ch jh m n ng l y r w".split()},
             "#": "pau", "uh": "ah", "e": "eh", "a": "ae", "o": "aa", "i": "ih", "u": "uh", "ii": "iy", "uu": "uw",
             "oo": "ao", "aa": "aa", "@@": "er", "ai": "ay", "ei": "ey", "oi": "oy", "au": "aw", "ou": "ow",
             "e@": "eh", "i@": "ih", "u@": "uh", "@": "ax", "h": "hh"},
}


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an engine's voice at one pitch and speaking rate."""

    id: int
    engine: str  # "flite", "mbrola" or "festival"
    voice: str
    pitch: float  # flite, festival: mean F0 in Hz; mbrola: ratio applied to the voice's pitch
    stretch: float

    @property
    def person(self) -> str:
        """Whose recordings the voice is made of: speakers of one person are never split between train and test."""
        return PERSON.get(self.voice, self.voice)

    def render(self, text: str, wav: Path) -> list[tuple[str, float]]:
        """Render `text` into the 16 kHz WAV `wav`; return (ARPAbet phone, end seconds) for every phone."""
        phones = {"flite": _flite, "mbrola": _mbrola, "festival": _festival}[self.engine](self, text, wav)
        if not phones:
            raise RuntimeError(f"{self.engine} voice {self.voice} reported no phone timings for {text!r}")
        return phones


def make_speakers(flite: int, mbrola: int = 0, festival: int = 0, first_id: int = 100) -> list[Speaker]:
    """`flite` flite speakers, then `mbrola` MBROLA ones, then `festival` festival ones, ids from `first_id`:
    within an engine every voice at its first variant, then the next variants."""
    if not (0 if mbrola else 1) <= flite <= len(FLITE_VOICES) * len(STRETCH):
        raise InputError(f"--speakers {flite}: expected 1..{len(FLITE_VOICES) * len(STRETCH)} "
                         "(0 with --mbrola-speakers)")
    if not 0 <= mbrola <= len(MBROLA_VOICES) * len(STRETCH):
        raise InputError(f"--mbrola-speakers {mbrola}: expected 0..{len(MBROLA_VOICES) * len(STRETCH)}")
    if not 0 <= festival <= len(FESTIVAL_VOICES) * len(STRETCH):
        raise InputError(f"--festival-speakers {festival}: expected 0..{len(FESTIVAL_VOICES) * len(STRETCH)}")
    speakers = []
    for i in range(flite):
        voice, f0s = FLITE_VOICES[i % len(FLITE_VOICES)]
        variant = i // len(FLITE_VOICES)
        speakers.append(Speaker(first_id + i, "flite", voice, f0s[variant], STRETCH[variant]))
    for i in range(mbrola):
        variant = i // len(MBROLA_VOICES)
        speakers.append(Speaker(first_id + flite + i, "mbrola", MBROLA_VOICES[i % len(MBROLA_VOICES)],
                                MBROLA_PITCH[variant], STRETCH[variant]))
    for i in range(festival):
        variant = i // len(FESTIVAL_VOICES)
        speakers.append(Speaker(first_id + flite + mbrola + i, "festival", FESTIVAL_VOICES[i % len(FESTIVAL_VOICES)][0],
                                FESTIVAL_F0[variant], STRETCH[variant]))
    return speakers


def check_installed(speakers: list[Speaker]) -> None:
    """Raise FileNotFoundError naming what to install when a speaker's synthesizer or voice is missing."""
    if any(s.engine == "flite" for s in speakers) and shutil.which("flite") is None:
        raise MissingError("flite is not installed: apt-get install flite (scripts/dev.sh does this)")
    for voice in sorted({s.voice for s in speakers if s.engine == "mbrola"}):
        missing = [p for p in ("espeak-ng", "mbrola") if shutil.which(p) is None]
        if not (MBROLA_DIR / voice / voice).is_file():
            missing.append(f"the MBROLA voice {MBROLA_DIR / voice / voice}")
        if missing:
            raise MissingError(f"MBROLA speakers need {', '.join(missing)}: run {MBROLA_INSTALL}")
    for voice in sorted({s.voice for s in speakers if s.engine == "festival"}):
        missing = ["festival"] if shutil.which("festival") is None else []
        if not (FESTIVAL_DIR / voice).is_dir():
            missing.append(f"the festival voice {FESTIVAL_DIR / voice}")
        if missing:
            raise MissingError(f"festival speakers need {', '.join(missing)}: {FESTIVAL_INSTALL}")


def _flite(speaker: Speaker, text: str, wav: Path) -> list[tuple[str, float]]:
    command = ["flite", "-voice", speaker.voice, "-psdur", "--setf", f"duration_stretch={speaker.stretch}",
               "--setf", f"int_f0_target_mean={speaker.pitch:g}", "-t", text, "-o", str(wav)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    phones = []
    for token in out.split():
        phone, _, end = token.rpartition(":")
        phones.append((phone, float(end)))
    return phones


def _mbrola(speaker: Speaker, text: str, wav: Path) -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        pho = Path(tmp) / "u.pho"
        rate = round(ESPEAK_WORDS_PER_MINUTE / speaker.stretch)
        subprocess.run(["espeak-ng", "-v", f"mb-{speaker.voice}", "-q", "-s", str(rate), "--pho",
                        f"--phonout={pho}", text], capture_output=True, text=True, check=True)
        subprocess.run(["mbrola", "-f", f"{speaker.pitch:g}", str(MBROLA_DIR / speaker.voice / speaker.voice),
                        str(pho), str(wav)], capture_output=True, text=True, check=True)
        return pho_timings(pho.read_text(), f"{speaker.voice} {text!r}")


def pho_timings(script: str, what: str) -> list[tuple[str, float]]:
    """(ARPAbet phone, end seconds) of each line `symbol duration_ms [pitch points]` of an MBROLA script."""
    phones, end_ms = [], 0.0
    for line in script.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(";"):
            continue
        if fields[0] not in SAMPA_TO_ARPABET:
            raise ValueError(f"MBROLA phone {fields[0]!r} ({what}) has no ARPAbet class: extend SAMPA_TO_ARPABET")
        end_ms += float(fields[1])
        phones.append((SAMPA_TO_ARPABET[fields[0]], end_ms / 1000))
    return phones


def _festival(speaker: Speaker, text: str, wav: Path) -> list[tuple[str, float]]:
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    script = (f"(voice_{speaker.voice})\n(Parameter.set 'Duration_Stretch {speaker.stretch:g})\n"
              f"(set! int_lr_params '((target_f0_mean {speaker.pitch:g}) (target_f0_std 14) (model_f0_mean 170) "
              "(model_f0_std 34)))\n"
              f'(set! utt (utt.synth (Utterance Text "{quoted}")))\n(utt.save.wave utt "{wav}" \'riff)\n'
              "(mapcar (lambda (s) (format t \"%s %f\\n\" (item.name s) (item.feat s \"end\")))"
              " (utt.relation.items utt 'Segment))\n")
    scm = wav.with_suffix(".scm")
    scm.write_text(script)
    out = subprocess.run(["festival", "--batch", str(scm)], capture_output=True, text=True, check=True).stdout
    phones = segment_timings(out, dict(FESTIVAL_VOICES)[speaker.voice], f"{speaker.voice} {text!r}")
    # The diphone voices render 20-30 ms past the last segment (silence): cut it, so audio and timings agree.
    audio, rate = soundfile.read(str(wav), dtype="int16")
    soundfile.write(str(wav), audio[: round(phones[-1][1] * rate)], rate, subtype="PCM_16")
    return phones


def segment_timings(listing: str, phone_set: str, what: str) -> list[tuple[str, float]]:
    """(ARPAbet phone, end seconds) of each line `segment end_seconds` that festival printed."""
    phones = []
    for line in listing.splitlines():
        if not line.strip():
            continue
        symbol, end = line.split()
        if symbol not in FESTIVAL_TO_ARPABET[phone_set]:
            raise ValueError(f"festival phone {symbol!r} ({what}) has no ARPAbet class: extend FESTIVAL_TO_ARPABET")
        phones.append((FESTIVAL_TO_ARPABET[phone_set][symbol], float(end)))
    return phones
