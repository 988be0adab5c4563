"""Make s3prl see the plugin: on disk for its literal commands, or in-process for ours.

On disk (`audio-distilbert s3prl install`):
- `s3prl/hub.py` gets one marked block that imports our hub entries. s3prl's hub is a list of static imports, so
  nothing else makes `run_downstream.py -u distilbert_local` find them. The block skips the import when this
  package is gone, so a plain `pip uninstall audio-distilbert` leaves `import s3prl.hub` working.
- `s3prl/pretrain/distilbert/` gets a small `pretrain_expert.py` that imports ours, and copies of our default
  configs: `run_pretrain.py -u distilbert` lists that folder and imports `pretrain.distilbert.pretrain_expert`.

Every write is atomic: `hub.py` is written to a temporary file and renamed over the original; the folder is
assembled under a temporary name and renamed into place, and removed by renaming it away first. Its manifest
(the sha256 of each file written) lets `install` and `uninstall` tell our files from a user's edits, which they
refuse to overwrite or delete. Either command first finishes or undoes whatever an interrupted earlier run left.
`uninstall` leaves s3prl's files byte for byte as before, and `install` twice is the same as once.

In-process (`audio-distilbert downstream|pretrain`): the same entries are set on the imported modules, without
writing anything.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from upstream_distilbert.atomic import atomic_write_text
from upstream_distilbert.errors import RefusedError, UserError

from .patching import SUPPORTED_S3PRL, S3prlMismatch

BLOCK_BEGIN = "# >>> audio-distilbert: added by `audio-distilbert s3prl install`, removed by `... uninstall`\n"
BLOCK_END = "# <<< audio-distilbert\n"
HUB_BLOCK = (
    "\n" + BLOCK_BEGIN
    + "try:  # without audio-distilbert installed, s3prl's hub simply lacks our entries\n"
    "    from upstream_distilbert.hubconf import *  # noqa: F401,F403\n"
    "except ModuleNotFoundError as _missing:\n"
    "    if _missing.name != 'upstream_distilbert':\n"
    "        raise\n"
    + BLOCK_END
)
# What earlier versions wrote: recognised as ours, so install upgrades it and uninstall removes it. (The second
# also widened torch's weights-only allow-list for every process that imported s3prl's hub.)
LEGACY_HUB_BLOCKS = (
    "\n" + BLOCK_BEGIN + "from upstream_distilbert.hubconf import *  # noqa: F401,F403\n" + BLOCK_END,
    "\n" + BLOCK_BEGIN
    + "try:  # without audio-distilbert installed, s3prl's hub simply lacks our entries\n"
    "    from upstream_distilbert.hubconf import *  # noqa: F401,F403\n"
    "    from upstream_distilbert.s3prl_states import allow_s3prl_checkpoints as _allow\n"
    "    _allow()  # s3prl's own checkpoints (resume, mockingjay_local) load weights-only\n"
    "except ModuleNotFoundError as _missing:\n"
    "    if _missing.name != 'upstream_distilbert':\n"
    "        raise\n"
    + BLOCK_END,
)

PRETRAIN_NAME = "distilbert"
PRETRAIN_MARKER = ".installed-by-audio-distilbert"
PRETRAIN_SHIM = '''"""Installed by `audio-distilbert s3prl install`: the distilbert pretraining task lives in distilbert_pretrain."""
try:
    from distilbert_pretrain.pretrain_expert import UpstreamPretrainExpert  # noqa: F401
except ModuleNotFoundError as missing:
    if missing.name != "distilbert_pretrain":
        raise
    raise ModuleNotFoundError(
        f"run_pretrain.py -u distilbert: audio-distilbert is not installed; install it again, or remove {__file__}'s "
        "folder"
    ) from None
'''
LEGACY_SHIMS = (
    '"""Installed by `audio-distilbert s3prl install`: the distilbert pretraining task lives in distilbert_pretrain."""\n'
    "from distilbert_pretrain.pretrain_expert import UpstreamPretrainExpert  # noqa: F401\n",
)
CONFIG_FILES = ("config_model.yaml", "config_runner.yaml")
STAGING_PREFIX = f".{PRETRAIN_NAME}.audio-distilbert-"  # half-built or half-removed copies of the folder


class UserEdited(UserError, RuntimeError):
    """A file this plugin wrote into s3prl was changed by someone else: it is left alone."""


def s3prl_dir() -> Path:
    """The installed s3prl package folder (where its run_*.py scripts live)."""
    import s3prl

    return Path(s3prl.__file__).resolve().parent


def s3prl_version() -> str:
    import s3prl

    return str(getattr(s3prl, "__version__", "unknown"))


def expose_s3prl_top_level() -> None:
    """Make s3prl's folder importable as top-level modules (`optimizers`, `pretrain`, `upstream`, `utility`), as
    its run_*.py scripts expect."""
    root = str(s3prl_dir())
    if root not in sys.path:
        sys.path.append(root)


def pretrain_config_dir() -> Path:
    """Our default configs for `-u distilbert` (config_model.yaml, config_runner.yaml)."""
    import distilbert_pretrain

    return Path(distilbert_pretrain.__file__).resolve().parent


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pretrain_files() -> dict[str, bytes]:
    """What the pretraining folder holds (the manifest aside)."""
    files = {"__init__.py": b"", "pretrain_expert.py": PRETRAIN_SHIM.encode()}
    files.update({name: (pretrain_config_dir() / name).read_bytes() for name in CONFIG_FILES})
    return files


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.name != PRETRAIN_MARKER}


def _ours_untouched(folder: Path) -> bool | None:
    """True: the folder holds exactly the files we wrote; False: we wrote it but files changed since; None: not
    ours. A folder an older version left without a manifest is ours when its shim is one we wrote."""
    files = _folder_files(folder)
    marker = folder / PRETRAIN_MARKER
    if marker.is_file():
        try:
            manifest = json.loads(marker.read_text())
        except ValueError:
            return False
        return isinstance(manifest, dict) and manifest == {n: _sha256(d) for n, d in files.items()}
    shim = files.get("pretrain_expert.py", b"").decode(errors="replace")
    if shim in (PRETRAIN_SHIM, *LEGACY_SHIMS) and set(files) <= set(_pretrain_files()):
        return all(files[n] == (pretrain_config_dir() / n).read_bytes() for n in CONFIG_FILES if n in files)
    return None


def _clear_staging(root: Path) -> None:
    """Remove copies of the folder that an interrupted install or uninstall left (they are ours by name)."""
    for leftover in (root / "pretrain").glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _hub_without_our_block(hub: str, hub_path: Path) -> str:
    """hub.py's text with our block (any version of it) taken out; an edited block is refused."""
    for block in (HUB_BLOCK, *LEGACY_HUB_BLOCKS):
        if block in hub:
            return hub.replace(block, "", 1)
    if BLOCK_BEGIN in hub:
        raise UserEdited(f"{hub_path}: the audio-distilbert block was edited; not touching it. Remove the lines "
                         f"from '{BLOCK_BEGIN.strip()}' to '{BLOCK_END.strip()}' by hand, then run this again")
    return hub


