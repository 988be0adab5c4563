"""Audio DistilBERT: the model, its features, the exported checkpoint format and the s3prl upstream expert.

The names below load on first use, so that torch-free parts (`config`, `audio_files`) import without torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AudioConfig": "config",
    "ConfigError": "config",
    "ModelConfig": "config",
    "TransformerConfig": "config",
    "AudioDistilBert": "model",
    "CheckpointError": "checkpoint",
    "load_student": "checkpoint",
    "save_student": "checkpoint",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
