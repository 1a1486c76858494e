#!/usr/bin/env bash
# Lint and type checks, as CI runs them (tools/test.sh runs this first when given no pytest
# arguments): ruff over everything, mypy (strict, pyproject.toml) over the packages typed clean.
# tools/ and main.py join TYPED as they become clean (`.venv/bin/mypy` alone lists the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
TYPED=(pixelprune agent ui)
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy --no-error-summary "${TYPED[@]}"
echo "lint: ruff clean, mypy clean on ${TYPED[*]}"