@dataclass(frozen=True)
class Status:
    s3prl_dir: Path
    version: str
    hub_registered: bool
    pretrain_registered: bool

    def describe(self) -> str:
        def state(flag: bool) -> str:
            return "installed" if flag else "not installed"

        support = "supported" if self.version == SUPPORTED_S3PRL else f"not supported: audio-distilbert supports {SUPPORTED_S3PRL}"
        return (
            f"s3prl {self.version} ({support}) at {self.s3prl_dir}\n"
            f"  hub entries distilbert_local, distilbert_url, distilbert (s3prl/hub.py): {state(self.hub_registered)}\n"
            f"  pretraining task `run_pretrain.py -u {PRETRAIN_NAME}` (s3prl/pretrain/{PRETRAIN_NAME}/): "
            f"{state(self.pretrain_registered)}"
        )


def status(root: Path | None = None) -> Status:
    root = root or s3prl_dir()
    target = root / "pretrain" / PRETRAIN_NAME
    return Status(root, s3prl_version(), HUB_BLOCK in (root / "hub.py").read_text(),
                  target.is_dir() and _ours_untouched(target) is not None)


def install(root: Path | None = None, force: bool = False) -> Status:
    """Register the plugin in s3prl's files; a second call changes nothing."""
    root = root or s3prl_dir()
    if s3prl_version() != SUPPORTED_S3PRL and not force:
        raise S3prlMismatch(f"s3prl {s3prl_version()} at {root}: audio-distilbert supports s3prl {SUPPORTED_S3PRL} "
                            "(its runners' internals are patched); install that version, or pass --force to try")
    _clear_staging(root)
    target = root / "pretrain" / PRETRAIN_NAME
    ours = _ours_untouched(target) if target.exists() else True
    if ours is None:
        raise RefusedError(f"{target}: exists and was not made by audio-distilbert; not overwriting it")
    if ours is False:
        raise UserEdited(f"{target}: files audio-distilbert wrote there were edited since; not overwriting them. "
                         "Keep your changes elsewhere, remove the folder, then run this again")
    hub_path = root / "hub.py"
    hub = hub_path.read_text()
    wanted = _hub_without_our_block(hub, hub_path) + HUB_BLOCK
    files = _pretrain_files()
    if not (target.is_dir() and _folder_files(target) == files and (target / PRETRAIN_MARKER).is_file()):
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root / "pretrain"))
        for name, data in files.items():
            (staging / name).write_bytes(data)
        (staging / PRETRAIN_MARKER).write_text(json.dumps({n: _sha256(d) for n, d in files.items()}, indent=1))
        staging.chmod(0o755)
        if target.exists():
            target.rename(Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root / "pretrain")) / "old")
        staging.rename(target)
        _clear_staging(root)
    if hub != wanted:
        atomic_write_text(hub_path, wanted)
    return status(root)


def uninstall(root: Path | None = None) -> Status:
    """Remove exactly what `install` added; files a user edited are refused, not deleted."""
    root = root or s3prl_dir()
    _clear_staging(root)
    target = root / "pretrain" / PRETRAIN_NAME
    if target.exists():
        ours = _ours_untouched(target)
        if ours is False:
            raise UserEdited(f"{target}: files audio-distilbert wrote there were edited since; not deleting them. "
                             "Keep your changes elsewhere and remove the folder by hand")
        if ours:
            away = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root / "pretrain"))
            target.rename(away / PRETRAIN_NAME)
            shutil.rmtree(away)
    hub_path = root / "hub.py"
    hub = hub_path.read_text()
    without = _hub_without_our_block(hub, hub_path)
    if without != hub:
        atomic_write_text(hub_path, without)
    return status(root)


def register_in_process() -> None:
    """Expose our hub entries on the imported `s3prl.hub`, and our pretraining expert as
    `pretrain.distilbert.pretrain_expert` for s3prl's pretraining runner, as the installed files would."""
    import s3prl.hub

    from upstream_distilbert import hubconf

    for name in hubconf.__all__:
        setattr(s3prl.hub, name, getattr(hubconf, name))
    import distilbert_pretrain
    import distilbert_pretrain.pretrain_expert

    sys.modules.setdefault(f"pretrain.{PRETRAIN_NAME}", distilbert_pretrain)
    sys.modules.setdefault(f"pretrain.{PRETRAIN_NAME}.pretrain_expert", distilbert_pretrain.pretrain_expert)
