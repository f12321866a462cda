"""The per-area plans of a deployment (pure, frozen values): what keepalived runs, the
VRRP and check timings, nginx, LVS, notification, the network, the base image and SSH.
``build_topology`` (model.py) decides them once; renderers and components read them."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from nginx_ha.config import capabilities
from nginx_ha.config.capabilities import Version
from nginx_ha.config.models import Keepalived

AuthKind = Literal["pass", "hmac", "none"]

# nginx's upstream: the name, the failures after which it tries the next server
# (primaries first, then backups), and the balancing directive per setting.
NGINX_UPSTREAM = "tomcat"
NGINX_NEXT_UPSTREAM = ("error", "timeout", "http_502", "http_503", "http_504")
NGINX_BALANCING: dict[str, str | None] = {
    "round_robin": None,  # nginx's default: no directive
    "least_conn": "least_conn",
    "ip_hash": "ip_hash",
    "hash": "hash $remote_addr consistent",
    "random": "random",
}
VRRP_INSTANCE_NAME = "VI_{vrid}"
# Where each load balancer's nginx serves its live VRRP state to the others.
NGINX_STATE_PATH = "/nginx-ha/vrrp-state"


# ------------------------------------------------------------------------ the plans


@dataclass(frozen=True)
class KeepalivedPlan:
    """The keepalived the nodes run: its release (which decides what may be rendered),
    whether it is built with IPVS, and the verified source the program builds."""

    version: Version
    ipvs: bool
    source: Keepalived  # defaults filled (the pinned git tag and commit)

    @property
    def version_text(self) -> str:
        return capabilities.version_text(self.version)

    @property
    def build_id(self) -> str:
        """One id per build (release, verified source, IPVS or not): the folder under
        ``Layout.keepalived_builds`` it is built into, so two builds never overwrite
        each other and the previous one stays for a rollback."""
        src = self.source
        identity = f"{src.version}|{src.commit or src.sha256 or ''}|{self.ipvs}"
        return f"{src.version}-{hashlib.sha256(identity.encode()).hexdigest()[:10]}"

    def supports(self, feature: str) -> bool:
        return capabilities.supports(self.version, feature)


@dataclass(frozen=True)
class CheckPlan:
    """keepalived's check of the node's nginx and the fast watcher, as the deployed
    keepalived reads them (a fractional interval is rounded up where it cannot)."""

    interval: Decimal
    timeout: Decimal
    fall: int
    rise: int
    weight: int
    watch_interval: Decimal


@dataclass(frozen=True)
class VrrpPlan:
    version: int
    advert_interval: Decimal
    unicast: bool
    preempt: bool
    interface: str  # the NIC name cloud-init gives the VM (matched by MAC)
    garp_master_refresh: int
    check: CheckPlan
    auth: AuthKind  # how adverts are authenticated


@dataclass(frozen=True)
class NginxPlan:
    port: int
    health_path: str
    connect_timeout: Decimal
    send_timeout: Decimal
    read_timeout: Decimal
    max_fails: int
    fail_timeout: int
    balancing: str | None  # the upstream's balancing directive (None: round robin)
    retry_non_idempotent: bool
    next_upstream: tuple[str, ...]

    @property
    def port_suffix(self) -> str:
        """':PORT' in a URL, empty for 80."""
        return "" if self.port == 80 else f":{self.port}"

    @property
    def health_url(self) -> str:
        """The URL the check script and the watcher ask: the node's own nginx."""
        return f"http://127.0.0.1{self.port_suffix}{self.health_path}"

    def state_url(self, node_ip: ipaddress.IPv4Address | str) -> str:
        """Where a load balancer's nginx serves its live VRRP state (to the others)."""
        return f"http://{node_ip}{self.port_suffix}{NGINX_STATE_PATH}"


@dataclass(frozen=True)
class LvsPlan:
    """LVS (IPVS) in direct routing in front of the nginx nodes (nginx-ha:lvs)."""

    port: int
    scheduler: str
    persistence_timeout: int


@dataclass(frozen=True)
class EmailPlan:
    to: tuple[str, ...]
    sender: str | None  # None: keepalived@<node> (sender_for)
    server: str  # as keepalived's smtp_server reads it: "host port" or "host"

    def sender_for(self, node: str) -> str:
        return self.sender or f"keepalived@{node}"


@dataclass(frozen=True)
class NotifyPlan:
    script: bool
    email: EmailPlan | None


@dataclass(frozen=True)
class NetworkPlan:
    mode: Literal["nat", "bridge"]
    name: str  # the physical libvirt network (nat) or the host bridge (bridge)
    cidr: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    dns: tuple[ipaddress.IPv4Address, ...]
    bridge: str | None  # nat: an explicit bridge name for libvirt's network

    @property
    def prefix_len(self) -> int:
        return self.cidr.prefixlen


@dataclass(frozen=True)
class ImagePlan:
    url: str | None  # the base image downloaded per host (None: clone ``volume``)
    volume: str | None  # an existing volume to clone
    pool: str
    protect: bool  # the managed base image gets Pulumi's `protect`


@dataclass(frozen=True)
class SshPlan:
    user: str
    public_key: str
    # Who may reach the nodes' SSH port (ssh.allowFrom); empty: anywhere (no rule).
    allow_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsPlan:
    """HTTPS at the VIP (nginx-ha:tls): what every load balancer serves on ``port``."""

    server_names: tuple[str, ...]
    port: int
    redirect_http: bool  # port 80 answers 308 to https:// (internal locations stay plain)
    hsts: bool
    self_signed: bool  # the certificate and its CA are derived from sshHostKeySeed
    certificate: str | None  # the operator's chain (PEM); None with self_signed
    ca: str | None  # the operator's trust anchors for the gate (PEM)
    ticket_key_slots: int  # the session ticket key files (the newest key first)

    @property
    def port_suffix(self) -> str:
        """':PORT' in an https URL, empty for 443."""
        return "" if self.port == 443 else f":{self.port}"

    @property
    def gate_names(self) -> tuple[str, ...]:
        """A name to ask per server name: a wildcard's leftmost label filled in."""
        return tuple(
            n.replace("*", "nginx-ha-gate", 1) if n.startswith("*.") else n
            for n in self.server_names
        )

    def url_for(self, name: str | None = None) -> str:
        return f"https://{name or self.gate_names[0]}{self.port_suffix}/"
