"""What s3prl 0.4.18's runners need on today's torch stack, applied in-process by our commands."""
from __future__ import annotations

from upstream_distilbert.s3prl_states import allow_s3prl_checkpoints


def apply_s3prl_compat() -> None:
    """torch >= 2.6 loads weights-only by default, which rejects the few classes s3prl's runners pickle into their
    own checkpoints (an argparse Namespace, learning-rate schedules), so their resume and `mockingjay_local` fail.
    Allow exactly those classes instead of turning weights-only loading off."""
    allow_s3prl_checkpoints()
