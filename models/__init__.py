"""Shipped model files, installed as package data (the package `distilbert_models`); models/README.md says how
each was made."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def model_path(name: str) -> Path:
    """A shipped model file's path on disk, e.g. `model_path("demo_teacher.ckpt")`."""
    return Path(str(files(__name__).joinpath(name)))
