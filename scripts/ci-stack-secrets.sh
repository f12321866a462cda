#!/usr/bin/env bash
# A stack's secrets on a fresh checkout, before a CI preview, `up` or drift check
# (.github/workflows/*.yml; docs/operations.md, "Secrets in CI").
#
#   STACK=dev NGINX_HA_SSH_PRIVATE_KEY=... NGINX_HA_SSH_HOST_KEY_SEED=... \
#     NGINX_HA_VRRP_AUTH_PASS=... [NGINX_HA_TLS_KEY=... NGINX_HA_TLS_TICKET_KEYS=...] \
#     ./scripts/ci-stack-secrets.sh
#
# Two ways to give a stack its secrets, both with the passphrase secrets provider
# (PULUMI_CONFIG_PASSPHRASE decrypts them):
#   - committed: `pulumi config set --secret KEY < file` writes `secure: v1:...` into
#     Pulumi.<stack>.yaml with the stack's encryptionsalt; commit the file. Nothing else
#     is needed here: a key the file carries is left as it is.
#   - from the CI's secrets: for each secret key the committed file does not carry, the
#     variable above is set with `pulumi config set --secret` on standard input (never
#     on a command line), and ssh.publicKey is derived from the private key when
#     missing. Only the runner's copy of the stack file changes; nothing is committed.
# The stack is selected in PULUMI_BACKEND_URL, and created there (passphrase provider)
# when it does not exist yet: the first preview of a new stack shows everything it
# would create. A secret that is neither committed nor given stops the job, naming the
# variable. vrrpAuthPass is not needed by a stack that runs VRRP unauthenticated; the
# TLS ones only by a stack with nginx-ha:tls (tls.key only with tls.certificate).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${STACK:?set STACK to the stack to prepare}"
die() { printf 'ci-stack-secrets: %s\n' "$*" >&2; exit 1; }
command -v pulumi >/dev/null || die "the Pulumi CLI is not on PATH"
[ -n "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] ||
  die "PULUMI_CONFIG_PASSPHRASE is not set: it decrypts (and encrypts) the stack's secrets"

if ! pulumi stack select "$STACK" --non-interactive >/dev/null 2>&1; then
  echo "stack $STACK is not in the backend yet: creating it (passphrase secrets provider)"
  pulumi stack init "$STACK" --secrets-provider passphrase --non-interactive >/dev/null
fi

has() { pulumi config get --stack "$STACK" "$@" >/dev/null 2>&1; }

# secret KEY VARIABLE: set KEY from the variable unless the stack carries it.
secret() {
  local key=$1 var=$2
  if has "$key"; then
    echo "$key: in Pulumi.$STACK.yaml already (encrypted)"
  elif [ -n "${!var:-}" ]; then
    printf '%s' "${!var}" | pulumi config set --stack "$STACK" --secret "$key"
    echo "$key: set from $var"
  else
    die "$key is neither in Pulumi.$STACK.yaml nor given in $var"
  fi
}

secret sshPrivateKey NGINX_HA_SSH_PRIVATE_KEY
secret sshHostKeySeed NGINX_HA_SSH_HOST_KEY_SEED
if [ "$(pulumi config get --stack "$STACK" --path vrrp.allowUnauthenticated 2>/dev/null)" = true ] &&
  [ -z "${NGINX_HA_VRRP_AUTH_PASS:-}" ] && ! has vrrpAuthPass; then
  echo "vrrpAuthPass: not needed (vrrp.allowUnauthenticated)"
else
  secret vrrpAuthPass NGINX_HA_VRRP_AUTH_PASS
fi

# secret_path KEY.PATH VARIABLE: the same for a secret leaf of a structured key.
secret_path() {
  local key=$1 var=$2
  if has --path "$key"; then
    echo "$key: in Pulumi.$STACK.yaml already (encrypted)"
  elif [ -n "${!var:-}" ]; then
    printf '%s' "${!var}" | pulumi config set --stack "$STACK" --secret --path "$key"
    echo "$key: set from $var"
  else
    die "$key is neither in Pulumi.$STACK.yaml nor given in $var"
  fi
}

if has tls; then
  secret tlsTicketKeys NGINX_HA_TLS_TICKET_KEYS
  if has --path tls.certificate; then secret_path tls.key NGINX_HA_TLS_KEY; fi
fi

if ! has --path ssh.publicKey; then
  key_file=$(mktemp)
  trap 'rm -f "$key_file"' EXIT
  chmod 600 "$key_file"
  pulumi config get --stack "$STACK" sshPrivateKey >"$key_file"
  public=$(ssh-keygen -y -f "$key_file") || die "sshPrivateKey is not an OpenSSH private key"
  pulumi config set --stack "$STACK" --path ssh.publicKey "$public"
  echo "ssh.publicKey: derived from sshPrivateKey"
fi
