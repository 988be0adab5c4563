"""The yaml configs for s3prl's runners, installed as package data (the package `distilbert_configs`)."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def config_path(*parts: str) -> Path:
    """A shipped config's path on disk, e.g. `config_path("pretrain", "demo_student.yaml")`."""
    return Path(str(files(__name__).joinpath(*parts)))
