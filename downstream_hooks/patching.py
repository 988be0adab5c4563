"""Every change this plugin makes to s3prl's internals goes through here, and fails loudly when s3prl lacks the
attribute it replaces: a different s3prl must not silently bypass our atomic saves or rank-0-only writes."""
from __future__ import annotations

import types
from typing import Any

from upstream_distilbert.errors import UnsupportedError

SUPPORTED_S3PRL = "0.4.18"


class S3prlMismatch(UnsupportedError):
    """The installed s3prl does not have what this plugin patches or extends."""


def _describe(owner: Any) -> str:
    return getattr(owner, "__name__", type(owner).__name__)


def require(owner: Any, *names: str) -> None:
    """Raise S3prlMismatch unless `owner` has every attribute in `names`."""
    missing = [name for name in names if not hasattr(owner, name)]
    if missing:
        import s3prl

        raise S3prlMismatch(
            f"s3prl {getattr(s3prl, '__version__', '?')}: {_describe(owner)} has no {', '.join(missing)}, which "
            f"audio-distilbert patches; it supports s3prl {SUPPORTED_S3PRL}"
        )


def patch(owner: Any, name: str, value: Any) -> None:
    """Replace `owner.name` by `value` (a module global or a class attribute that must already exist)."""
    require(owner, name)
    setattr(owner, name, value)


def module_with(module: types.ModuleType, **overrides: Any) -> types.ModuleType:
    """A copy of `module` with some (existing) attributes replaced, to hand to one s3prl module as its global."""
    require(module, *overrides)
    proxy = types.ModuleType(module.__name__)
    proxy.__dict__.update(module.__dict__)
    proxy.__dict__.update(overrides)
    return proxy

