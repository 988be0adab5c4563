"""Run s3prl's own runner scripts in this process, from any directory, with the plugin registered."""
from __future__ import annotations

import sys
from pathlib import Path

from .compat import apply_s3prl_compat
from .registration import register_in_process

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def _flag_value(argv: list[str], *names: str) -> str | None:
    """The value of the first of `names` in argv (`-d X` or `--downstream=X`), else None."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def with_default_downstream_config(argv: list[str]) -> list[str]:
    """Add `-c configs/downstream/<task>.yaml` when the user gave no config and is not resuming: the PyPI s3prl
    ships no downstream configs, so its own default path does not exist."""
    if _flag_value(argv, "-c", "--config") or _flag_value(argv, "-e", "--past_exp"):
        return argv
    task = _flag_value(argv, "-d", "--downstream")
    config = CONFIG_DIR / "downstream" / f"{task}.yaml"
    return [*argv, "-c", str(config)] if task and config.is_file() else argv


def run_downstream(argv: list[str]) -> None:
    """s3prl's `run_downstream.py` with the same flags."""
    apply_s3prl_compat()
    register_in_process()
    from s3prl import run_downstream as script

    sys.argv = ["run_downstream.py", *with_default_downstream_config(argv)]
    script.main()
