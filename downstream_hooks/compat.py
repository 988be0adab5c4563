"""Settings that s3prl 0.4.18's runners need on today's torch stack, applied in-process by our commands."""
from __future__ import annotations

import os


def apply_s3prl_compat() -> None:
    """torch >= 2.6 loads with `weights_only=True` by default, which rejects the checkpoints s3prl's runners
    write for themselves (an argparse Namespace, optimizer objects), so their resume fails. Let calls that do not
    choose fall back to full unpickling, as s3prl expects; our own loads pass `weights_only=True` explicitly and
    are unaffected."""
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
