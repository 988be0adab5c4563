"""Hub entries in s3prl's naming convention: `distilbert_local` (a file), `distilbert_url` (download, then load),
`distilbert` (the default released model). s3prl's `hub`, `S3PRLUpstream` and `torch.hub` all call these."""
from __future__ import annotations

import os

from s3prl.util.download import urls_to_filepaths

from .errors import MissingError, UnsupportedError
from .expert import UpstreamExpert

__all__ = ["distilbert_local", "distilbert_url", "distilbert"]

# The URL of the default released student; None while no model has been published.
RELEASED_STUDENT_URL: str | None = None


def distilbert_local(ckpt: str, model_config: str | None = None, *args, **kwargs) -> UpstreamExpert:
    """Audio DistilBERT from an exported student file (`audio-distilbert export`)."""
    if ckpt is None or not os.path.isfile(ckpt):
        raise MissingError(
            f"distilbert_local: no student checkpoint at {ckpt!r}; pass the file written by "
            "`audio-distilbert export` (run_downstream.py: -k PATH)"
        )
    return UpstreamExpert(ckpt, model_config, *args, **kwargs)


def distilbert_url(ckpt: str, refresh: bool = False, *args, **kwargs) -> UpstreamExpert:
    """Audio DistilBERT from a URL, downloaded once into s3prl's download cache (again with `refresh`)."""
    return distilbert_local(urls_to_filepaths(ckpt, refresh=refresh), *args, **kwargs)


def distilbert(refresh: bool = False, *args, **kwargs) -> UpstreamExpert:
    """The default released Audio DistilBERT student (s3prl's runner passes `ckpt=None`, which is replaced)."""
    if RELEASED_STUDENT_URL is None:
        raise UnsupportedError(
            "distilbert: no pretrained Audio DistilBERT student has been published yet. Make one with "
            "`audio-distilbert demo` (or `audio-distilbert pretrain` then `audio-distilbert export`) and load it "
            "with distilbert_local(ckpt=PATH), or a hosted copy with distilbert_url(ckpt=URL)."
        )
    kwargs["ckpt"] = RELEASED_STUDENT_URL
    return distilbert_url(*args, refresh=refresh, **kwargs)
