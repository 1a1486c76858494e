#!/usr/bin/env bash
# The agent-step benchmark on a GPU machine: Qwen2.5-VL-7B and -3B configs, 4-bit and bf16,
# stock vs pruned vs fast and fast with the static and compiled decode steps: the whole step,
# decode against its floor (tools/bench_step.py), in about 10 minutes on an H100/H200.
#
#   tools/gpu_step_bench.sh OUT_DIR
#
# Meant for the device tool's machine (torch with CUDA, transformers, no bitsandbytes, no
# network): carry the bitsandbytes wheel in .whl/ (its README: `pip download --no-deps
# --only-binary=:all: --python-version 3.12 --platform manylinux_2_24_x86_64 -d .whl
# bitsandbytes==0.50.2`); it is installed into /tmp/site. First the CUDA tests of the one-call
# attention and the exact resize, then one run per model and quantization, each with its own
# log and JSON in OUT_DIR (step-<model>-<quant>.log/.json), so a run cut short keeps what ended.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/gpu_step_bench.sh OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 2
  export PYTHONPATH=/tmp/site
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch, transformers, bitsandbytes as b; print("torch", torch.__version__,
"transformers", transformers.__version__, "bitsandbytes", b.__version__)'
} 2>&1 | tee "$out/machine.txt"

timeout 120 python3 -m pytest -q -p no:cacheprovider -m gpu \
  tests/test_vision_attention.py tests/test_resize.py 2>&1 | tail -n 15 | tee "$out/gpu-tests.log"

run() {  # model quant seconds
  local name="step-$1-$2"
  timeout "$3" python3 -m tools.bench_model --step --models "$1" --quant "$2" --device cuda \
    --repeat 3 --json "$out/$name.json" 2>&1 | grep -v -e '^Loading weights' -e '^Writing model' \
    | tee "$out/$name.log"
}
run qwen2.5-vl-7b 4bit 240
run qwen2.5-vl-7b none 150
run qwen2.5-vl-3b 4bit 120
run qwen2.5-vl-3b none 100
