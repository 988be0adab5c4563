"""Files written whole or not at all: a temporary file with a unique name beside the target, flushed to disk, then
renamed over it. A reader never sees half a file, two writers never delete each other's temporary file, and a
failed write leaves nothing behind."""
from __future__ import annotations

import os
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


def temporary_path(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new, unique, empty file's path beside `path`, for tools that insist on writing to a path themselves;
    the caller `publish`es it over `path` or removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Rename a finished `temporary_path` file over `path`. The result keeps the permissions of the file it
    replaces, or those a plain open() would give (mkstemp makes files private)."""
    path = Path(path)
    os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
    os.replace(tmp, path)
    return path
