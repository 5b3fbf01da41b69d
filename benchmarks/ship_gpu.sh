#!/usr/bin/env bash
# The shipped clock pipeline, trained on a lent GPU (one call of the device tool; see benchmarks/RESULTS.md).
#   bash benchmarks/ship_gpu.sh OUT [TRAIN_SIZE TOKENIZER_STEPS PRIOR_STEPS]
# Writes OUT/pipeline (float16, 6 files), OUT/log.txt and OUT/summary.json. Environment:
#   TOKENIZER_CONFIG  JSON over the tokenizer's config (default: the shipped f8, K = 1024 cosine codes)
#   IMAGE_MIX         the tokenizer's share of general images (default 0; the mix's files must be
#                     reachable there: QVAE_IMAGE_MIX_ROOTS, see benchmarks/tokenizer_gpu.sh)
#   TOKENIZER         a tokenizer folder trained before (e.g. by tokenizer_gpu.sh, carried): used as
#                     it is, the tokenizer stage skipped, so the call's time goes to the prior
set -euo pipefail
OUT=${1:?usage: ship_gpu.sh OUT [TRAIN_SIZE TOKENIZER_STEPS PRIOR_STEPS]}
TRAIN_SIZE=${2:-150000}
TOKENIZER_STEPS=${3:-6000}
PRIOR_STEPS=${4:-8000}
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
WORK=${WORK:-/tmp/ship}
TOKENIZER_CONFIG=${TOKENIZER_CONFIG:-'{"codebook_size": 1024, "code_dim": 16, "cosine": true}'}
mkdir -p "$OUT"
if [ -n "${TOKENIZER:-}" ]; then
  mkdir -p "$WORK/tokenizer" && cp -r "$TOKENIZER" "$WORK/tokenizer/model"
  cp "$TOKENIZER/../metrics.json" "$WORK/tokenizer/" 2>/dev/null || true
fi
$PY -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" > "$OUT/log.txt"
$PY -m pipelines.cli train --out "$WORK" --train-size "$TRAIN_SIZE" \
  --tokenizer-steps "$TOKENIZER_STEPS" --tokenizer-batch-size 256 \
  --tokenizer-config "$TOKENIZER_CONFIG" --tokenizer-image-mix "${IMAGE_MIX:-0}" \
  --prior-steps "$PRIOR_STEPS" --prior-batch-size 256 --no-evaluate 2>&1 | grep -v "it/s\]$" | tee -a "$OUT/log.txt"
$PY - "$WORK" "$OUT" <<'PY'
import json, shutil, sys, torch
from pathlib import Path
from pipelines.pipeline import ClockPipeline
work, out = Path(sys.argv[1]), Path(sys.argv[2])
ClockPipeline.from_pretrained(work / "pipeline").save_pretrained(out / "pipeline", dtype=torch.float16)
metrics = {s: json.loads(m.read_text()) for s in ("tokenizer", "prior") if (m := work / s / "metrics.json").exists()}
summary = json.loads((work / "summary.json").read_text())
(out / "summary.json").write_text(json.dumps({**summary, "metrics": metrics}, indent=1))
PY
