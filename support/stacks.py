"""Stack configurations for the tests and the benchmarks: the committed stack files
plus test secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nginx_ha.config import stackfiles

ROOT = Path(__file__).resolve().parent.parent

# Test-only key material: not a real key, never used outside tests.
TEST_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LW5vdC1mb3ItdXNlLWFueXdoZXJlLTAw test@nginx-ha"
)
TEST_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ntest-private-key-material\n-----END OPENSSH PRIVATE KEY-----\n"
TEST_HMAC_KEY = "0123456789abcdef0123456789abcdef"  # 32 bytes, auth_hmac
TEST_PASS = "s3cr3t!!"  # 8 characters, VRRPv2 PASS

SECRETS = {
    "nginx-ha:sshPrivateKey": TEST_PRIVATE_KEY,
    "nginx-ha:vrrpAuthPass": TEST_HMAC_KEY,
}


def raw_config(stack: str = "dev", **overrides: Any) -> dict[str, Any]:
    """A stack's config as the engine hands it over: structured values as JSON text,
    with the secrets the bootstrap script would generate."""
    cfg = stackfiles.read_config(stack, ROOT)  # encrypted values left out: tests supply their own
    cfg.setdefault("nginx-ha:ssh", {"user": "debian", "publicKey": TEST_PUBLIC_KEY})
    for key, value in SECRETS.items():
        cfg.setdefault(key, value)
    for key, value in overrides.items():
        full = key if ":" in key else f"nginx-ha:{key}"
        if value is None:
            cfg.pop(full, None)
        else:
            cfg[full] = value
    return stackfiles.as_engine_config(cfg)


SECRET_KEYS = set(SECRETS)
