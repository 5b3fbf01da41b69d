# Sourced by the scripts run on a lent GPU (benchmarks/*_gpu.sh): where `datasets` is missing (the
# GPU image), the wheels carried in .whl/ are installed to /tmp/site first; then the environment.
PY=${PY:-python3}
if ! $PY -c "import datasets" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
$PY -c "import torch, transformers, accelerate, datasets; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'datasets', datasets.__version__)"
