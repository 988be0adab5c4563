#!/usr/bin/env bash
# One entry point for a fresh machine: builds (once) the Python environment, outside the clone and keyed by the
# dependency spec, then runs the demo, the tests, or any command inside that environment.
#   bash scripts/dev.sh demo [demo flags]   the whole job on the built-in corpus
#   bash scripts/dev.sh test [pytest flags] the test suite
#   bash scripts/dev.sh mbrola              install the corpus's optional MBROLA speakers (Debian contrib/non-free)
#   bash scripts/dev.sh env                 print the environment's path
#   bash scripts/dev.sh exec CMD ...        run CMD inside the environment
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
envs_root=${AUDIO_DISTILBERT_ENVS:-$HOME/.cache/audio-distilbert}
python=${PYTHON:-python3}

log() { echo "[dev.sh] $*" >&2; }
# pip, without the notices about this machine's optional local package folders.
pip_q() { "$venv/bin/pip" "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

build_env() {
    # Torch: on machines of this project's kind pip finds a local CPU build of torch 2.13.0, for which no
    # torchaudio wheel exists; torchaudio 2.8's Python parts (kaldi fbank, soundfile-backed load) work on it
    # without their compiled libraries, which are built for torch 2.8 and would fail to load. Anywhere else the
    # environment gets the regular torch 2.8.0 + torchaudio 2.8.0 pair, the same that `pip install .` resolves.
    pip_q install -q --upgrade pip setuptools wheel
    if compgen -G "/opt/wheels/torch-2.13.0+cpu-*.whl" >/dev/null; then
        pip_q install -q torch==2.13.0
        pip_q install -q --no-deps torchaudio==2.8.0
        rm -f "$venv"/lib/python*/site-packages/torchaudio/lib/*.so
    else
        pip_q install -q torch==2.8.0 torchaudio==2.8.0
    fi
    # s3prl without its dependency list (it would pull another torch); then its plain requirements and ours.
    pip_q install -q --no-deps s3prl==0.4.18
    local deps
    deps=$("$venv/bin/python" - "$repo/pyproject.toml" <<'PY'
import re, sys, tomllib
from importlib.metadata import requires
skip = re.compile(r"^(torch|torchaudio|s3prl)\b")
with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)["project"]
extras = project["optional-dependencies"]
ours = project["dependencies"] + extras["test"] + extras["onnx"] + extras["notebook"] + extras["docs"]
theirs = [r for r in requires("s3prl") if "extra ==" not in r]
print("\n".join(r for r in ours + theirs if not skip.match(r)))
PY
)
    mapfile -t dep_list <<<"$deps"
    pip_q install -q "${dep_list[@]}"
}

# The environment's key: the dependency lists and the recipe that installs them, nothing else.
key=$({ sed -n '/^dependencies = \[/,/^\]/p; /^test = /p; /^onnx = /p; /^notebook = /p; /^docs = /p' "$repo/pyproject.toml"; declare -f build_env; } |
    sha256sum | cut -c1-16)
venv="$envs_root/venv-$key"

ensure_env() {
    mkdir -p "$envs_root"
    exec 9>"$envs_root/.lock"
    flock 9
    if [ ! -f "$venv/.complete" ]; then
        log "building the Python environment in $venv (once per dependency spec)"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        build_env
        touch "$venv/.complete"
    fi
    # The environment is shared by every clone with the same spec: point its editable install at this one
    # (again whenever pyproject.toml changes, e.g. its package list). A job started through this script holds
    # $venv/.in-use (shared) while it runs; re-pointing needs it exclusively, so it never switches a running job's
    # code to another clone's mid-run: it refuses instead.
    local stamp
    stamp="$repo $(sha256sum "$repo/pyproject.toml" | cut -c1-16)"
    if [ "$(cat "$venv/.repo" 2>/dev/null)" != "$stamp" ]; then
        exec 8>>"$venv/.in-use"
        if ! flock -n -x 8; then
            log "a job of another checkout ($(cut -d' ' -f1 "$venv/.repo")) is running in $venv; pointing the environment at"
            log "$repo now would switch that job's code mid-run. Wait for it to end, or give this checkout an environment"
            log "of its own: AUDIO_DISTILBERT_ENVS=DIR bash scripts/dev.sh ..."
            exit 1
        fi
        local out
        out=$(pip_q install -q --no-deps --no-build-isolation -e "$repo" 2>&1) || { echo "$out" >&2; exit 1; }
        echo "$stamp" >"$venv/.repo"
    fi
    exec 8>>"$venv/.in-use"
    flock -s 8  # held by this job (and what it execs) until it ends
    flock -u 9
}

# apt_install_any and its helpers (log, as_root, apt-get through a temporary configuration)
# shellcheck source=scripts/apt_install.sh
source "$repo/scripts/apt_install.sh"

# System programs the corpus needs: flite (Debian main) renders speech and reports its phone timings; festival
# with its kal, ked (main) and rab (contrib) diphone voices renders the training speakers of a second engine.
ensure_system_packages() {
    command -v flite >/dev/null || apt_install_any flite
    local voices=/usr/share/festival/voices/english
    command -v festival >/dev/null && [ -d "$voices/kal_diphone" ] && [ -d "$voices/ked_diphone" ] &&
        [ -d "$voices/rab_diphone" ] || apt_install_any festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k
}

# The corpus's optional extra speakers (`corpus --mbrola-speakers N`): espeak-ng with MBROLA's us1, us2 and en1
# voices (mbrola in Debian contrib, its voices in non-free under a non-commercial licence).
ensure_mbrola() {
    local missing=()
    command -v espeak-ng >/dev/null || missing+=(espeak-ng)
    command -v mbrola >/dev/null || missing+=(mbrola)
    for voice in us1 us2 en1; do [ -f "/usr/share/mbrola/$voice/$voice" ] || missing+=("mbrola-$voice"); done
    [ ${#missing[@]} -eq 0 ] || apt_install_any "${missing[@]}"
}

ensure_system_packages
ensure_env
export PATH="$venv/bin:$PATH"
# Two cores: keep torch's threads within them.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

cmd=${1:-test}
shift || true
case "$cmd" in
    # One pytest-xdist worker per core (each with one torch thread, tests/conftest.py), a whole test file per
    # worker so that module fixtures run once; tests of s3prl's folder take turns through a lock. Files go out in
    # collection order (tests/conftest.py puts the longest first), not xdist's default of most tests first.
    test) ensure_mbrola && cd "$repo" &&
          AUDIO_DISTILBERT_REQUIRE_MBROLA=1 exec python -m pytest -n "$(nproc)" --dist loadfile --no-loadscope-reorder "$@" ;;
    demo) ensure_mbrola || log "no MBROLA speakers: the demo leaves its unseen-synthesizer column out"
          exec audio-distilbert demo "$@" ;;
    mbrola) ensure_mbrola ;;
    env) echo "$venv" ;;
    exec) exec "$@" ;;
    *) echo "usage: bash scripts/dev.sh {demo|test|mbrola|env|exec CMD...}" >&2; exit 2 ;;
esac
