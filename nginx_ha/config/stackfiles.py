"""Committed stack files, read as the engine would hand them over.

``read_config`` gives a ``Pulumi.<stack>.yaml``'s config, ``as_engine_config`` turns it
into what the engine passes the program, and ``raw_config_from_file`` fills the secrets
for runs without the engine (the offline ``render`` command): placeholders that pass
validation, or, when asked for, the real ones from environment variables.

The stack files are the Pulumi project's, not this package's: every function that
reads one takes the project folder (``root``), since an installed nginx-ha lives in
site-packages, away from the project that uses it.

Stack files are read as YAML 1.2, as the engine (Go's yaml.v3) reads them: an
unquoted ``52:54:00:12:34:56`` is text (YAML 1.1 readers such as PyYAML make it a
base-60 number), ``yes``/``on`` are text, not booleans. Every read goes through
``nginx_ha/config/stackread.py``: regular files only, bounded in size, time, depth and
alias expansion.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nginx_ha.config.stackread as stackread
from nginx_ha.config.stackread import StackFileError as StackFileError

ENV_SSH_PRIVATE_KEY = "NGINX_HA_SSH_PRIVATE_KEY"
ENV_VRRP_AUTH_PASS = "NGINX_HA_VRRP_AUTH_PASS"  # noqa: S105 - a variable name
ENV_SSH_HOST_KEY_SEED = "NGINX_HA_SSH_HOST_KEY_SEED"
ENV_TLS_KEY = "NGINX_HA_TLS_KEY"
ENV_TLS_TICKET_KEYS = "NGINX_HA_TLS_TICKET_KEYS"

PLACEHOLDER_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBsYWNlaG9sZGVyLW9mZmxpbmUtcmVuZGVyLTAwMDA "
    "placeholder@nginx-ha-render"
)
PLACEHOLDER_PRIVATE_KEY = "placeholder: set NGINX_HA_SSH_PRIVATE_KEY"
# Valid stand-ins for the VRRP secret: 8 characters for a VRRPv2 PASS, 32 bytes for
# an auth_hmac key. Rendered files show where the real one goes, never a real one.
PLACEHOLDER_PASS = "CHANGEME"  # noqa: S105 - a documented placeholder
PLACEHOLDER_HMAC_KEY = "placeholder-set-NGINX_HA_VRRP_00"
PLACEHOLDER_HOST_KEY_SEED = "placeholder-host-key-seed-not-a-secret-0000"  # noqa: S105
# The TLS private key is read only by preflight, which the offline render does not
# run: any text stands in for it. A session ticket key must be one: 80 bytes that say
# what they are (base64 of "placeholder-tls-ticket-key-set-NGINX_HA_TLS_TICKET_KEYS-"
# and dots), never a key of a real stack.
PLACEHOLDER_TLS_KEY = "placeholder: set NGINX_HA_TLS_KEY"
PLACEHOLDER_TICKET_KEYS = base64.b64encode(
    b"placeholder-tls-ticket-key-set-NGINX_HA_TLS_TICKET_KEYS-".ljust(80, b".")
).decode()


def load_yaml(text: str, name: str = "<text>") -> Any:
    """YAML 1.2 (the engine's reading), plain Python values, within the bounds of
    depth and alias expansion (stackread.py); StackFileError starting with ``name``."""
    return stackread.parse(text, name)


def load_stack_document(path: Path, root: str | Path | None = None) -> dict[str, Any]:
    """A stack (or project) file of the project folder ``root`` (default: the file's
    folder) as a mapping, read within the bounds of stackread.py; StackFileError naming
    the file when it breaks one, cannot be read, is not YAML, not a mapping, or its
    ``config`` is not a mapping."""
    data = load_yaml(stackread.read_text(path, None if root is None else Path(root)), path.name)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackFileError(
            f"{path.name}: is a {type(data).__name__}, not a mapping with a config: section"
        )
    config = data.get("config")
    if config is not None and not isinstance(config, dict):
        raise StackFileError(
            f"{path.name}: config is a {type(config).__name__}, not a mapping of keys "
            "to values (config:\n  nginx-ha:vip: 192.168.159.110)"
        )
    if isinstance(config, dict) and not all(isinstance(k, str) for k in config):
        raise StackFileError(f"{path.name}: every key under config must be text")
    return data


def stack_path(stack: str, root: str | Path) -> Path:
    """``Pulumi.<stack>.yaml`` in the project folder ``root``."""
    return Path(root) / f"Pulumi.{stack}.yaml"


def check_stack_files(stack: str, root: str | Path) -> None:
    """Read the project file ``Pulumi.yaml`` and the stack's own file (those present) in
    the project folder ``root`` within the reader's bounds, before Pulumi's CLI reads
    them (it has no such bounds: a FIFO there stalls it); StackFileError naming the
    file. ``stack`` may be fully qualified (``org/project/dev``): its file is named
    after the last part, as Pulumi names it."""
    root = Path(root)
    for path in (root / "Pulumi.yaml", stack_path(stack.rsplit("/", 1)[-1], root)):
        if os.path.lexists(path):
            load_stack_document(path, root)


def _encrypted(value: Any) -> bool:
    return isinstance(value, dict) and "secure" in value


def without_encrypted(value: Any) -> Any:
    """A config value with its encrypted leaves (``{secure: v1:...}``, set with
    ``--secret --path``) left out, the rest kept: a mapping loses the entry, a list
    the item."""
    if isinstance(value, dict):
        return {k: without_encrypted(v) for k, v in value.items() if not _encrypted(v)}
    if isinstance(value, list):
        return [without_encrypted(v) for v in value if not _encrypted(v)]
    return value


def read_config(stack: str, root: str | Path) -> dict[str, Any]:
    """A committed stack file's ``config`` (in the project folder ``root``) as plain
    values; encrypted values (only the engine can read them) are left out, at the top
    level and inside structured keys (``nginx-ha:tls: {key: {secure: ...}}``).
    FileNotFoundError for an unknown stack, StackFileError for a file that is not a
    stack file."""
    path = stack_path(stack, root)
    if not os.path.lexists(path):  # a dangling link is a broken stack file, not none
        raise FileNotFoundError(f"no stack file {path.name} in {root}")
    data = load_stack_document(path, root)
    return {
        key: without_encrypted(value)
        for key, value in (data.get("config") or {}).items()
        if not _encrypted(value)
    }


def as_engine_config(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Config values as the engine hands them to the program: structured values (and
    numbers, booleans) as JSON text, the rest as text."""
    return {
        k: (json.dumps(v) if isinstance(v, (dict, list, bool, int, float)) else str(v))
        for k, v in cfg.items()
    }


def raw_config_from_file(
    stack: str,
    root: str | Path,
    env: Mapping[str, str] | None = None,
    *,
    real_secrets: bool = False,
) -> dict[str, Any]:
    """The stack file's config, structured values as JSON text (as the engine hands
    them over), secrets as placeholders that pass validation (``tls.key`` where the
    stack has a ``tls.certificate``, ``tlsTicketKeys`` where it has ``tls``); with
    ``real_secrets``, from ``env`` (default: the process environment) where set there
    (``NGINX_HA_SSH_PRIVATE_KEY``, ``..._VRRP_AUTH_PASS``, ``..._SSH_HOST_KEY_SEED``,
    ``..._TLS_KEY``, ``..._TLS_TICKET_KEYS``). Raises
    FileNotFoundError for an unknown stack, StackFileError for a broken file."""
    env = os.environ if env is None else env
    given = env if real_secrets else {}
    cfg = read_config(stack, root)
    ssh = cfg.get("nginx-ha:ssh")
    ssh = dict(ssh) if isinstance(ssh, dict) else ssh
    if isinstance(ssh, dict):
        ssh.setdefault("publicKey", PLACEHOLDER_PUBLIC_KEY)
    cfg["nginx-ha:ssh"] = {"publicKey": PLACEHOLDER_PUBLIC_KEY} if ssh is None else ssh
    cfg["nginx-ha:sshPrivateKey"] = given.get(ENV_SSH_PRIVATE_KEY) or PLACEHOLDER_PRIVATE_KEY
    cfg["nginx-ha:sshHostKeySeed"] = given.get(ENV_SSH_HOST_KEY_SEED) or PLACEHOLDER_HOST_KEY_SEED
    vrrp = cfg.get("nginx-ha:vrrp")
    vrrp = vrrp if isinstance(vrrp, dict) else {}
    if given.get(ENV_VRRP_AUTH_PASS):
        cfg["nginx-ha:vrrpAuthPass"] = given[ENV_VRRP_AUTH_PASS]
    elif vrrp.get("allowUnauthenticated") is not True:
        v2 = vrrp.get("version") == 2
        cfg["nginx-ha:vrrpAuthPass"] = PLACEHOLDER_PASS if v2 else PLACEHOLDER_HMAC_KEY
    tls = cfg.get("nginx-ha:tls")
    if tls is not None:
        cfg["nginx-ha:tlsTicketKeys"] = given.get(ENV_TLS_TICKET_KEYS) or PLACEHOLDER_TICKET_KEYS
    if isinstance(tls, dict) and tls.get("certificate") is not None:
        key = given.get(ENV_TLS_KEY)
        cfg["nginx-ha:tls"] = {**tls, "key": key} if key else {"key": PLACEHOLDER_TLS_KEY, **tls}
    return as_engine_config(cfg)
