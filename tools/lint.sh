#!/usr/bin/env bash
# Lint and type checks, as CI runs them (tools/test.sh runs this first when given no pytest
# arguments): ruff over everything, mypy over pixelprune/, agent/ (strict), ui/, tools/ and
# main.py (pyproject.toml says which flags apply where).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy --no-error-summary
echo "lint: ruff clean, mypy clean"
