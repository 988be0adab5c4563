"""Print an apt source list (deb822) that adds the `contrib` and `non-free` components to this Debian machine's
own release entries: the same URIs, suites and keys as its `main` entries, nothing hard-coded. Used by
scripts/dev.sh when apt offers no `mbrola` (Debian contrib) or its voices (non-free). Prints nothing where no
such entry exists. Standard library only: it runs before the project's environment exists."""
from __future__ import annotations

import re
import sys
from pathlib import Path

ONE_LINE_OPTIONS = {"signed-by": "Signed-By", "arch": "Architectures", "trusted": "Trusted"}


def deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas, current, key = [], {}, None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
        elif line[0].isspace() and key:
            current[key] += "\n" + line
        else:
            key, _, value = line.partition(":")
            current[key.strip()] = value.strip()
    return stanzas


def one_line_entries(text: str) -> list[dict[str, str]]:
    entries = []
    for line in text.splitlines():
        match = re.match(r"^\s*deb\s+(?:\[(?P<options>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)\s+(?P<components>.+)$",
                         line)
        if not match:
            continue
        entry = {"Types": "deb", "URIs": match["uri"], "Suites": match["suite"], "Components": match["components"]}
        for option in (match["options"] or "").split():
            name, _, value = option.partition("=")
            if name in ONE_LINE_OPTIONS:
                entry[ONE_LINE_OPTIONS[name]] = value
        entries.append(entry)
    return entries


def main() -> int:
    codename = next((line.split("=", 1)[1].strip().strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                     if line.startswith("VERSION_CODENAME=")), "")
    if not codename:
        return 0
    apt = Path("/etc/apt")
    entries = [e for f in sorted(apt.glob("sources.list.d/*.sources")) for e in deb822_stanzas(f.read_text())
               if "audio-distilbert" not in f.name]
    entries += [e for f in [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))] if f.is_file()
                for e in one_line_entries(f.read_text())]
    out = []
    for entry in entries:
        suites = [s for s in entry.get("Suites", "").split() if s == codename or s.startswith(f"{codename}-")]
        if (entry.get("Enabled", "yes").lower() == "no" or "deb" not in entry.get("Types", "").split()
                or "main" not in entry.get("Components", "").split() or not suites):
            continue
        fields = {"Types": "deb", "URIs": entry["URIs"], "Suites": " ".join(suites), "Components": "contrib non-free"}
        fields.update({k: entry[k] for k in ("Signed-By", "Architectures", "Trusted") if k in entry})
        out.append("\n".join(f"{k}: {v}" for k, v in fields.items()))
    if out:
        print("# added by audio-distilbert's scripts/dev.sh: contrib and non-free of this machine's own Debian entries")
        print("\n\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
