"""Make s3prl see the plugin: on disk for its literal commands, or in-process for ours.

On disk (`audio-distilbert s3prl install`):
- `s3prl/hub.py` gets one marked block that imports our hub entries. s3prl's hub is a list of static imports, so
  nothing else makes `run_downstream.py -u distilbert_local` find them.
- `s3prl/pretrain/distilbert/` gets a two-line `pretrain_expert.py` that imports ours, and copies of our default
  configs: `run_pretrain.py -u distilbert` lists that folder and imports `pretrain.distilbert.pretrain_expert`.
The block is added and removed by its exact text and the folder carries a marker file, so `uninstall` leaves
s3prl's files byte for byte as before, and `install` twice is the same as once.

In-process (`audio-distilbert downstream|pretrain`): the same entries are set on the imported modules, without
writing anything.
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

HUB_BLOCK = (
    "\n# >>> audio-distilbert: added by `audio-distilbert s3prl install`, removed by `... uninstall`\n"
    "from upstream_distilbert.hubconf import *  # noqa: F401,F403\n"
    "# <<< audio-distilbert\n"
)
PRETRAIN_NAME = "distilbert"
PRETRAIN_MARKER = ".installed-by-audio-distilbert"
PRETRAIN_SHIM = (
    '"""Installed by `audio-distilbert s3prl install`: the distilbert pretraining task lives in distilbert_pretrain."""\n'
    "from distilbert_pretrain.pretrain_expert import UpstreamPretrainExpert  # noqa: F401\n"
)


def s3prl_dir() -> Path:
    """The installed s3prl package folder (where its run_*.py scripts live)."""
    import s3prl

    return Path(s3prl.__file__).resolve().parent


def expose_s3prl_top_level() -> None:
    """Make s3prl's folder importable as top-level modules (`optimizers`, `pretrain`, `upstream`, `utility`), as
    its run_*.py scripts and the checkpoints they pickle expect."""
    root = str(s3prl_dir())
    if root not in sys.path:
        sys.path.append(root)


def pretrain_config_dir() -> Path:
    """Our default configs for `-u distilbert` (config_model.yaml, config_runner.yaml)."""
    import distilbert_pretrain

    return Path(distilbert_pretrain.__file__).resolve().parent


@dataclass(frozen=True)
class Status:
    s3prl_dir: Path
    hub_registered: bool
    pretrain_registered: bool

    def describe(self) -> str:
        def state(flag: bool) -> str:
            return "installed" if flag else "not installed"

        return (
            f"s3prl at {self.s3prl_dir}\n"
            f"  hub entries distilbert_local, distilbert_url, distilbert (s3prl/hub.py): {state(self.hub_registered)}\n"
            f"  pretraining task `run_pretrain.py -u {PRETRAIN_NAME}` (s3prl/pretrain/{PRETRAIN_NAME}/): "
            f"{state(self.pretrain_registered)}"
        )


def status(root: Path | None = None) -> Status:
    root = root or s3prl_dir()
    return Status(
        root, HUB_BLOCK in (root / "hub.py").read_text(), (root / "pretrain" / PRETRAIN_NAME / PRETRAIN_MARKER).is_file()
    )


def install(root: Path | None = None) -> Status:
    """Register the plugin in s3prl's files; a second call changes nothing."""
    root = root or s3prl_dir()
    hub_path = root / "hub.py"
    hub = hub_path.read_text()
    if HUB_BLOCK not in hub:
        hub_path.write_text(hub + HUB_BLOCK)
    target = root / "pretrain" / PRETRAIN_NAME
    if target.exists() and not (target / PRETRAIN_MARKER).is_file():
        raise FileExistsError(f"{target}: exists and was not made by audio-distilbert; not overwriting it")
    target.mkdir(exist_ok=True)
    (target / "__init__.py").write_text("")
    (target / "pretrain_expert.py").write_text(PRETRAIN_SHIM)
    for name in ("config_model.yaml", "config_runner.yaml"):
        shutil.copyfile(pretrain_config_dir() / name, target / name)
    (target / PRETRAIN_MARKER).write_text("remove with `audio-distilbert s3prl uninstall`\n")
    return status(root)


def uninstall(root: Path | None = None) -> Status:
    """Remove exactly what `install` added."""
    root = root or s3prl_dir()
    hub_path = root / "hub.py"
    hub = hub_path.read_text()
    if HUB_BLOCK in hub:
        hub_path.write_text(hub.replace(HUB_BLOCK, "", 1))
    target = root / "pretrain" / PRETRAIN_NAME
    if (target / PRETRAIN_MARKER).is_file():
        shutil.rmtree(target)
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
