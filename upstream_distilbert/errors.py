"""Errors that say the input is at fault (a file, a value, a setting, the machine), not this package.

`audio-distilbert` reports a `UserError` in one line with exit status 2; any other exception is a bug of ours and
shows its traceback. Each also is the built-in type a caller would catch (ValueError, FileNotFoundError, ...).
"""
from __future__ import annotations


class UserError(Exception):
    """Something the user gave or set up is not what was expected."""


class InputError(UserError, ValueError):
    """A value, or a file's contents, is not what was expected."""


class MissingError(UserError, FileNotFoundError):
    """A file, folder or program that is needed is not there."""


class RefusedError(UserError, FileExistsError):
    """An action would overwrite or delete what is not ours to touch, so it is refused."""


class UnsupportedError(UserError, RuntimeError):
    """The machine or the installed packages cannot do what was asked (no bf16, another s3prl version, ...)."""


class StepFailed(UserError, ChildProcessError):
    """A command that a job runs as a subprocess failed; its own output, shown above, says why."""
