# Set-up is part of every target: a fresh machine needs only python3 and make.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test train clean

$(BIN)/qvae: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the local CPU wheel first: an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/qvae

demo: install
	$(BIN)/qvae data --out out/demo_data --train 720 --sheet out/demo_clocks.png

# pytest exits 5 when it collects no tests: say so and pass rather than fail CI.
test: install
	$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit code 5)"; exit 0; fi; exit $$rc

clean:
	rm -rf $(VENV) out runs *.egg-info
