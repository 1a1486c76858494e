"""`main.py` itself: a missing package is one line that says how to get it, and a batch
command stopped by SIGTERM cleans up what it made (its temporary model folder) without a
traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_package_says_to_install_not_a_traceback():
    # PIL made unimportable, as in a Python without the project's packages
    code = "import sys; sys.modules['PIL'] = None; import main; raise SystemExit(main.main())"
    done = subprocess.run(
        [sys.executable, "-c", code, "analyze", "x.png"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "the package 'PIL' is not installed" in done.stderr and "tools/install.sh" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.model  # the benchmark builds a random-weight model folder
def test_sigterm_stops_the_benchmark_and_removes_its_model_folder(tmp_path):
    command = [
        sys.executable,
        "main.py",
        "bench",
        "--skip",
        "prune,loop",
        "--models",
        "tiny-qwen2.5",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("bench-model-*")):
        assert process.poll() is None and time.monotonic() < deadline, "no model folder appeared"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.rstrip().endswith("interrupted") and "Traceback" not in err
    assert not list(tmp_path.glob("bench-model-*"))
