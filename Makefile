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

PROMPTS := "quarter past three" "10:10" "half past seven" "ten to six" "noon" "7h05" \
	"twenty-five past 11" "quarter to nine" "4:40 pm" "1:50" "8:25" "six o'clock"

# a captioned grid of generated clocks, 4 per prompt, from the weights shipped in the package
demo: install
	$(BIN)/qvae generate $(PROMPTS) --n 4 --out out/demo_clocks.png

# everything from scratch on defaults (~30 min on a 2-core CPU): data, tokenizer, tokens,
# prior, pipeline folder, conditional-VAE baseline, evaluation report, the grid
train: install
	$(BIN)/qvae train --out runs/default --tokenizer-steps 2200 --prior-steps 1500 --baseline-steps 600

# pytest exits 5 when it collects no tests: say so and pass rather than fail CI.
test: install
	$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit code 5)"; exit 0; fi; exit $$rc

clean:
	rm -rf $(VENV) out runs *.egg-info
