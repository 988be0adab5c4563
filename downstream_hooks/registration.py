"""Make s3prl see the plugin: on disk for its literal commands, or in-process for ours.

On disk (`audio-distilbert s3prl install`):
- `s3prl/hub.py` gets one marked block that imports our hub entries. s3prl's hub is a list of static imports, so
  nothing else makes `run_downstream.py -u distilbert_local` find them. The block skips the import when this
  package is gone, so a plain `pip uninstall audio-distilbert` leaves `import s3prl.hub` working.
- `s3prl/pretrain/distilbert/` gets a small `pretrain_expert.py` that imports ours, and copies of our default
  configs: `run_pretrain.py -u distilbert` lists that folder and imports `pretrain.distilbert.pretrain_expert`.
- `s3prl/downstream/ctc/corpus/` gets a small `libriphone.py` that imports ours (`downstream_hooks.libriphone`):
  s3prl's wheel lacks that folder, so `run_downstream.py -d ctc` (SUPERB's phoneme recognition) fails without it.

Every write is atomic: `hub.py` is written to a temporary file and renamed over the original; each folder is
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
import types
from collections.abc import Callable
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
MARKER = ".installed-by-audio-distilbert"  # each folder's manifest: the sha256 of every file we wrote there
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
LIBRIPHONE_SHIM = '''"""Installed by `audio-distilbert s3prl install`: s3prl's ctc `libriphone` corpus lives in downstream_hooks."""
try:
    from downstream_hooks.libriphone import LibriPhoneDataset  # noqa: F401
except ModuleNotFoundError as missing:
    if missing.name != "downstream_hooks":
        raise
    raise ModuleNotFoundError(
        f"run_downstream.py -d ctc: audio-distilbert is not installed; install it again, or remove {__file__}'s folder"
    ) from None
