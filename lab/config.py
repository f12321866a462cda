"""The lab's settings: a committed stack file, a benchmark profile, lab secrets.

The lab runs the stack's own addresses, VIP and VRRP settings inside its
namespaces. Profiles change timings through settings overrides (validated by the
same rules as a stack), never through template forks. The lab makes its own
throwaway secrets: the stack's encrypted ones are not needed to run daemons in
namespaces.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nginx_ha.config import NS, Settings, capabilities, parse_settings, stackfiles
from nginx_ha.config.pins import TLS_TICKET_KEY_BYTES

ROOT = Path(__file__).resolve().parent.parent

# The name the https profile serves (the lab's client resolves it to the VIP itself).
LAB_TLS_NAME = "www.nginx-ha.test"
# The lab's seed of the nodes' derived secrets: its SSH host keys (the lab runs no
# sshd) and, with tls.selfSigned, the stack's CA and certificate. Public knowledge, so
# only ever used inside the lab's own namespaces.
LAB_SEED = "lab-not-used-the-lab-runs-no-sshd-000000"  # noqa: S105
# A syntactically valid placeholder: the lab never opens an SSH connection.
LAB_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxhYi1ub3QtdXNlZC1ub3QtYS1yZWFsLWtleS0wMDAw lab"
)


@dataclass(frozen=True)
class Profile:
    """Timings for the benchmark. ``overrides`` are settings, as in a stack file."""

    name: str
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)
    # The tutorial's keepalived.conf and check script (lab/tutorial/), not ours.
    tutorial: bool = False
    # Active-active (issue 8): this many VIPs, the stack's VIP first, then the next
    # free addresses of its network (nginx-ha:vips); 1: the stack's VIP setting as is.
    vips: int = 1


PROFILES = {
    "ours": Profile(
        "ours",
        "the stack's settings (defaults: VRRPv3, advert 0.2 s, check 1 s fall 2 rise 2, "
        "watcher 0.2 s via track_file, weight 0 = FAULT)",
    ),
    "fast": Profile(
        "fast",
        "ours with 0.1 s adverts (the floor for a host death)",
        {"vrrp": {"advertInterval": 0.1}},
    ),
    "tight": Profile(
        "tight",
        "ours with the watcher every 0.1 s (probe 0.075 s): what halving the default "
        "watch interval buys (the adverts are the default 0.2 s)",
        {"vrrp": {"check": {"watchInterval": 0.1}}},
    ),
    "fast-check": Profile(
        "fast-check",
        "ours with nginx checked every 0.3 s (timeout 0.25 s, fall 2 rise 2): what a dead "
        "or hung nginx handed over within 1 s takes",
        {"vrrp": {"check": {"interval": 0.3, "timeout": 0.25}}},
    ),
    "active-active": Profile(
        "active-active",
        "ours with two VIPs (the stack's VIP and the next free address), each MASTER on "
        "another load balancer (docs/active-active-lvs.md)",
        vips=2,
    ),
    "lvs": Profile(
        "lvs",
        "active-active with LVS (direct routing, fwmark, rr): needs a kernel with IPVS "
        "(/proc/net/ip_vs) and a keepalived built with it",
        {"lvs": {"enabled": True, "scheduler": "rr"}},
        vips=2,
    ),
    "lvs-persistence": Profile(
        "lvs-persistence",
        "lvs with lvs.persistenceTimeout 30: a client stays on one nginx node per VIP",
        {"lvs": {"enabled": True, "scheduler": "rr", "persistenceTimeout": 30}},
        vips=2,
    ),
    "https": Profile(
        "https",
        "ours with HTTPS at the VIP (tls.selfSigned for www.nginx-ha.test, the port 80 "
        "redirecting): the lab's client trusts the stack's CA",
        {"tls": {"serverNames": [LAB_TLS_NAME], "selfSigned": True}},
    ),
    "tutorial": Profile(
        "tutorial",
        "the tutorial's keepalived.conf: VRRPv2, advert 1 s, check every 2 s, equal "
        "priorities, nopreempt, weight -20",
        {"vrrp": {"version": 2, "advertInterval": 1, "check": {"interval": 2, "timeout": 2}}},
        tutorial=True,
    ),
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, mappings merged key by key (a copy)."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def lab_vips(config: dict[str, Any], count: int) -> list[str]:
    """The stack's VIP, then the next addresses of its network that no node, VIP or
    gateway uses (the active-active profile's VIPs)."""
    import ipaddress

    from nginx_ha.config.models import Network

    first = ipaddress.IPv4Address(str(config[f"{NS}:vip"]))
    net = Network.model_validate(config.get(f"{NS}:network") or {})
    used = {first, net.gateway_ip}
    for key in ("loadBalancers", "backends"):
        used |= {ipaddress.IPv4Address(str(n["ip"])) for n in config.get(f"{NS}:{key}") or []}
    out = [first]
    for host in net.cidr.hosts():
        if len(out) == count:
            break
        if host > first and host not in used:
            out.append(host)
    return [str(a) for a in out]


def lab_ticket_key() -> str:
    """The lab's TLS session ticket key: 80 bytes from its seed, base64."""
    raw = hashlib.shake_256(b"nginx-ha lab ticket key\0" + LAB_SEED.encode())
    return base64.b64encode(raw.digest(TLS_TICKET_KEY_BYTES)).decode()


@dataclass(frozen=True)
class LabSettings:
    settings: Settings
    profile: Profile
    # Lab-only changes the stack did not ask for, printed by `up` (e.g. unauthenticated
    # VRRPv3 where the keepalived run here has no auth_hmac).
    notes: tuple[str, ...]
    auth_secret: str | None
    # Every secret the nodes' files are made from, by config key (render/plan.py).
    secrets: dict[str, str] = field(default_factory=dict)


def lab_settings(
    stack: str,
    profile: str = "ours",
    keepalived_version: tuple[int, int, int] = (2, 4, 3),
    extra: dict[str, Any] | None = None,
) -> LabSettings:
    """The stack's settings with the profile's overrides, for the lab.

    ``keepalived_version`` is the keepalived the lab runs: where it cannot
    authenticate what the stack asks for, the lab says so and turns to
    vrrp.allowUnauthenticated (an explicit override, printed)."""
    prof = PROFILES[profile]
    cfg: dict[str, Any] = {}
    for key, value in stackfiles.read_config(stack, ROOT).items():
        if isinstance(value, dict) and "secure" in value:
            continue  # encrypted in the stack file; the lab makes its own below
        cfg[key] = value
    cfg.setdefault(f"{NS}:ssh", {"user": "debian", "publicKey": LAB_PUBLIC_KEY})
    for key, value in merge({}, prof.overrides).items():
        full = f"{NS}:{key}"
        cfg[full] = merge(cfg.get(full) or {}, value) if isinstance(value, dict) else value
    for key, value in (extra or {}).items():
        full = f"{NS}:{key}"
        cfg[full] = merge(cfg.get(full) or {}, value) if isinstance(value, dict) else value

    if prof.vips > 1:
        cfg.pop(f"{NS}:vip", None)
        cfg[f"{NS}:vips"] = lab_vips(stackfiles.read_config(stack, ROOT), prof.vips)

    vrrp = cfg.get(f"{NS}:vrrp") or {}
    version = int(vrrp.get("version", 3))
    notes: list[str] = []
    has_hmac = capabilities.supports(keepalived_version, "auth_hmac")
    secret: str | None
    if version == 2:
        secret = secrets.token_hex(4)  # PASS: 8 characters
    elif has_hmac:
        secret = secrets.token_hex(16)  # auth_hmac: 32 bytes
    else:
        secret = None
        if not vrrp.get("allowUnauthenticated"):
            v = ".".join(map(str, keepalived_version))
            notes.append(
                f"lab override: vrrp.allowUnauthenticated true (keepalived {v} run by the "
                "lab has no auth_hmac for VRRPv3; the adverts stay inside the lab's namespaces)"
            )
            cfg[f"{NS}:vrrp"] = merge(vrrp, {"allowUnauthenticated": True})
    cfg[f"{NS}:sshPrivateKey"] = "lab: not used"
    cfg[f"{NS}:sshHostKeySeed"] = LAB_SEED
    if secret is not None:
        cfg[f"{NS}:vrrpAuthPass"] = secret
    else:
        cfg.pop(f"{NS}:vrrpAuthPass", None)
    lab_secrets = {"sshHostKeySeed": LAB_SEED} | ({"vrrpAuthPass": secret} if secret else {})
    tls = cfg.get(f"{NS}:tls")
    if isinstance(tls, dict):
        if not tls.get("selfSigned") and not isinstance(tls.get("key"), str):
            # The stack's certificate comes with a key only its engine can read.
            notes.append(
                "lab override: tls.selfSigned true (the stack's certificate key is its "
                "secret; the lab serves a certificate from its own CA for the same names)"
            )
            tls = {k: v for k, v in tls.items() if k not in ("certificate", "key", "ca")}
            cfg[f"{NS}:tls"] = tls | {"selfSigned": True}
        if isinstance(tls.get("key"), str):
            lab_secrets["tls.key"] = tls["key"]
        # The lab's ticket key (derived from its public seed: the same for every run of
        # a lab, so a replayed rollout does not rotate it), unless the run gives its own.
        keys = cfg.setdefault(f"{NS}:tlsTicketKeys", lab_ticket_key())
        lab_secrets["tlsTicketKeys"] = keys
    settings = parse_settings(stackfiles.as_engine_config(cfg), stack=stack)
    return LabSettings(settings, prof, tuple(notes), secret, lab_secrets)
