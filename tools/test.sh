#!/usr/bin/env bash
# Runs the test suite on a private Xvfb display (with an Xauthority file: python-xlib needs one).
# Extra arguments go to pytest, e.g. `tools/test.sh -m slow`. "No tests collected" is a failure.
# Without arguments (as CI runs it) the lint and type checks (tools/lint.sh) run first, and the
# vLLM tier (tests/vllm, in .venv-vllm) after the rest; `tools/test.sh --vllm [ARGS]` runs that
# tier alone.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "no .venv: run tools/install.sh first" >&2; exit 2; }

vllm_tier() {
  [ -x .venv-vllm/bin/python ] || { echo "no .venv-vllm: run tools/install.sh first" >&2; return 2; }
  .venv-vllm/bin/python -m pytest tests/vllm --confcutdir tests/vllm -p no:cacheprovider "$@"
  local status=$?
  [ "$status" -eq 5 ] && { echo "the vLLM tier collected no tests: failing on purpose" >&2; return 1; }
  return "$status"
}
if [ "${1:-}" = "--vllm" ]; then
  shift
  vllm_tier "$@"
  exit $?
fi
if [ "$#" -eq 0 ]; then
  tools/lint.sh || exit 1
fi
all=$#

workdir=$(mktemp -d)
export XAUTHORITY="$workdir/Xauthority"
touch "$XAUTHORITY"
exec 3>"$workdir/display"
Xvfb -displayfd 3 -screen 0 4480x1440x24 -auth "$XAUTHORITY" -nolisten tcp -noreset \
  >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 100); do [ -s "$workdir/display" ] && break; sleep 0.1; done
number=$(head -n1 "$workdir/display")
[ -n "$number" ] || { echo "Xvfb did not start" >&2; exit 2; }
export DISPLAY=":$number"
xauth -f "$XAUTHORITY" add "$DISPLAY" . "$(mcookie)"
# A window manager, as on a real desktop: openbox with click-to-focus (a test clicks a window
# before typing into it). It gets its own small config, so ~/.config/openbox or the
# distribution's rc.xml cannot change what the tests see: the focus moves only on a click (no
# focus-follows-mouse) and to new windows; no key bindings, so openbox grabs no key the tests
# type or the kill hotkey uses; no root or frame mouse bindings, so a stray click on the desktop
# opens no menu that would grab the pointer. The test windows are undecorated and ask for their
# position, which openbox honours, so they sit exactly where asked (tests/desktop.py checks).
cat >"$workdir/openbox.xml" <<'RC'
<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <focus><focusNew>yes</focusNew><followMouse>no</followMouse></focus>
  <placement><policy>Smart</policy></placement>
  <desktops><number>1</number></desktops>
  <margins><top>0</top><bottom>0</bottom><left>0</left><right>0</right></margins>
  <keyboard></keyboard>
  <mouse>
    <context name="Client">
      <mousebind button="Left" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="Middle" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
      <mousebind button="Right" action="Press"><action name="Focus"/><action name="Raise"/></mousebind>
    </context>
  </mouse>
</openbox_config>
RC
openbox --sm-disable --config-file "$workdir/openbox.xml" >"$workdir/openbox.log" 2>&1 &
wm=$!
trap 'kill $wm $xvfb 2>/dev/null; rm -rf "$workdir"' EXIT
# ready once it has claimed the screen (EWMH: the root names its check window)
wm_ready() { xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q 'window id'; }
for _ in $(seq 100); do
  wm_ready && break
  kill -0 $wm 2>/dev/null || break
  sleep 0.1
done
wm_ready || { echo "openbox did not start:" >&2; cat "$workdir/openbox.log" >&2; exit 2; }

# The selector kernels compiled and cached first (about a second when cached; about 80 s on a
# fresh checkout), so no test's own time limit pays for numba's first compilation.
.venv/bin/python -c "from pixelprune.selectors import compile_kernels; compile_kernels()" || exit 1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
if [ "$all" -eq 0 ]; then
  vllm_tier -q || status=1
fi
exit "$status"