'''
CONFIG_FILES = ("config_model.yaml", "config_runner.yaml")


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


def _legacy_pretrain(files: dict[str, bytes]) -> bool | None:
    """A pretraining folder an older version left without a manifest: ours when its shim is one we wrote (True:
    untouched since), else None."""
    shim = files.get("pretrain_expert.py", b"").decode(errors="replace")
    if shim in (PRETRAIN_SHIM, *LEGACY_SHIMS) and set(files) <= set(_pretrain_files()):
        return all(files[n] == (pretrain_config_dir() / n).read_bytes() for n in CONFIG_FILES if n in files)
    return None


@dataclass(frozen=True)
class Folder:
    """A folder this plugin adds to s3prl's tree: where (relative to s3prl's folder), and what it holds."""

    parent: str
    name: str
    files: Callable[[], dict[str, bytes]]
    legacy: Callable[[dict[str, bytes]], bool | None] = lambda files: None
    foreign_ok: bool = False  # a folder of that name not ours is s3prl's own (from a source checkout): left as it is

    def path(self, root: Path) -> Path:
        return root / self.parent / self.name

    @property
    def staging_prefix(self) -> str:
        """Half-built or half-removed copies of the folder, beside it."""
        return f".{self.name}.audio-distilbert-"


PRETRAIN = Folder("pretrain", PRETRAIN_NAME, _pretrain_files, _legacy_pretrain)
CTC_CORPUS = Folder("downstream/ctc", "corpus",
                    lambda: {"__init__.py": b"", "libriphone.py": LIBRIPHONE_SHIM.encode()}, foreign_ok=True)
FOLDERS = (PRETRAIN, CTC_CORPUS)


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.name != MARKER}


def _ours_untouched(spec: Folder, folder: Path) -> bool | None:
    """True: the folder holds exactly the files we wrote; False: we wrote it but files changed since; None: not
    ours."""
    files = _folder_files(folder)
    marker = folder / MARKER
    if marker.is_file():
        try:
            manifest = json.loads(marker.read_text())
        except ValueError:
            return False
        return isinstance(manifest, dict) and manifest == {n: _sha256(d) for n, d in files.items()}
    return spec.legacy(files)


def _clear_staging(root: Path) -> None:
    """Remove copies of our folders that an interrupted install or uninstall left (they are ours by name)."""
    for spec in FOLDERS:
        for leftover in (root / spec.parent).glob(f"{spec.staging_prefix}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _check_ours(spec: Folder, root: Path, doing: str) -> str:
    """What `spec`'s folder is: "absent", "ours" (untouched) or "foreign" (left alone: by uninstall, and by install
    where `spec.foreign_ok`); an edited folder of ours is refused, and a foreign one when install would overwrite it."""
    target = spec.path(root)
    if not target.exists():
        return "absent"
    ours = _ours_untouched(spec, target)
    if ours is None and (doing == "deleting" or spec.foreign_ok):
        return "foreign"
    if ours is None:
        raise RefusedError(f"{target}: exists and was not made by audio-distilbert; not {doing} it")
    if ours is False:
        raise UserEdited(f"{target}: files audio-distilbert wrote there were edited since; not {doing} them. "
                         + ("Keep your changes elsewhere, remove the folder, then run this again" if doing == "overwriting"
                            else "Keep your changes elsewhere and remove the folder by hand"))
    return "ours"


def _write_folder(spec: Folder, root: Path) -> None:
    """Assemble the folder under a temporary name and rename it into place (an older copy renamed away first)."""
    target, files = spec.path(root), spec.files()
    if target.is_dir() and _folder_files(target) == files and (target / MARKER).is_file():
        return
    staging = Path(tempfile.mkdtemp(prefix=spec.staging_prefix, dir=target.parent))
    for name, data in files.items():
        (staging / name).write_bytes(data)
    (staging / MARKER).write_text(json.dumps({n: _sha256(d) for n, d in files.items()}, indent=1))
    staging.chmod(0o755)
    if target.exists():
        target.rename(Path(tempfile.mkdtemp(prefix=spec.staging_prefix, dir=target.parent)) / "old")
    staging.rename(target)


def _remove_folder(spec: Folder, root: Path) -> None:
    away = Path(tempfile.mkdtemp(prefix=spec.staging_prefix, dir=spec.path(root).parent))
    spec.path(root).rename(away / spec.name)
    shutil.rmtree(away)


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
    ctc_corpus_registered: bool
    ctc_corpus_of_s3prl: bool = False  # s3prl's own folder is there (a source checkout), so ours is not needed

    def describe(self) -> str:
        def state(flag: bool) -> str:
            return "installed" if flag else "not installed"

        support = "supported" if self.version == SUPPORTED_S3PRL else f"not supported: audio-distilbert supports {SUPPORTED_S3PRL}"
        return (
            f"s3prl {self.version} ({support}) at {self.s3prl_dir}\n"
            f"  hub entries distilbert_local, distilbert_url, distilbert (s3prl/hub.py): {state(self.hub_registered)}\n"
            f"  pretraining task `run_pretrain.py -u {PRETRAIN_NAME}` (s3prl/pretrain/{PRETRAIN_NAME}/): "
            f"{state(self.pretrain_registered)}\n"
            f"  ctc corpus `libriphone` for `run_downstream.py -d ctc` (s3prl/downstream/ctc/corpus/): "
            + ("s3prl's own folder, left as it is" if self.ctc_corpus_of_s3prl else state(self.ctc_corpus_registered))
        )


def status(root: Path | None = None) -> Status:
    root = root or s3prl_dir()
    ours = {spec: spec.path(root).is_dir() and _ours_untouched(spec, spec.path(root)) is not None for spec in FOLDERS}
    return Status(root, s3prl_version(), HUB_BLOCK in (root / "hub.py").read_text(), ours[PRETRAIN], ours[CTC_CORPUS],
                  CTC_CORPUS.path(root).is_dir() and not ours[CTC_CORPUS])


def install(root: Path | None = None, force: bool = False) -> Status:
    """Register the plugin in s3prl's files; a second call changes nothing. A foreign or edited folder is refused
    before anything is written."""
    root = root or s3prl_dir()
    if s3prl_version() != SUPPORTED_S3PRL and not force:
        raise S3prlMismatch(f"s3prl {s3prl_version()} at {root}: audio-distilbert supports s3prl {SUPPORTED_S3PRL} "
                            "(its runners' internals are patched); install that version, or pass --force to try")
    _clear_staging(root)
    writing = [spec for spec in FOLDERS if _check_ours(spec, root, "overwriting") != "foreign"]
    hub_path = root / "hub.py"
    hub = hub_path.read_text()
    wanted = _hub_without_our_block(hub, hub_path) + HUB_BLOCK
    for spec in writing:
        _write_folder(spec, root)
    _clear_staging(root)
    if hub != wanted:
        atomic_write_text(hub_path, wanted)
    return status(root)


def uninstall(root: Path | None = None) -> Status:
    """Remove exactly what `install` added; files a user edited are refused, not deleted (nothing is removed then)."""
    root = root or s3prl_dir()
    _clear_staging(root)
    ours = [spec for spec in FOLDERS if _check_ours(spec, root, "deleting") == "ours"]
    hub_path = root / "hub.py"
    hub = hub_path.read_text()
    without = _hub_without_our_block(hub, hub_path)
    for spec in ours:
        _remove_folder(spec, root)
    if without != hub:
        atomic_write_text(hub_path, without)
    return status(root)


def register_in_process() -> None:
    """Expose our hub entries on the imported `s3prl.hub`, our pretraining expert as
    `pretrain.distilbert.pretrain_expert` for s3prl's pretraining runner, and our ctc corpus as
    `s3prl.downstream.ctc.corpus.libriphone`, as the installed files would."""
    import s3prl.hub

    from upstream_distilbert import hubconf

    for name in hubconf.__all__:
        setattr(s3prl.hub, name, getattr(hubconf, name))
    import distilbert_pretrain
    import distilbert_pretrain.pretrain_expert

    sys.modules.setdefault(f"pretrain.{PRETRAIN_NAME}", distilbert_pretrain)
    sys.modules.setdefault(f"pretrain.{PRETRAIN_NAME}.pretrain_expert", distilbert_pretrain.pretrain_expert)
    if CTC_CORPUS.path(s3prl_dir()).is_dir():
        return  # s3prl's own corpora (a source checkout), or the folder `install` wrote: imported as they are
    from . import libriphone

    corpus = types.ModuleType("s3prl.downstream.ctc.corpus", "s3prl's ctc corpora, as audio-distilbert provides them")
    corpus.__path__ = []  # a package, for `from .corpus.libriphone import ...`
    corpus.libriphone = libriphone
    sys.modules.setdefault("s3prl.downstream.ctc.corpus", corpus)
    sys.modules.setdefault("s3prl.downstream.ctc.corpus.libriphone", libriphone)
