#!/usr/bin/env bash
# The project's test command, as the README gives it: ./scripts/test.sh [pytest args]
# Creates the virtualenv when missing, lints, then runs every test layer: unit, render
# (real validators), program (Pulumi mocks), scripts (install scripts for real, as root),
# lab (network namespaces, as root). Layers that need root or missing tools skip with
# the reason printed (-ra); under CI=true the root-only layers must run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
  venv/bin/pip install -q -r requirements-dev.txt
fi
venv/bin/ruff check --quiet .
venv/bin/ruff format --check --quiet .
venv/bin/lint-imports --no-cache >/dev/null || venv/bin/lint-imports --no-cache  # the architecture (pyproject.toml)
venv/bin/pyright >/dev/null || venv/bin/pyright  # types (pyproject.toml [tool.pyright], basic)
exec venv/bin/python -m pytest "$@"
