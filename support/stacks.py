"""Stack configurations for the tests and the benchmarks: the committed stack files
plus test secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nginx_ha.config import stackfiles

ROOT = Path(__file__).resolve().parent.parent

# Test-only key material: a real ed25519 pair (the settings parse the private key and
# match it against the public one), generated for the tests and used nowhere else.
TEST_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP0KDWWT1UDxhMGnvKYVJIDy//oEbUsK3WdbP3ARr/o3 test@nginx-ha"
)
TEST_PRIVATE_KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACD9Cg1lk9VA8YTBp7ymFSSA8v/6BG1LCt1nWz9wEa/6NwAAAJBuemWAbnpl
gAAAAAtzc2gtZWQyNTUxOQAAACD9Cg1lk9VA8YTBp7ymFSSA8v/6BG1LCt1nWz9wEa/6Nw
AAAEBcVtYxcBSYEXPdL1x754G8Cw8U5l5pVcES1Xd3zAyC/P0KDWWT1UDxhMGnvKYVJIDy
//oEbUsK3WdbP3ARr/o3AAAADXRlc3RAbmdpbngtaGE=
-----END OPENSSH PRIVATE KEY-----
"""
# The secret the nodes' SSH host keys derive from (topology/hostkeys.py).
TEST_HOST_KEY_SEED = "test-host-key-seed-0123456789abcdef0123456789"
TEST_HMAC_KEY = "0123456789abcdef0123456789abcdef"  # 32 bytes, auth_hmac
TEST_PASS = "s3cr3t!!"  # 8 characters, VRRPv2 PASS
# A TLS session ticket key (80 bytes, base64) for stacks with nginx-ha:tls.
TEST_TICKET_KEYS = "dGVzdC10aWNrZXQta2V5LW5naW54LWhhLTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA="  # noqa: S105

SECRETS = {
    "nginx-ha:sshPrivateKey": TEST_PRIVATE_KEY,
    "nginx-ha:vrrpAuthPass": TEST_HMAC_KEY,
    "nginx-ha:sshHostKeySeed": TEST_HOST_KEY_SEED,
}


def raw_config(stack: str = "dev", **overrides: Any) -> dict[str, Any]:
    """A stack's config as the engine hands it over: structured values as JSON text,
    with the secrets the bootstrap script would generate."""
    cfg = stackfiles.read_config(stack, ROOT)  # encrypted values left out: tests supply their own
    cfg.setdefault("nginx-ha:ssh", {"user": "debian", "publicKey": TEST_PUBLIC_KEY})
    for key, value in SECRETS.items():
        cfg.setdefault(key, value)
    if "nginx-ha:tls" in cfg or "tls" in overrides:
        cfg.setdefault("nginx-ha:tlsTicketKeys", TEST_TICKET_KEYS)
    for key, value in overrides.items():
        full = key if ":" in key else f"nginx-ha:{key}"
        if value is None:
            cfg.pop(full, None)
        else:
            cfg[full] = value
    return stackfiles.as_engine_config(cfg)


# Secret in a stack's config: those, and the TLS session ticket keys (tls.key makes the
# whole of nginx-ha:tls secret: a test with one names it itself).
SECRET_KEYS = set(SECRETS) | {"nginx-ha:tlsTicketKeys"}
