#!/usr/bin/env bash
# Installs everything this project needs on a fresh Debian machine:
# the Debian packages the tests drive (X server, window manager, terminal, browser,
# Qt's xcb libraries, the Wayland compositors the tests start headless (sway with grim; mutter
# with PipeWire and GStreamer's PipeWire source, and the desktop portal with its GNOME
# backend; wl-clipboard), Qt's Wayland client libraries) and the
# Python packages, into .venv beside this script's repo, and vLLM with the project's
# PixelPrune plugin into .venv-vllm (tools/install_vllm.sh).
# Run as root (or with sudo available). Safe to run again. `tools/install.sh --menu` also adds
# the control app to the desktop's application menu (the console script is pixelprune-agent).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  xvfb xauth xdotool xterm openbox x11-utils xclip chromium fonts-dejavu-core
  libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0
  libxcb-render-util0 libxcb-image0 libxcb-shape0 libegl1 libgl1
  tint2 x11-apps galculator mousepad man-db less procps
  sway grim xkb-data libwayland-client0 libwayland-cursor0 libwayland-egl1
  mutter pipewire pipewire-bin wireplumber dbus-daemon
  xdg-desktop-portal xdg-desktop-portal-gnome wl-clipboard
  libglib2.0-bin dconf-service gnome-settings-daemon-common adwaita-icon-theme
  gstreamer1.0-tools gstreamer1.0-pipewire gstreamer1.0-plugins-base
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned. PyPI's torch for Linux is the multi-GB CUDA build: right where an
# NVIDIA GPU is. Elsewhere PyTorch's CPU index, when it can be reached, gives the small CPU build
# of the same version (2.13.0+cpu wins over 2.13.0); a machine with its own wheels uses those.
torch_index=()
cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; } &&
  "$PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" \
    "$cpu_index/" >/dev/null 2>&1; then
  torch_index=(--extra-index-url "$cpu_index")
fi
.venv/bin/python -m pip install -q "torch==2.13.0" "${torch_index[@]}"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "compiling the selector kernels (cached on disk, once)"
.venv/bin/python -c "from pixelprune.selectors import compile_kernels; compile_kernels()"
echo "installed: $(.venv/bin/python -c 'import torch, transformers, numba; print("torch", torch.__version__, "transformers", transformers.__version__, "numba", numba.__version__)')"

# The torch build against the machine: a CUDA build where an NVIDIA GPU is, a CPU one elsewhere.
gpu=$(command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | head -n1 || true)
cuda=$(.venv/bin/python -c 'import torch; print(torch.version.cuda or "")')
if [ -n "$gpu" ] && [ -z "$cuda" ]; then
  echo "note: this machine has a GPU ($gpu) but torch is the CPU build; for the GPU run:"
  echo "  .venv/bin/python -m pip install --force-reinstall torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
elif [ -z "$gpu" ] && [ -n "$cuda" ]; then
  echo "note: no NVIDIA GPU here, but torch is a CUDA $cuda build (GBs it cannot use); the CPU one:"
  echo "  .venv/bin/python -m pip install --force-reinstall torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
else
  echo "torch build: ${cuda:+CUDA $cuda}${cuda:-CPU}, matching this machine (${gpu:-no NVIDIA GPU})"
fi

# The vLLM engine environment with the PixelPrune plugin (tools/install_vllm.sh: .venv-vllm).
tools/install_vllm.sh

# Optional: the control app in the desktop's application menu (Linux, freedesktop.org menus).
if [ "${1:-}" = "--menu" ]; then
  applications="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
  mkdir -p "$applications"
  cat >"$applications/pixelprune-agent.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=PixelPrune agent
Comment=Set up, start and watch a GUI agent run
Exec=$(pwd)/.venv/bin/pixelprune-agent app
Path=$(pwd)
Terminal=false
Categories=Utility;Development;
DESKTOP
  echo "menu entry: $applications/pixelprune-agent.desktop"
fi
