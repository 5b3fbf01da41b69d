#!/usr/bin/env bash
# A clock prior trained alone on a lent GPU (one call of the device tool), on clocks of every style
# rendered and tokenized there with a tokenizer that ships; its step count is sized to a budget of
# seconds from a probe of the step time there, and printed, so the run can be repeated by steps.
#   bash benchmarks/prior_gpu.sh OUT [TRAIN_SIZE BUDGET_S TOKENIZER [qvae train-prior options...]]
# Writes OUT/prior (float16 weights: config.json, generation_config.json, model.safetensors),
# OUT/metrics.json and OUT/log.txt. Assemble a pipeline from it on the CPU (benchmarks/RESULTS.md).
set -euo pipefail
OUT=${1:?usage: prior_gpu.sh OUT [TRAIN_SIZE BUDGET_S TOKENIZER [train-prior options]]}
TRAIN_SIZE=${2:-200000}
BUDGET=${3:-360}
TOKENIZER=${4:-pipelines/weights/image_tokenizer}
shift $(($# < 4 ? $# : 4))
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
WORK=${WORK:-/tmp/prior_gpu}
mkdir -p "$OUT" "$WORK"
LOG=$OUT/log.txt
$PY -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" | tee "$LOG"
$PY - "$WORK" "$TRAIN_SIZE" "$TOKENIZER" <<'PY' 2>&1 | tee -a "$LOG"
import os, sys, time
from pathlib import Path
from pipelines.token_export import export_tokens
from shared.data import build_clock_dataset
work, n, tokenizer = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if not (work / "tokens" / "tokens.json").exists():
    t = time.time()
    ds = build_clock_dataset(train=n, num_proc=max(1, (os.cpu_count() or 2) - 2), progress=False)
    print(f"rendered {n} clocks in {time.time() - t:.0f} s", flush=True)
    m = export_tokens(tokenizer, ds, work / "tokens", progress=False)
    print(f"tokenized with {tokenizer}: {m['images']} images in {m['seconds']:.0f} s", flush=True)
PY
# the conditions qvae train gives a prior of rendered clocks: the time and every style field
CONDITIONS=$($PY -c "from pipelines.train import PipelineTrainingArguments as A; print(','.join(A().condition_names()))")
train() {  # train-prior on the tokens with every condition, the given extra options
  $PY -m pipelines.cli train-prior --tokens "$WORK/tokens" --conditions "$CONDITIONS" --batch_size 256 \
    --save_every 1000 --progress false "$@"
}
# the probe: a short run of its own, whose trainer prints its estimate after its first steps.
# Eager on both runs: a fresh machine's compilation takes an unknown share of the one call
# (a first try with a compiled probe, stopped by pkill, came back with nothing).
rm -rf "$WORK/probe"
train --steps 30 --compile false --out "$WORK/probe" "$@" > "$WORK/probe.log" 2>&1 || { cat "$WORK/probe.log"; exit 1; }
PER_STEP=$(sed -n 's/^estimate: \([0-9.e-]*\) s\/step.*/\1/p' "$WORK/probe.log")
[ -n "$PER_STEP" ] || { cat "$WORK/probe.log"; exit 1; }
STEPS=$($PY -c "print(max(250, int($BUDGET / ($PER_STEP * 1.15)) // 250 * 250))")
echo "probe: $PER_STEP s/step -> --steps $STEPS for a budget of $BUDGET s" | tee -a "$LOG"
rm -rf "$WORK/prior"
train --steps "$STEPS" --compile false --out "$WORK/prior" "$@" 2>&1 | tee -a "$LOG"
$PY - "$WORK/prior" "$OUT" <<'PY'
import shutil, sys, torch
from pathlib import Path
from stage2_prior import load_prior
work, out = Path(sys.argv[1]), Path(sys.argv[2])
load_prior(work / "model").to(torch.float16).save_pretrained(out / "prior")
shutil.copy(work / "metrics.json", out / "metrics.json")
PY
