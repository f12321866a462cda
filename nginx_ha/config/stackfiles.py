"""Committed stack files, read as the engine would hand them over.

``read_config`` gives a ``Pulumi.<stack>.yaml``'s config, ``as_engine_config`` turns it
into what the engine passes the program, and ``raw_config_from_file`` fills the secrets
for runs without the engine (the offline ``render`` command): from environment
variables, else from placeholders that pass validation.

The stack files are the Pulumi project's, not this package's: every function that
reads one takes the project folder (``root``), since an installed nginx-ha lives in
site-packages, away from the project that uses it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

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


def stack_path(stack: str, root: str | Path) -> Path:
    """``Pulumi.<stack>.yaml`` in the project folder ``root``."""
    return Path(root) / f"Pulumi.{stack}.yaml"


def read_config(stack: str, root: str | Path) -> dict[str, Any]:
    """A committed stack file's ``config`` (in the project folder ``root``) as plain
    values; encrypted values (only the engine can read them) are left out.
    FileNotFoundError for an unknown stack."""
    path = stack_path(stack, root)
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name} in {root}")
    data = yaml.safe_load(path.read_text()) or {}
    return {
        key: value
        for key, value in (data.get("config") or {}).items()
        if not (isinstance(value, dict) and "secure" in value)
    }


def as_engine_config(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Config values as the engine hands them to the program: structured values (and
    numbers, booleans) as JSON text, the rest as text."""
    return {
        k: (json.dumps(v) if isinstance(v, (dict, list, bool, int, float)) else str(v))
        for k, v in cfg.items()
    }


def raw_config_from_file(
    stack: str, root: str | Path, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The stack file's config, structured values as JSON text (as the engine hands
    them over), secrets from ``env`` (default: the process environment) or
    placeholders. Raises FileNotFoundError for an unknown stack."""
    env = os.environ if env is None else env
    cfg = read_config(stack, root)
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
    return as_engine_config(cfg)
