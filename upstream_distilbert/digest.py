"""sha256 digests of files and folders: what identifies a checkpoint, a config or a teacher across runs."""
from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def path_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a folder: of each file's relative path and digest, in sorted order (a Hugging Face
    model folder, say)."""
    path = Path(path)
    if path.is_file():
        return file_digest(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_digest(file)}\n".encode())
    return digest.hexdigest()


def source_digest(*modules: str) -> str:
    """sha256 of the Python source of the named modules (a package: every `.py` file under it, by relative path):
    what identifies the code that makes an output, in an editable install or a wheel alike."""
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"source_digest: no module {name!r}")
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for file in files:
            digest.update(f"{name}/{file.relative_to(origin.parent).as_posix()}\0".encode() + file.read_bytes())
    return digest.hexdigest()
