"""Make s3prl see the plugin: on disk for its literal commands, or in-process for ours.

On disk (`audio-distilbert s3prl install`): `s3prl/hub.py` gets one marked block that imports our hub entries.
s3prl's hub is a list of static imports, so nothing else makes `run_downstream.py -u distilbert_local` find them.
The block is added and removed by its exact text, so `uninstall` leaves s3prl's files byte for byte as before,
and `install` twice is the same as once.

In-process (`audio-distilbert downstream`): the same hub entries are set on the imported `s3prl.hub` module,
without writing anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HUB_BLOCK = (
    "\n# >>> audio-distilbert: added by `audio-distilbert s3prl install`, removed by `... uninstall`\n"
    "from upstream_distilbert.hubconf import *  # noqa: F401,F403\n"
    "# <<< audio-distilbert\n"
)


def s3prl_dir() -> Path:
    """The installed s3prl package folder (where its run_*.py scripts live)."""
    import s3prl

    return Path(s3prl.__file__).resolve().parent


@dataclass(frozen=True)
class Status:
    s3prl_dir: Path
    hub_registered: bool

    def describe(self) -> str:
        state = "installed" if self.hub_registered else "not installed"
        return (
            f"s3prl at {self.s3prl_dir}\n"
            f"  hub entries distilbert_local, distilbert_url, distilbert (s3prl/hub.py): {state}"
        )


def status(root: Path | None = None) -> Status:
    root = root or s3prl_dir()
    return Status(root, HUB_BLOCK in (root / "hub.py").read_text())


def install(root: Path | None = None) -> Status:
    """Register the plugin in s3prl's files; a second call changes nothing."""
    root = root or s3prl_dir()
    hub_path = root / "hub.py"
    hub = hub_path.read_text()
    if HUB_BLOCK not in hub:
        hub_path.write_text(hub + HUB_BLOCK)
    return status(root)


def uninstall(root: Path | None = None) -> Status:
    """Remove exactly what `install` added."""
    root = root or s3prl_dir()
    hub_path = root / "hub.py"
    hub = hub_path.read_text()
    if HUB_BLOCK in hub:
        hub_path.write_text(hub.replace(HUB_BLOCK, "", 1))
    return status(root)


def register_in_process() -> None:
    """Expose our hub entries on the imported `s3prl.hub`, as the installed block would."""
    import s3prl.hub
    from upstream_distilbert import hubconf

    for name in hubconf.__all__:
        setattr(s3prl.hub, name, getattr(hubconf, name))
