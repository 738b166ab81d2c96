# afm-spark — the two commands: `make demo` and `make test`.
# Both install what is missing (scripts/setup-tools.sh: torch 2.11.0 + CMake in a virtualenv outside
# the clone, socat from Debian), then build in release mode.
#   AFM_SPARK_TOOLS  where the tool virtualenv lives (default ~/.cache/afm-spark/tools-2.11.0)
#   DEMO_OUT         where `make demo` writes its run folder (default runs/demo-<date-time>; a run
#                    folder is never overwritten)

SHELL := /bin/bash
TOOLS_DIR ?= $(or $(AFM_SPARK_TOOLS),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/afm-spark/tools-2.11.0)
export AFM_SPARK_TOOLS := $(TOOLS_DIR)
# Build against the wheel's libtorch and the virtualenv's CMake (static HDF5 needs CMake >= 3.26).
export LIBTORCH_USE_PYTORCH := 1
export PATH := $(TOOLS_DIR)/bin:$(PATH)
export CMAKE := $(TOOLS_DIR)/bin/cmake
export HDF5_STATIC := 1

DEMO_OUT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
DEMO_CONFIG ?= configs/dry-run.toml

.PHONY: demo test tools build bench clean-runs

tools:
	@scripts/setup-tools.sh >/dev/null

build: tools
	cargo build --release --workspace

demo: build
	./target/release/afm-spark run --config $(DEMO_CONFIG) --out $(DEMO_OUT)

test: tools
	cargo test --release --workspace

bench: build
	./target/release/afm-spark bench

clean-runs:
	rm -rf runs
