"""Files written whole or not at all: a temporary file with a unique name beside the target, flushed to disk, then
renamed over it. A reader never sees half a file, two writers never delete each other's temporary file, and a
failed write leaves nothing behind. A killed process cannot clean up: its temporary files name their host and
process (`.NAME.HOST-PID.RANDOM.tmp`), so that `remove_stale_temporaries` removes those of dead processes."""
from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], fsync: bool = True) -> Path:
    """Call `write(file)` on a fresh temporary file beside `path`, then rename it over `path` (`publish`).
    `fsync=False` skips the flush to disk, for files that are cheap to make again."""
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as file:
            write(file)
            file.flush()
            if fsync:
                os.fsync(file.fileno())
        return publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`text` (UTF-8) written atomically to `path`."""
    return atomic_write(path, lambda file: file.write(text.encode()))


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files in `folder` (not below it) that a process of this host, now dead, left (a kill
    mid-write: a checkpoint-sized `.states-N.ckpt.HOST-PID.RANDOM.tmp`); never any other file. Returns them."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match and match["host"] == _host() and not _alive(int(match["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def temporary_path(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new, unique, empty file's path beside `path`, for tools that insist on writing to a path themselves;
    the caller `publish`es it over `path` or removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host()}-{os.getpid()}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Rename a finished `temporary_path` file over `path`. The result keeps the permissions of the file it
    replaces, or those a plain open() would give (mkstemp makes files private)."""
    path = Path(path)
    os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
    os.replace(tmp, path)
    return path
