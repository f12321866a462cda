#!/usr/bin/env bash
# The README's first command: set everything up and run `pulumi up` for a stack.
#
#   ./scripts/bootstrap.sh            # stack "dev"
#   STACK=staging ./scripts/bootstrap.sh
#   ./scripts/bootstrap.sh --preview  # stop at `pulumi preview`
#   ./scripts/bootstrap.sh --no-up    # set everything up, check the host, run no Pulumi
#                                     # operation (scripts/e2e.sh uses this)
#
# Safe to re-run: every step checks what is already there. It
#   1. creates the Python virtualenv (venv/) from requirements.txt;
#   2. finds the Pulumi CLI: on PATH, else the air-gapped build in .toolchain/bin
#      (scripts/pulumi-toolchain.sh), else installs it the official way
#      (get.pulumi.com) or says exactly how when that site cannot be reached;
#   3. uses a local file state backend (.pulumi-state/) unless PULUMI_BACKEND_URL is set,
#      so no Pulumi account is needed;
#   4. takes the secrets passphrase from PULUMI_CONFIG_PASSPHRASE, or from
#      PULUMI_CONFIG_PASSPHRASE_FILE, else creates .pulumi-passphrase (mode 0600);
#   5. creates the stack when absent, and generates what it lacks: an SSH key pair
#      (.run/keys/<stack>_ed25519, public key into ssh.publicKey, private key as the
#      secret sshPrivateKey), the VRRP secret vrrpAuthPass (an auth_hmac key for
#      VRRPv3, an 8-character PASS for VRRPv2), sshHostKeySeed, the secret each
#      node's SSH host key is derived from (pinned in every remote step), and, when
#      the stack sets tls, tlsTicketKeys (one 80-byte TLS session ticket key, base64:
#      `openssl rand 80 | base64 -w0`, shared by the load balancers). Secrets go
#      to `pulumi config set --secret` on standard input, never on its command line;
#   6. checks that the libvirt host at libvirt:uri answers. When none is configured or
#      answering and no stack was chosen (STACK unset), or STACK=sandbox, it uses the
#      sandbox libvirt on this machine (docs/sandbox.md): scripts/sandbox-prereqs.sh,
#      `python -m sandbox up`, stack "sandbox", and Pulumi under
#      `ip netns exec nginx-ha-sandbox`. A chosen stack whose host does not answer
#      stops before the engine starts, with what to install or set;
#   7. runs `pulumi up` (or `pulumi preview` with --preview), through
#      `python -m nginx_ha up`: Pulumi's Automation API with phase lines and a live
#      resource count. `--yes` (no confirmation prompt) only for lab stacks (dev, lab,
#      sandbox, test...: nginx_ha.config.is_lab_stack); any other stack shows its
#      preview and asks first.
#
# How long: steps 1-5 about a minute on a fresh machine (pip). The sandbox's first
# start builds its base image (about 5 min), and its first `pulumi up` takes about 25
# min on 2 cores (four VMs under emulation; keepalived builds inside them). On a host
# with KVM the same `up` takes a few minutes. Nothing to wait for? `python -m lab up`
# runs the same rendered files in network namespaces in seconds (README, "Quick start").
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# The sandbox fallback applies only when the operator chose no stack.
STACK_CHOSEN=${STACK:+yes}
STACK=${STACK:-dev}
SANDBOX_STACK=sandbox
SANDBOX_NETNS=nginx-ha-sandbox
ACTION=up
case "${1:-}" in
  --preview) ACTION=preview ;;
  --no-up) ACTION=none ;;
  "") ;;
  *) echo "usage: [STACK=name] $0 [--preview|--no-up]" >&2; exit 2 ;;
esac
# Prefix of every Pulumi operation: empty, or `ip netns exec` into the sandbox.
RUN_IN=()

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

# 1. virtualenv ---------------------------------------------------------------------
if [ ! -x venv/bin/python ] || ! cmp -s requirements.txt venv/.requirements.txt; then
  say "Python virtualenv (venv/)"
  if [ ! -x venv/bin/python ]; then # an existing venv keeps its interpreter
    command -v python3 >/dev/null || die "python3 is missing: apt-get install python3 python3-venv"
    python3 -m venv venv || die "python3 -m venv failed: apt-get install python3-venv"
  fi
  venv/bin/pip install -q -r requirements.txt
  cp requirements.txt venv/.requirements.txt
