#!/usr/bin/env bash
# A clock prior trained alone on a lent GPU (one call of the device tool), on clocks of every style
# rendered and tokenized there with a tokenizer that ships. DEADLINE_S is the time the whole
# script may take (the device call's limit, which is less than its timeout_s when the session has
# less device time left: pass what is left less the machine's start, about 90 s): the step count
# is sized to what is left of it after a probe of the step time there, and printed, so the run
# can be repeated by steps. Should training still outrun it, the newest checkpoint comes back.
#   bash benchmarks/prior_gpu.sh OUT [TRAIN_SIZE DEADLINE_S TOKENIZER [qvae train-prior options...]]
# Writes OUT/prior (float16 weights: config.json, generation_config.json, model.safetensors),
# OUT/metrics.json and OUT/log.txt. Assemble a pipeline from it on the CPU (benchmarks/RESULTS.md).
set -euo pipefail
OUT=${1:?usage: prior_gpu.sh OUT [TRAIN_SIZE DEADLINE_S TOKENIZER [train-prior options]]}
TRAIN_SIZE=${2:-200000}
DEADLINE=${3:-480}
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
train() {  # train-prior on the tokens with every condition, the given extra options, within LIMIT s
  timeout "${LIMIT:-0}" $PY -m pipelines.cli train-prior --tokens "$WORK/tokens" --conditions "$CONDITIONS" --batch_size 256 \
    --save_every 500 --progress false "$@"
}
# the probe: a short run of its own, whose trainer prints its estimate after its first steps.
# Eager on both runs: a fresh machine's compilation takes an unknown share of the one call
# (a first try with a compiled probe, stopped by pkill, came back with nothing).
rm -rf "$WORK/probe"
train --steps 30 --compile false --out "$WORK/probe" "$@" > "$WORK/probe.log" 2>&1 || { cat "$WORK/probe.log"; exit 1; }
PER_STEP=$(sed -n 's/^estimate: \([0-9.e-]*\) s\/step.*/\1/p' "$WORK/probe.log")
[ -n "$PER_STEP" ] || { cat "$WORK/probe.log"; exit 1; }
# what is left, less 60 s for the model's start and the export; on the H200 (stop 34) the run
# went at about 0.12 s a step against its probe's 0.072 (evaluations, checkpoints), hence 1.8
LEFT=$((DEADLINE - SECONDS - 60))
STEPS=$($PY -c "print(max(250, int($LEFT / ($PER_STEP * 1.8)) // 250 * 250))")
echo "probe: $PER_STEP s/step -> --steps $STEPS for $LEFT s left of a deadline of $DEADLINE s" | tee -a "$LOG"
rm -rf "$WORK/prior"
stamped() { while IFS= read -r line; do echo "[${SECONDS} s] $line"; done; }  # the script's clock on each line
TRAIN_LEFT=$((DEADLINE - SECONDS - 20))  # at least a second: timeout takes no negative limit
LIMIT=$((TRAIN_LEFT > 1 ? TRAIN_LEFT : 1)) train --steps "$STEPS" --compile false --out "$WORK/prior" "$@" 2>&1 | stamped | tee -a "$LOG" ||
  echo "training cut at the deadline: the newest checkpoint's weights come back (its schedule unfinished)" | tee -a "$LOG"
$PY - "$WORK" "$OUT" <<'PY' 2>&1 | tee -a "$LOG"
import shutil, sys, torch
from pathlib import Path
from safetensors.torch import load_file
from shared.checkpoints import latest_checkpoint
from stage2_prior import load_prior
work, out = Path(sys.argv[1]), Path(sys.argv[2])
if (work / "prior" / "model").exists():
    prior = load_prior(work / "prior" / "model")
    shutil.copy(work / "prior" / "metrics.json", out / "metrics.json")
else:  # the probe's model has the same config; the weights are the newest complete checkpoint's
    found = latest_checkpoint(work / "prior")
    if found is None:
        sys.exit("no checkpoint was complete at the deadline (--save_every, 500 steps here): no prior comes back")
    path, manifest = found
    prior = load_prior(work / "probe" / "model")
    prior.load_state_dict(load_file(path / "model.safetensors"))
    print(f"exported {path.name} (step {manifest['step']})")
prior.to(torch.float16).save_pretrained(out / "prior")
PY
