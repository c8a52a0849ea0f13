# Every target does its own set-up from a fresh clone: a venv with torch pinned to the local CPU
# build first (an unpinned torch pulls a multi-GB CUDA build), then the package and its dev extra.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup test demo bench check-report clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/spatialprobe demo

# Outside `make test`: installs Debian's chromium (as root) and playwright, then checks the newest
# report (running `spatialprobe demo --quick` first if there is none) and saves screenshots.
check-report: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/pip install -q -c constraints.txt -e ".[report-check]"
	ls runs/*/report.html >/dev/null 2>&1 || $(BIN)/spatialprobe demo --quick --quiet
	$(BIN)/python scripts/check_report.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py

clean:
	rm -rf $(VENV) runs .hypothesis