fi

# 2. Pulumi CLI ---------------------------------------------------------------------
if [ -x .toolchain/bin/pulumi ]; then
  PATH="$ROOT/.toolchain/bin:$PATH"
fi
if ! command -v pulumi >/dev/null; then
  say "Installing the Pulumi CLI the official way (get.pulumi.com)"
  if curl -fsSL --max-time 20 https://get.pulumi.com -o /tmp/get-pulumi.sh 2>/dev/null; then
    sh /tmp/get-pulumi.sh
    PATH="$HOME/.pulumi/bin:$PATH"
  else
    die "the Pulumi CLI is not installed and get.pulumi.com cannot be reached.
  Either install it from https://www.pulumi.com/docs/install/ on a connected machine,
  or build it here from its Go modules (needs Go and a Go module proxy):
      ./scripts/pulumi-toolchain.sh     # builds pulumi and its plugins into .toolchain/bin
  then run this command again."
  fi
fi
export PATH
say "Pulumi CLI: $(pulumi version)"

# 3. state backend ------------------------------------------------------------------
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  mkdir -p .pulumi-state
  export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state"
fi
say "State backend: $PULUMI_BACKEND_URL"

# 4. passphrase ---------------------------------------------------------------------
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  if [ ! -f .pulumi-passphrase ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > .pulumi-passphrase)
    say "Created .pulumi-passphrase (mode 0600): it decrypts this project's stack secrets."
    echo "    Keep it safe (and out of git: it is in .gitignore); losing it loses the secrets."
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$ROOT/.pulumi-passphrase"
fi

