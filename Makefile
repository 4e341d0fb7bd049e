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

# Procgen (through envpool) needs Debian's Qt5 runtime; the test of report.html opens it in
# headless Chromium.
system-deps:
	@if ! ldconfig -p 2>/dev/null | grep -q libQt5Gui.so.5; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian package libqt5gui5 (Qt5 runtime for Procgen)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libqt5gui5 >/dev/null; \
	  else \
	    echo "error: Procgen needs the Debian package libqt5gui5; install it with: sudo apt-get install libqt5gui5" >&2; \
	    exit 2; \
	  fi; \
	fi
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian package chromium (headless browser for the report.html test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "error: the report.html test needs the Debian package chromium; install it with: sudo apt-get install chromium" >&2; \
	    exit 2; \
	  fi; \
	fi

# the demo benchmark suite: GRPO, PPO and MRFT with the oracle and context-free rows, 3 seeds;
# prints each method's score in context and after adaptation, the verdict and the report's
# path (running it again reuses the finished runs in bench/demo)
demo: system-deps $(STAMP)
	$(BIN)/mrft bench --suite demo --methods grpo,ppo,mrft,oracle,context-free --out bench/demo

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: system-deps $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) runs bench .pytest_cache
