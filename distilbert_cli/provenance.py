"""What made a result file: the command, when, from which commit, on which CPU, with which packages."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

_SOURCE = Path(__file__).resolve().parents[1]  # the checkout this package runs from, when it is one


def _commit() -> str | None:
    """The checkout's commit, with `-dirty` when tracked files differ from it; None unless this package's own source
    tree is that checkout (installed from a wheel into an environment inside another repository, say)."""
    try:
        run = lambda *args: subprocess.run(["git", "-C", str(_SOURCE), *args], capture_output=True, text=True,  # noqa: E731
                                           check=True, timeout=10).stdout.strip()
        if Path(run("rev-parse", "--show-toplevel")).resolve() != _SOURCE:
            return None
        run("ls-files", "--error-unmatch", str(Path(__file__).resolve().relative_to(_SOURCE)))
        head = run("rev-parse", "HEAD")
        return head + ("-dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu() -> str:
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def _program() -> str:
    """How this process was started, as a user would type it: `audio-distilbert`, `python -m MODULE` (not the
    module's path on this machine), or the script as given."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return f"python -m {spec.name.removesuffix('.__main__')}"
    return "audio-distilbert" if Path(sys.argv[0]).name == "audio-distilbert" else sys.argv[0]


def relative(path: str | os.PathLike, start: str | os.PathLike = ".") -> str:
    """`path` relative to `start` (default: the working folder), so that a result file names no folder of the
    machine that wrote it."""
    return os.path.relpath(path, start)


def provenance() -> dict:
    """{command, date, commit, source (where the code ran from), cpu, versions} of this process; paths relative to
    the working folder, the command as a user types it."""
    return {
        "command": " ".join([_program(), *(relative(a) if os.path.isabs(a) else a for a in sys.argv[1:])]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _commit(),
        "source": relative(_SOURCE),
        "cpu": _cpu(),
        "versions": {name: version(name) for name in ("audio-distilbert", "s3prl", "torch", "torchaudio")},
    }
