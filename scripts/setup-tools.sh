#!/usr/bin/env bash
# Installs what the build and the tests need and is missing; idempotent, skips what is already there.
#  - a Python virtualenv OUTSIDE the clone holding torch 2.11.0 (libtorch for tch 0.24) and CMake
#    (>= 3.26, for the static HDF5 that hdf5-metno builds);
#  - gwyfile and igor2 (independent .gwy / .ibw readers the round-trip tests check our files with);
#  - socat (pty pairs for the serial tests), DejaVu fonts (figure text) and gwyddion (its
#    gwyddion-thumbnailer renders our .gwy/.ibw outputs headless in the tests) from Debian.
# Prints the virtualenv path on its last line.
set -euo pipefail

TORCH_VERSION=2.11.0
CMAKE_MIN=3.26
TOOLS_DIR="${AFM_SPARK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/afm-spark/tools-${TORCH_VERSION}}"
PY="${PYTHON:-python3}"

log() { echo "[setup] $*" >&2; }

if [ ! -x "$TOOLS_DIR/bin/python" ]; then
    log "creating virtualenv $TOOLS_DIR"
    mkdir -p "$(dirname "$TOOLS_DIR")"
    "$PY" -m venv "$TOOLS_DIR"
fi

if ! "$TOOLS_DIR/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
    log "installing torch==$TORCH_VERSION into $TOOLS_DIR (about 4.6 GB, once)"
    "$TOOLS_DIR/bin/pip" install --quiet "torch==$TORCH_VERSION"
else
    log "torch $TORCH_VERSION already in $TOOLS_DIR"
fi

cmake_ok() {
    [ -x "$TOOLS_DIR/bin/cmake" ] || return 1
    local v
    v=$("$TOOLS_DIR/bin/cmake" --version | head -n1 | awk '{print $3}')
    [ "$(printf '%s\n%s\n' "$CMAKE_MIN" "$v" | sort -V | head -n1)" = "$CMAKE_MIN" ]
}
if ! cmake_ok; then
    log "installing cmake>=$CMAKE_MIN into $TOOLS_DIR"
    "$TOOLS_DIR/bin/pip" install --quiet "cmake>=$CMAKE_MIN"
else
    log "cmake already in $TOOLS_DIR"
fi

# Independent readers of the files we write (tests): gwyfile (.gwy) and igor2 (.ibw), with NumPy.
if ! "$TOOLS_DIR/bin/python" -c "import gwyfile, igor2, numpy" 2>/dev/null; then
    log "installing gwyfile, igor2 and numpy into $TOOLS_DIR"
    "$TOOLS_DIR/bin/pip" install --quiet gwyfile igor2 numpy
else
    log "gwyfile and igor2 already in $TOOLS_DIR"
fi

# Debian packages: socat (pty pairs for the serial-line tests), DejaVu fonts (text in the PNG figures),
# gwyddion (gwyddion-thumbnailer: Gwyddion itself opening our .gwy and .ibw outputs in the tests).
missing=()
command -v socat >/dev/null 2>&1 || missing+=(socat)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v gwyddion-thumbnailer >/dev/null 2>&1 || missing+=(gwyddion)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "socat, fonts and gwyddion already installed"
fi

echo "$TOOLS_DIR"
