#!/usr/bin/env bash
# The project's test command, as the README gives it: ./scripts/test.sh [pytest args]
#
# Sets up what it needs (the virtualenv with requirements-dev.txt, made or completed
# when missing or out of date; also after ./scripts/bootstrap.sh, which installs only
# the runtime), lints (ruff, the import contracts), then runs pytest.
#
# By default it leaves the machine as it found it: unit, render (real validators),
# program (Pulumi mocks) and the pure parts of the other layers. The layers that
# install packages, build into /usr/local or start daemons run under CI=true or when
# asked for (tests/conftest.py):
#   NGINX_HA_TESTS=all ./scripts/test.sh            # every layer but e2e (root)
#   NGINX_HA_TESTS=scripts,lab ./scripts/test.sh    # some of them
#   NGINX_HA_E2E=1 ./scripts/test.sh tests/e2e      # real VMs in the sandbox (long)
# A test that needs root or a missing tool skips with the reason printed (-ra); under
# CI=true those must run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The virtualenv: requirements-dev.txt (which includes requirements.txt), recorded in
# venv/.requirements-dev.txt so an edited pin is installed on the next run.
wanted=$(cat requirements-dev.txt requirements.txt)
if [ ! -x venv/bin/python ] || [ "$(cat venv/.requirements-dev.txt 2>/dev/null)" != "$wanted" ]; then
  if [ ! -x venv/bin/python ]; then
    say "Python virtualenv (venv/)"
    command -v python3 >/dev/null || { echo "test: python3 is missing: apt-get install python3 python3-venv" >&2; exit 1; }
    python3 -m venv venv || { echo "test: python3 -m venv failed: apt-get install python3-venv" >&2; exit 1; }
  fi
  say "Installing the test tools into venv/ (requirements-dev.txt)"
  venv/bin/pip install -q -r requirements-dev.txt
  printf '%s' "$wanted" > venv/.requirements-dev.txt
  # bootstrap.sh's record of the runtime pins: requirements-dev.txt includes them.
  cp requirements.txt venv/.requirements.txt
fi

venv/bin/ruff check --quiet .
venv/bin/ruff format --check --quiet .
venv/bin/lint-imports --no-cache >/dev/null || venv/bin/lint-imports --no-cache  # the architecture (pyproject.toml)
venv/bin/pyright >/dev/null || venv/bin/pyright  # types (pyproject.toml [tool.pyright], basic)
if (($#)); then
  exec venv/bin/python -m pytest "$@"
fi
# No arguments: the fast layers first, spread over the cores (a module stays on one
# worker, its fixtures built once), then the other layers one test at a time (daemons,
# namespaces and timings that must not compete with each other).
FAST=(tests/unit tests/render tests/program)
fast=0
venv/bin/python -m pytest -n "$(nproc)" --dist loadfile "${FAST[@]}" || fast=$?
rest=()
for dir in tests/*/; do
  dir=${dir%/}
  [[ " ${FAST[*]} " == *" $dir "* ]] && continue
  compgen -G "$dir/test_*.py" >/dev/null && rest+=("$dir")
done
slow=0
venv/bin/python -m pytest -p no:xdist "${rest[@]}" || slow=$?
((fast == 0 && slow == 0)) || { say "tests failed (fast layers: exit $fast, the others: exit $slow)"; exit 1; }
