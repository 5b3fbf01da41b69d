#!/usr/bin/env bash
# Tokenizers compared on a lent GPU (one call of the device tool; see benchmarks/RESULTS.md).
#   bash benchmarks/tokenizer_gpu.sh OUT TRAIN_SIZE STEPS NAME:IMAGE_MIX:CONFIG_JSON ...
# Renders TRAIN_SIZE clocks of every style once, then trains one tokenizer per NAME on them
# (batch 256, the rest of `qvae train-tokenizer`'s defaults, CONFIG_JSON over the config), and
# writes OUT/NAME/{config.json,model.safetensors,metrics.json} as each one ends, so that a call
# cut short still returns the ones done. Measure them with benchmarks/tokenizer_generality.py.
# The image mix is built from the files QVAE_IMAGE_MIX_ROOTS names (shared/image_mix.py): the
# GPU machine ships other files than the one the mix was defined on, so copy them over.
set -euo pipefail
OUT=${1:?usage: tokenizer_gpu.sh OUT TRAIN_SIZE STEPS NAME:IMAGE_MIX:CONFIG_JSON ...}
TRAIN_SIZE=${2:?}
STEPS=${3:?}
shift 3
cd "$(dirname "$0")/.."
source benchmarks/gpu_env.sh
WORK=${WORK:-/tmp/tokenizers}
mkdir -p "$OUT" "$WORK"
$PY -m pipelines.cli data --out "$WORK/data" --train "$TRAIN_SIZE" 2>&1 | tee "$OUT/log.txt"
for spec in "$@"; do
  IFS=: read -r name mix config <<<"$spec"
  start=$(date +%s)
  $PY -m pipelines.cli train-tokenizer --data "$WORK/data" --out "$WORK/$name" --steps "$STEPS" \
    --batch-size 256 --image-mix "$mix" --config "$config" 2>&1 | grep -v "it/s\]$" | tee -a "$OUT/log.txt"
  echo "$name: $(($(date +%s) - start)) s" | tee -a "$OUT/log.txt"
  mkdir -p "$OUT/$name"
  cp "$WORK/$name/model/config.json" "$WORK/$name/model/model.safetensors" "$WORK/$name/metrics.json" "$OUT/$name/"
done
