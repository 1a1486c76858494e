#!/usr/bin/env bash
# Runs the test suite on a private Xvfb display (with an Xauthority file: python-xlib needs one).
# Extra arguments go to pytest, e.g. `tools/test.sh -m slow`. "No tests collected" is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "no .venv: run tools/install.sh first" >&2; exit 2; }

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

.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"
