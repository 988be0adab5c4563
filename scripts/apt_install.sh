# Sourced by scripts/dev.sh (and its test): installing Debian packages without changing the machine's apt sources.
# Needs `repo` (the checkout) and `log` from the sourcing script.

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
apt_update() {
    [ -n "$apt_updated" ] && return
    as_root apt-get update -qq && apt_updated=1
}

apt_install() {
    log "installing $* with apt-get"
    apt_update && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# Installs Debian packages. Those that apt offers from none of the machine's sources (festival's rab voice and
# mbrola are in Debian contrib, MBROLA's voices in non-free) are installed, on Debian only, through a temporary apt
# configuration: the machine's own source lists plus the contrib and non-free components of its Debian entries (the
# same URIs, suites and keys; scripts/apt_contrib_sources.py), with package lists of its own
# (Dir::Etc::SourceList, Dir::Etc::SourceParts, Dir::State::Lists). The machine's apt sources and lists are left
# exactly as they were; only the packages stay installed.
apt_install_any() {
    apt_update
    local pkg unoffered=()
    for pkg in "$@"; do [ -n "$(apt-cache madison "$pkg" 2>/dev/null)" ] || unoffered+=("$pkg"); done
    if [ ${#unoffered[@]} -eq 0 ]; then
        apt_install "$@"
        return
    fi
    if [ "$(. /etc/os-release && echo "${ID:-}")" != debian ]; then
        log "apt offers no ${unoffered[*]} and this is not Debian: install $* yourself"
        return 1
    fi
    local entries
    entries=$(python3 "$repo/scripts/apt_contrib_sources.py")
    if [ -z "$entries" ]; then
        log "apt offers no ${unoffered[*]}, and no Debian entry with 'main' for this release was found to add contrib/non-free to"
        return 1
    fi
    local tmp
    tmp=$(mktemp -d)
    mkdir -p "$tmp/sources.list.d" "$tmp/lists/partial"
    if [ -f /etc/apt/sources.list ]; then cp /etc/apt/sources.list "$tmp/sources.list"; else : >"$tmp/sources.list"; fi
    find /etc/apt/sources.list.d -maxdepth 1 \( -name '*.list' -o -name '*.sources' \) -exec cp {} "$tmp/sources.list.d/" \;
    printf '%s\n' "$entries" >"$tmp/sources.list.d/audio-distilbert-contrib-non-free.sources"
    chmod -R a+rX "$tmp"
    local apt_tmp=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/sources.list.d"
                   -o "Dir::State::Lists=$tmp/lists" -o "APT::Sandbox::User=root")
    log "installing $* with apt-get through a temporary configuration that adds Debian contrib and non-free" \
        "(this machine's apt sources stay as they were)"
    local ok=0
    as_root apt-get "${apt_tmp[@]}" update -qq &&
        DEBIAN_FRONTEND=noninteractive as_root apt-get "${apt_tmp[@]}" install -y -qq "$@" >/dev/null || ok=$?
    rm -rf "$tmp"
    return $ok
}
