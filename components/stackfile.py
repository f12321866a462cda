"""A committed stack file as the raw configuration the settings parser takes.

For the offline ``render`` command (and anything else that runs without the Pulumi
engine): encrypted values cannot be read here, so secrets come from environment
variables, else from placeholders that pass validation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

ENV_SSH_PRIVATE_KEY = "NGINX_HA_SSH_PRIVATE_KEY"
ENV_VRRP_AUTH_PASS = "NGINX_HA_VRRP_AUTH_PASS"  # noqa: S105 - a variable name

PLACEHOLDER_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBsYWNlaG9sZGVyLW9mZmxpbmUtcmVuZGVyLTAwMDA "
    "placeholder@nginx-ha-render"
)
PLACEHOLDER_PRIVATE_KEY = "placeholder: set NGINX_HA_SSH_PRIVATE_KEY"
# Valid stand-ins for the VRRP secret: 8 characters for a VRRPv2 PASS, 32 bytes for
# an auth_hmac key. Rendered files show where the real one goes, never a real one.
PLACEHOLDER_PASS = "CHANGEME"  # noqa: S105 - a documented placeholder
PLACEHOLDER_HMAC_KEY = "placeholder-set-NGINX_HA_VRRP_00"


def stack_path(stack: str, root: Path = ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def raw_config_from_file(
    stack: str, env: Mapping[str, str] | None = None, root: Path = ROOT
) -> dict[str, Any]:
    """The stack file's config, structured values as JSON text (as the engine hands
    them over), secrets from ``env`` (default: the process environment) or
    placeholders. Raises FileNotFoundError for an unknown stack."""
    env = os.environ if env is None else env
    data = yaml.safe_load(stack_path(stack, root).read_text()) or {}
    cfg: dict[str, Any] = {}
    for key, value in (data.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            continue  # encrypted: only the engine can read it
        cfg[key] = value
    ssh = dict(cfg.get("nginx-ha:ssh") or {})
    ssh.setdefault("publicKey", PLACEHOLDER_PUBLIC_KEY)
    cfg["nginx-ha:ssh"] = ssh
    cfg["nginx-ha:sshPrivateKey"] = env.get(ENV_SSH_PRIVATE_KEY) or PLACEHOLDER_PRIVATE_KEY
    vrrp = cfg.get("nginx-ha:vrrp") or {}
    if env.get(ENV_VRRP_AUTH_PASS):
        cfg["nginx-ha:vrrpAuthPass"] = env[ENV_VRRP_AUTH_PASS]
    elif not vrrp.get("allowUnauthenticated"):
        v2 = int(vrrp.get("version", 3)) == 2
        cfg["nginx-ha:vrrpAuthPass"] = PLACEHOLDER_PASS if v2 else PLACEHOLDER_HMAC_KEY
    return {
        k: (json.dumps(v) if isinstance(v, (dict, list, bool, int, float)) else str(v))
        for k, v in cfg.items()
    }
