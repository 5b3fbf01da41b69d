# Set-up is part of every target: a fresh machine needs only python3 and make.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser demo serve screenshot test test-fast lint train clean

$(BIN)/qvae: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the local CPU wheel first: an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,web]"
	touch $@

install: $(BIN)/qvae

# The browser tests drive Debian's Chromium (playwright with that executable: nothing is
# downloaded). Install it where we may (root or passwordless sudo, with apt); elsewhere say
# so, and those tests skip with the reason.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null && \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  --no-install-recommends chromium >/dev/null; } || \
	  echo "make browser: could not install Debian's chromium; the browser tests will skip"

# the web demo on http://127.0.0.1:7860 (Ctrl-C to stop)
serve: install
	$(BIN)/qvae serve

# docs/web_demo.png, the README's picture of the page, taken by the browser test
screenshot: install browser
	QVAE_SCREENSHOT=$(CURDIR)/docs/web_demo.png $(BIN)/python -m pytest -q tests/pipelines/test_serve.py -k ten_to_six

PROMPTS := "quarter past three" "10:10" "half past seven" "ten to six" "noon" "7h05" \
	"twenty-five past 11" "quarter to nine" "a red square clock with roman numerals at 4:40" \
	"blue clock, 1:50" "a yellow clock with black hands on a checker background at 8:25" \
	"six o'clock, no numerals, thick rim"

# a captioned grid of generated clocks, 4 per prompt, from the weights shipped in the package
demo: install
	$(BIN)/qvae generate $(PROMPTS) --n 4 --out out/demo_clocks.png

# everything from scratch on defaults (clocks of every style): data, tokenizer, tokens,
# prior, pipeline folder, conditional-VAE baseline, evaluation report, the grid
train: install
	$(BIN)/qvae train --out runs/default

# pytest exits 5 when it collects no tests: say so and pass rather than fail CI.
test: install browser
	$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit code 5)"; exit 0; fi; exit $$rc

# the fast tier for daily work (the slow tests train real models or launch processes); CI runs everything
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# what CI checks besides the tests
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) out runs *.egg-info
