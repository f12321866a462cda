#!/usr/bin/env bash
# End to end on the sandbox libvirt (issue 9 point 3; docs/e2e.md). Run as root:
#
#   sudo scripts/e2e.sh            # up, checks, destroy, sandbox down; phase table
#   sudo scripts/e2e.sh --keep     # leave the stack and the sandbox up afterwards
#   sudo scripts/e2e.sh --limit up=5400 --parallel 4   # another time limit; parallelism
#
# 1. checks that the Pulumi toolchain binaries exist (scripts/pulumi-toolchain.sh
#    --check); stops with the reason when one is missing (the providers cannot be
#    built from the Go module proxy alone: docs/toolchain.md);
# 2. runs sandbox/e2e.py: `python -m sandbox up`, scripts/bootstrap.sh --no-up (key,
#    secrets, stack "sandbox", local file backend under .run/e2e) in a throwaway copy
#    of the project, `ip netns exec nginx-ha-sandbox pulumi up --stack sandbox`, the
#    checks from inside the namespace, `pulumi destroy`, `python -m sandbox down`.
# Pulumi runs at its default parallelism, as a user's `pulumi up` does (--parallel N to
# choose). Every pulumi call has a time limit (sandbox/e2e_driver.py LIMITS; --limit CALL=SECONDS):
# at its limit the call is interrupted as Ctrl-C would, and the run stops naming it.
# Whatever fails, the stack is destroyed and the sandbox taken down (also on Ctrl-C or
# TERM, and when a call reached its limit). Exit 0 when every check passed;
# .run/e2e/summary.json has the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

die() { printf 'e2e: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, libvirtd): sudo $0 $*"
[ -x venv/bin/python ] || die "no virtualenv: run scripts/bootstrap.sh --no-up (or python3 -m venv venv && venv/bin/pip install -r requirements.txt)"

# 1. toolchain ----------------------------------------------------------------------
check=$(scripts/pulumi-toolchain.sh --check 2>&1) || true
missing=()
for bin in pulumi pulumi-language-python pulumi-resource-libvirt pulumi-resource-command; do
  [ -x ".toolchain/bin/$bin" ] || command -v "$bin" >/dev/null || missing+=("$bin")
done
if ((${#missing[@]})); then
  printf '%s\n' "$check" >&2
  die "missing ${missing[*]}: build them with scripts/pulumi-toolchain.sh. The providers
  (pulumi-resource-libvirt 0.5.4, pulumi-resource-command 1.2.1) build only from local
  checkouts when the Go proxy refuses their commit versions:
      scripts/pulumi-toolchain.sh --src libvirt=DIR --src command=DIR   (docs/toolchain.md)"
fi
for tool in mkisofs ssh curl ip; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/sandbox-prereqs.sh (mkisofs: genisoimage)"
done

# 2. the run; on Ctrl-C/TERM the Python side cleans up, then we make sure ------------
# (bash ignores SIGINT in a background job: sandbox/e2e.py takes it back itself)
child=
stop() {
  trap - INT TERM
  if [ -n "$child" ]; then kill -INT "$child" 2>/dev/null || true; wait "$child" || true; fi
  venv/bin/python -m sandbox down >/dev/null 2>&1 || true
  exit 130
}
trap stop INT TERM
PYTHONPATH="$ROOT" venv/bin/python -m sandbox.e2e "$@" &
child=$!
wait "$child"