# 5. stack and its generated secrets ------------------------------------------------
cfg() { pulumi config get --stack "$STACK" --path "$1" 2>/dev/null; }
ensure_stack() { # creates $STACK when absent and generates the secrets it lacks
  if ! pulumi stack select "$STACK" 2>/dev/null; then
    say "Creating stack $STACK"
    pulumi stack init "$STACK" --secrets-provider passphrase
  fi

  KEY=".run/keys/${STACK}_ed25519"
  if [ -z "$(cfg ssh.publicKey)" ] || ! pulumi config get --stack "$STACK" sshPrivateKey >/dev/null 2>&1; then
    mkdir -p .run/keys && chmod 700 .run/keys
    [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C "nginx-ha-$STACK" -f "$KEY"
    say "SSH key pair for the VMs: $KEY (public key into ssh.publicKey, private key as a secret)"
    pulumi config set --stack "$STACK" --path ssh.publicKey "$(cat "$KEY.pub")"
    pulumi config set --stack "$STACK" --secret sshPrivateKey < "$KEY"
  fi
  if ! pulumi config get --stack "$STACK" vrrpAuthPass >/dev/null 2>&1; then
    if [ "$(cfg vrrp.version)" = "2" ]; then
      secret=$(head -c 64 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | head -c 8)
      what="an 8-character VRRPv2 PASS"
    else
      secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
      what="a 32-character auth_hmac key"
    fi
    say "VRRP secret: $what, stored as the secret vrrpAuthPass"
    printf '%s' "$secret" | pulumi config set --stack "$STACK" --secret vrrpAuthPass
    unset secret
  fi
  if ! pulumi config get --stack "$STACK" sshHostKeySeed >/dev/null 2>&1; then
    say "SSH host key seed: 32 random bytes, stored as the secret sshHostKeySeed"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' |
      pulumi config set --stack "$STACK" --secret sshHostKeySeed
  fi
  if pulumi config get --stack "$STACK" tls >/dev/null 2>&1 &&
    ! pulumi config get --stack "$STACK" tlsTicketKeys >/dev/null 2>&1; then
    command -v openssl >/dev/null || die "openssl is missing (it makes the TLS session ticket key): apt-get install openssl"
    say "TLS session ticket key: 80 random bytes (openssl rand 80 | base64 -w0), stored as the secret tlsTicketKeys"
    openssl rand 80 | base64 -w0 | pulumi config set --stack "$STACK" --secret tlsTicketKeys
  fi
}
ensure_stack

# 6. the libvirt host ---------------------------------------------------------------
use_sandbox() {
  [ "$(id -u)" -eq 0 ] || die "the sandbox libvirt needs root (network namespace, libvirtd): run
      sudo $0 ${1:-}"
  say "Sandbox libvirt: prerequisites, then python -m sandbox up (docs/sandbox.md; the first
    start builds the base image: about 5 min; then \`pulumi up\` about 25 min on 2 cores)"
  "$ROOT/scripts/sandbox-prereqs.sh"
  venv/bin/python -m sandbox up
  STACK=$SANDBOX_STACK
  ensure_stack
  RUN_IN=(ip netns exec "$SANDBOX_NETNS")
}
libvirt_answers() { command -v virsh >/dev/null && timeout 20 virsh -c "$1" version >/dev/null 2>&1; }

URI=$(pulumi config get --stack "$STACK" libvirt:uri 2>/dev/null || echo "qemu:///system")
if [ "$STACK" = "$SANDBOX_STACK" ]; then
  use_sandbox "${1:-}"
elif ! libvirt_answers "$URI"; then
  if [ -z "$STACK_CHOSEN" ]; then
    say "no libvirt host configured or answering at $URI: using the sandbox libvirt on this machine (docs/sandbox.md)"
    use_sandbox "${1:-}"
  elif ! command -v virsh >/dev/null; then
    die "virsh (libvirt's client) is missing, so the libvirt host at $URI cannot be checked.
  On this machine: apt-get install libvirt-clients   (and, to host the VMs here,
  libvirt-daemon-system qemu-system-x86 qemu-utils)
  Or point the stack at another host: pulumi config set libvirt:uri qemu+ssh://user@host/system
  Or leave STACK unset to use the sandbox libvirt on this machine (docs/sandbox.md)."
  else
    die "no libvirt host answers at libvirt:uri = $URI.
  Start libvirtd there (systemctl enable --now libvirtd), check your access
  (user in group libvirt, or root), or set another URI:
      pulumi config set --stack $STACK libvirt:uri qemu+ssh://user@host/system
  Or leave STACK unset to use the sandbox libvirt on this machine (docs/sandbox.md).
  Nothing was created."
  fi
fi
URI=$(pulumi config get --stack "$STACK" libvirt:uri 2>/dev/null || echo "qemu:///system")
libvirt_answers "$URI" || die "no libvirt host answers at $URI (stack $STACK), even after setup."
say "libvirt host answers at $URI"

# 7. go -------------------------------------------------------------------------------
# No confirmation prompt for throwaway lab stacks only; any other stack asks first.
if venv/bin/python -c 'import sys; from nginx_ha.config import is_lab_stack; sys.exit(0 if is_lab_stack(sys.argv[1]) else 1)' "$STACK"; then
  CONFIRM=(--yes)
else
  CONFIRM=()
  [ "$ACTION" != up ] || [ -t 0 ] || die "stack $STACK is not a lab stack: \`pulumi up\` asks for a confirmation, and there is no terminal to ask on.
  Run it from a terminal, or review \`make preview STACK=$STACK\` and then run
      pulumi up --stack $STACK"
fi
case $ACTION in
  up)
    say "${RUN_IN[*]:+${RUN_IN[*]} }pulumi up --stack $STACK${CONFIRM[*]:+ ${CONFIRM[*]}}"
    exec "${RUN_IN[@]}" venv/bin/python -m nginx_ha up --stack "$STACK" "${CONFIRM[@]}" ;;
  preview)
    say "${RUN_IN[*]:+${RUN_IN[*]} }pulumi preview --stack $STACK"
    exec "${RUN_IN[@]}" pulumi preview --stack "$STACK" --diff ;;
  none)
    say "Ready: ${RUN_IN[*]:+${RUN_IN[*]} }pulumi up --stack $STACK" ;;
esac
