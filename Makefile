# `make demo` and `make test` each build .venv when it is missing, install everything, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow system-deps lint clean

# torch is installed first, pinned to the CPU build, so that no dependency pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# $(call debian,CHECK,PACKAGE,WHAT NEEDS IT): install a Debian package when CHECK fails, as
# root with apt-get; otherwise one error line that names it
define debian
	@if ! $(1) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian package $(2) ($(3))"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "error: $(3) needs the Debian package $(2); install it with: sudo apt-get install $(2)" >&2; \
	    exit 2; \
	  fi; \
	fi
endef

# Procgen (through envpool) needs Debian's Qt5 runtime; the test of report.html opens it in
# headless Chromium.
system-deps:
	$(call debian,sh -c 'ldconfig -p | grep -q libQt5Gui.so.5',libqt5gui5,Procgen's Qt5 runtime)
	$(call debian,command -v chromium,chromium,the report.html browser test)

# the demo benchmark suite: GRPO, PPO and MRFT with the oracle and context-free rows, 3 seeds;
# prints each method's score in context and after adaptation, the verdict and the report's
# path (running it again reuses the finished runs in bench/demo)
demo: system-deps $(STAMP)
	$(BIN)/mrft bench --suite demo --methods grpo,ppo,mrft,oracle,context-free --out bench/demo

# two pytest workers, one per core of the machine CI runs on; tests that start their own
# process groups (Ray clusters, torchrun ranks) share a worker so that they never overlap
test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test-slow: system-deps $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) runs bench .pytest_cache
