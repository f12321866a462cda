#!/usr/bin/env bash
# Tear a stack down: `pulumi destroy` removes every resource it made on the libvirt
# hosts (domains, clone disks, cloud-init disks, the base image, the nat network).
#
#   STACK=dev ./scripts/destroy.sh [pulumi destroy args]   # e.g. --exclude-protected
#   STACK=dev PURGE=1 ./scripts/destroy.sh                 # lab stacks: also forget them
#
# PURGE=1 (lab stacks only: dev, lab, sandbox, test and their -suffixed variants, as in
# nginx_ha/config is_lab_stack) then removes the stack's local state: the stack
# and its history and backups in the state backend (`pulumi stack rm --remove-backups`),
# the SSH key pair that bootstrap generated (.run/keys/<stack>_ed25519*), and an
# untracked stack file; a stack file committed to git is kept (--preserve-config).
# Long-lived stacks protect their base image: destroy stops on it, by design; see
# docs/operations.md ("Teardown") for --exclude-protected and `pulumi state unprotect`.
#
# Same environment as scripts/bootstrap.sh: PULUMI_BACKEND_URL (default: the local file
# backend .pulumi-state/), PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE
# (default: .pulumi-passphrase), the Pulumi CLI on PATH or in .toolchain/bin.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
STACK=${STACK:?set STACK, e.g. STACK=dev}
PURGE=${PURGE:-0}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'destroy: %s\n' "$*" >&2; exit 1; }

[ -x venv/bin/python ] || die "venv/ is missing: run ./scripts/bootstrap.sh first"
lab_stack() { venv/bin/python -c 'import sys; from nginx_ha.config import is_lab_stack; sys.exit(0 if is_lab_stack(sys.argv[1]) else 1)' "$1"; }
# No confirmation prompt for throwaway lab stacks only: pulumi asks before destroying any other.
CONFIRM=()
if lab_stack "$STACK"; then CONFIRM=(--yes); fi
if [ "$PURGE" = 1 ]; then
  lab_stack "$STACK" \
    || die "PURGE=1 removes the state of lab stacks only; '$STACK' is not one (nginx_ha/config is_lab_stack). Remove a long-lived stack by hand: pulumi stack rm --stack $STACK"
fi

if [ -x .toolchain/bin/pulumi ]; then PATH="$ROOT/.toolchain/bin:$PATH"; fi
command -v pulumi >/dev/null || die "the Pulumi CLI is missing: see ./scripts/bootstrap.sh"
export PATH
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$ROOT/.pulumi-state}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  [ -f .pulumi-passphrase ] || die "no secrets passphrase: set PULUMI_CONFIG_PASSPHRASE(_FILE) or create .pulumi-passphrase"
  export PULUMI_CONFIG_PASSPHRASE_FILE="$ROOT/.pulumi-passphrase"
fi

if ! pulumi stack select "$STACK" >/dev/null 2>&1; then
  say "No stack $STACK in $PULUMI_BACKEND_URL: nothing to destroy"
else
  say "pulumi destroy --stack $STACK"
  pulumi destroy --stack "$STACK" "${CONFIRM[@]}" "$@"
  if [ "$PURGE" = 1 ]; then
    keep=()
    if git ls-files --error-unmatch "Pulumi.$STACK.yaml" >/dev/null 2>&1; then
      keep=(--preserve-config)
    fi
    say "pulumi stack rm --stack $STACK (state, history, backups) ${keep[*]}"
    pulumi stack rm --stack "$STACK" --yes --remove-backups "${keep[@]}"
  fi
fi

if [ "$PURGE" = 1 ]; then
  rm -f ".run/keys/${STACK}_ed25519" ".run/keys/${STACK}_ed25519.pub"
  say "Removed the local state of lab stack $STACK"
fi
