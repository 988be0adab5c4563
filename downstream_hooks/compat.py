"""What s3prl 0.4.18's runners need on today's torch stack, for as long as our commands run them."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from upstream_distilbert.s3prl_states import s3prl_checkpoints_allowed


@contextmanager
def s3prl_compat() -> Iterator[None]:
    """torch >= 2.6 loads weights-only by default, which rejects the few classes s3prl's runners pickle into their
    own checkpoints (an argparse Namespace, learning-rate schedules), so their resume would fail. Allow exactly
    those classes, for the runner's run only, instead of turning weights-only loading off."""
    with s3prl_checkpoints_allowed():
        yield
