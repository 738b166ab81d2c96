# Source this to build by hand with the same settings `make` uses:  . scripts/dev-env.sh
TOOLS_DIR="${AFM_SPARK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/afm-spark/tools-2.11.0}"
export AFM_SPARK_TOOLS="$TOOLS_DIR"
export LIBTORCH_USE_PYTORCH=1
export PATH="$TOOLS_DIR/bin:$PATH"
export CMAKE="$TOOLS_DIR/bin/cmake"
export HDF5_STATIC=1
