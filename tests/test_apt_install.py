"""scripts/apt_install.sh: packages apt offers from none of the machine's sources (mbrola and its voices, festival's
rab voice) are installed through a temporary apt configuration, and the machine's apt sources stay as they were."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO

DEBIAN = Path("/etc/os-release").is_file() and "ID=debian" in Path("/etc/os-release").read_text()
SOURCES = Path("/etc/apt/sources.list.d")


def _listing() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(SOURCES.iterdir())} if SOURCES.is_dir() else {}


@pytest.mark.skipif(not DEBIAN or os.geteuid() != 0, reason="apt_install_any acts on Debian as root (as CI runs it)")
def test_contrib_packages_install_through_a_temporary_apt_configuration(tmp_path: Path) -> None:
    """apt-get and apt-cache are stand-ins that record their arguments (apt itself runs for real in the test
    command's own install): apt offers flite but no mbrola-us1, so mbrola-us1 goes through a configuration in a
    temporary folder holding the machine's lists plus contrib and non-free, which is gone afterwards."""
    calls, fake = tmp_path / "calls", tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-cache").write_text('#!/bin/sh\n[ "$1" = madison ] && [ "$2" = flite ] && echo "flite | 1 | main"\n'
                                    "exit 0\n")
    (fake / "apt-get").write_text(f'#!/bin/sh\necho "apt-get $*" >> {calls}\n'
                                  'for a; do case "$a" in Dir::Etc::SourceParts=*) d="${a#*=}"; '
                                  f'ls "$d" >> {calls}; cat "$d"/audio-distilbert-* >> {calls};; esac; done\n')
    for tool in fake.iterdir():
        tool.chmod(0o755)
    before = _listing()
    script = (f"set -e; repo={REPO}; log() {{ echo \"[log] $*\"; }}; source {REPO}/scripts/apt_install.sh; "
              "apt_install_any flite; apt_install_any mbrola-us1")
    proc = subprocess.run(["bash", "-c", script], env=dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = calls.read_text().splitlines()
    assert lines[0] == "apt-get update -qq" and lines[1] == "apt-get install -y -qq flite"  # offered: plain apt
    temporary = [line for line in lines if "Dir::Etc::SourceParts=" in line]
    assert [line.split()[-1] for line in temporary] == ["-qq", "mbrola-us1"]  # update, then install, through it
    parts = temporary[0].split("Dir::Etc::SourceParts=")[1].split()[0]
    for option in ("Dir::Etc::SourceList=", "Dir::State::Lists="):
        assert option + str(Path(parts).parent) in temporary[1]
    assert set(before) - {n for n in before if not n.endswith((".list", ".sources"))} <= set(lines)  # the machine's
    assert "audio-distilbert-contrib-non-free.sources" in lines and "Components: contrib non-free" in lines
    assert not Path(parts).exists()  # the temporary configuration is gone
    assert _listing() == before  # and the machine's sources are as they were
    assert "this machine's apt sources stay as they were" in proc.stdout


def test_the_machines_apt_sources_hold_nothing_of_ours() -> None:
    """What the test command installed (espeak-ng, mbrola and its voices from contrib and non-free) came through
    a temporary configuration: no source list of ours is left in the machine's apt sources."""
    assert not [name for name in _listing() if "audio-distilbert" in name]
