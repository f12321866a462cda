"""Derive the deployment from validated settings: nodes, VRRP roles, MACs, names.

Pure: plain values in, plain values out. The Pulumi components, the offline
renderer and the network-namespace lab all consume a :class:`Topology`.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from nginx_ha.config import Settings
from nginx_ha.config.models import VmSize

QEMU_OUI = "52:54:00"  # QEMU/KVM's locally administered range


# --------------------------------------------------------------------------- naming
# Physical libvirt names carry project and stack, so two stacks on one host never
# collide. Logical Pulumi names stay short ("nginx-master-domain").


def stack_prefix(project: str, stack: str) -> str:
    return f"{project}-{stack}"


def domain_name(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}"


def volume_name(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}.qcow2"


def cloudinit_name(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}-cloudinit.iso"


def base_volume_name(prefix: str) -> str:
    return f"{prefix}-base.qcow2"


def network_name(prefix: str, network: str) -> str:
    return f"{prefix}-{network}"


# ------------------------------------------------------------------------------ MACs


def derive_mac(project: str, stack: str, vm: str, attempt: int = 0) -> str:
    """A stable MAC in 52:54:00:xx:xx:xx from (project, stack, VM name).

    ``attempt`` > 0 gives the deterministic alternatives used to resolve a collision.
    """
    seed = f"{project}/{stack}/{vm}" + (f"#{attempt}" if attempt else "")
    digest = hashlib.sha256(seed.encode()).digest()
    return QEMU_OUI + "".join(f":{b:02x}" for b in digest[:3])


def assign_macs(project: str, stack: str, wanted: list[tuple[str, str | None]]) -> dict[str, str]:
    """MACs for every VM: overrides first, then generated ones in name order.

    A generated MAC that collides with one already taken moves to the next
    deterministic alternative, so the result depends only on the inputs.
    """
    taken: dict[str, str] = {}
    out: dict[str, str] = {}
    for vm, mac in wanted:
        if mac is not None:
            out[vm] = mac
            taken[mac] = vm
    for vm, mac in sorted(wanted):
        if mac is not None:
            continue
        attempt = 0
        candidate = derive_mac(project, stack, vm)
        while candidate in taken:
            attempt += 1
            candidate = derive_mac(project, stack, vm, attempt)
        out[vm] = candidate
        taken[candidate] = vm
    return out


# ---------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Where things live on a node and what runs there, for the renderers.

    VMs use the defaults; the network-namespace lab passes its own (per-node paths
    under its run folder, its interface names, the keepalived it runs), so one set of
    templates serves both. Fields only ever get added, with a default.
    """

    interface: str = "enp1s0"
    # The keepalived deployed: decides which options may be rendered.
    keepalived_version: tuple[int, int, int] = (2, 4, 3)
    keepalived_bin: str = "/usr/local/keepalived/sbin/keepalived"
    keepalived_conf: str = "/etc/keepalived/keepalived.conf"
    check_script: str = "/etc/keepalived/check_nginx.sh"
    notify_script: str = "/etc/keepalived/notify.sh"
    auth_key_file: str = "/etc/keepalived/vrrp-auth.key"
    script_user: str = "root"
    nginx_bin: str = "/usr/sbin/nginx"
    nginx_conf: str = "/etc/nginx/nginx.conf"
    nginx_pid: str = "/run/nginx.pid"
    nginx_log_dir: str = "/var/log/nginx"
    nginx_mime_types: str = "/etc/nginx/mime.types"
    # How the health check restarts nginx once (the lab starts it in its namespace).
    nginx_restart: str = "systemctl restart nginx"
    tomcat_webapps: str = "/var/lib/tomcat10/webapps"
    # nginx (issue 5): the user workers run as (Debian www-data, RHEL family nginx),
    # the folder for request-body and proxy temp files (the lab gives each node its
    # own), and the ROOT page Tomcat serves (under tomcat_webapps).
    nginx_user: str = "www-data"
    nginx_temp_dir: str = "/var/lib/nginx"
    tomcat_page: str = "ROOT/index.html"
    # keepalived (issue 4): the VRRPv2 PASS fragment (a root-only 0600 file that
    # keepalived.conf includes, so the password is not in keepalived.conf), and the
    # folder of the health check's restart marker and the notify script's state file.
    auth_pass_file: str = "/etc/keepalived/vrrp-auth-pass.conf"  # noqa: S105 - a path
    keepalived_state_dir: str = "/run/nginx-ha"
    # Active-active/LVS (issue 8): whether the node's keepalived has IPVS (LVS) support
    # (Debian's package has; the program builds it only when nginx-ha:lvs.enabled).
    keepalived_ipvs: bool = True
    # The fast health path (docs/keepalived.md): the watcher script, and the file it
    # writes (0 healthy, 1 down) that keepalived tracks (track_file); its folder must
    # exist before keepalived starts.
    watch_script: str = "/etc/keepalived/nginx_watch.sh"
    health_file: str = "/run/nginx-ha/nginx-health"


def vm_layout(settings: Settings) -> Layout:
    """The layout of a VM deployed by the program."""
    k = settings.keepalived
    return Layout(
        interface=settings.vrrp.interface,
        keepalived_version=k.version_tuple,
        keepalived_ipvs=settings.keepalived_ipvs,
    )


# -------------------------------------------------------------------------- topology


@dataclass(frozen=True)
class Node:
    name: str
    kind: Literal["load_balancer", "backend"]
    ip: ipaddress.IPv4Address
    mac: str
    host: str | None  # key of nginx-ha:hosts; None: the default provider
    host_uri: str
    size: VmSize
    role: str  # MASTER/BACKUP (load balancers), primary/backup (backends)
    domain: str  # physical libvirt names, stack-scoped
    volume: str
    cloudinit: str
    instance_id: str
    priority: int | None = None
    port: int | None = None

    @property
    def is_load_balancer(self) -> bool:
        return self.kind == "load_balancer"


@dataclass(frozen=True)
class VrrpPeer:
    """One load balancer's view of its VRRP instance."""

    node: str
    state: Literal["MASTER", "BACKUP"]
    priority: int
    nopreempt: bool
    unicast_src: ipaddress.IPv4Address
    unicast_peers: tuple[ipaddress.IPv4Address, ...]


@dataclass(frozen=True)
class VrrpInstance:
    """One VIP: its own VRRP instance, router id and MASTER (active-active: the MASTER
    role alternates over the load balancers by priority order)."""

    name: str  # vrrp_instance name, VI_<vrid>
    vip: ipaddress.IPv4Address
    vrid: int
    master: str  # the load balancer meant to hold the VIP (highest priority here)
    peers: dict[str, VrrpPeer]  # by load balancer name


VRRP_INSTANCE_NAME = "VI_{vrid}"


@dataclass(frozen=True)
class Topology:
    settings: Settings
    prefix: str
    network: str  # physical libvirt network name (nat mode) or the host bridge
    base_volume: str
    nodes: tuple[Node, ...]
    # The first VIP's instance, by load balancer (the one-VIP view; see instances).
    vrrp: dict[str, VrrpPeer] = field(default_factory=dict)
    # One VRRP instance per VIP, in the order of nginx-ha:vips (or the one nginx-ha:vip).
    instances: tuple[VrrpInstance, ...] = ()

    @property
    def load_balancers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_load_balancer)

    @property
    def backends(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.is_load_balancer)

    @property
    def master(self) -> Node:
        return max(self.load_balancers, key=lambda n: n.priority or 0)

    @property
    def hosts_used(self) -> tuple[str | None, ...]:
        """Hosts that run a VM, in first-use order (None: libvirt:uri)."""
        return tuple(dict.fromkeys(n.host for n in self.nodes))

    @property
    def prefix_len(self) -> int:
        return self.settings.network.cidr.prefixlen

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


def build_topology(settings: Settings) -> Topology:
    prefix = stack_prefix(settings.project, settings.stack)
    wanted = [(n.name, n.mac) for n in settings.all_nodes()]
    macs = assign_macs(settings.project, settings.stack, wanted)
    master_priority = max(lb.priority for lb in settings.load_balancers)
    nodes: list[Node] = []
    for lb in settings.load_balancers:
        nodes.append(
            _node(
                settings,
                prefix,
                lb.name,
                "load_balancer",
                lb.ip,
                macs[lb.name],
                lb.host,
                settings.vm_size(lb),
                "MASTER" if lb.priority == master_priority else "BACKUP",
                priority=lb.priority,
            )
        )
    for be in settings.backends:
        nodes.append(
            _node(
                settings,
                prefix,
                be.name,
                "backend",
                be.ip,
                macs[be.name],
                be.host,
                settings.vm_size(be),
                be.role,
                port=be.port,
            )
        )

    lbs = [n for n in nodes if n.is_load_balancer]
    instances = tuple(
        vrrp_instance(settings, lbs, index, vip, vrid)
        for index, (vip, vrid) in enumerate(settings.vip_specs)
    )

    net = settings.network
    return Topology(
        settings=settings,
        prefix=prefix,
        network=(net.bridge or "") if net.mode == "bridge" else network_name(prefix, net.name),
        base_volume=base_volume_name(prefix),
        nodes=tuple(nodes),
        vrrp=dict(instances[0].peers) if instances else {},
        instances=instances,
    )


def vrrp_instance(
    settings: Settings, lbs: list[Node], index: int, vip: ipaddress.IPv4Address, vrid: int
) -> VrrpInstance:
    """VIP ``index``'s instance. Its MASTER is load balancer ``index mod n`` in priority
    order; the configured priorities rotate with it, so each instance has the same set
    of distinct priorities (and the same gap the settings rules checked), and VIP 0 is
    exactly the one-VIP instance."""
    ranked = sorted(lbs, key=lambda n: -(n.priority or 0))
    priorities = [n.priority or 0 for n in ranked]
    shift = index % len(ranked)
    peers: dict[str, VrrpPeer] = {}
    for rank, n in enumerate(ranked):
        priority = priorities[(rank - shift) % len(ranked)]
        is_master = rank == shift
        # keepalived honours nopreempt only with state BACKUP: without preemption
        # every node starts as BACKUP and the priority alone elects the first MASTER.
        state: Literal["MASTER", "BACKUP"] = (
            "MASTER" if is_master and settings.vrrp.preempt else "BACKUP"
        )
        peers[n.name] = VrrpPeer(
            node=n.name,
            state=state,
            priority=priority,
            nopreempt=not settings.vrrp.preempt,
            unicast_src=n.ip,
            unicast_peers=tuple(p.ip for p in lbs if p.name != n.name),
        )
    # Load-balancer order, as the one-VIP topology listed them.
    peers = {n.name: peers[n.name] for n in lbs}
    return VrrpInstance(
        name=VRRP_INSTANCE_NAME.format(vrid=vrid),
        vip=vip,
        vrid=vrid,
        master=ranked[shift].name,
        peers=peers,
    )


def _node(
    settings: Settings,
    prefix: str,
    name: str,
    kind,
    ip,
    mac,
    host,
    size,
    role,
    priority=None,
    port=None,
) -> Node:
    return Node(
        name=name,
        kind=kind,
        ip=ip,
        mac=mac,
        host=host,
        host_uri=settings.host_uri(host),
        size=size,
        role=role,
        domain=domain_name(prefix, name),
        volume=volume_name(prefix, name),
        cloudinit=cloudinit_name(prefix, name),
        instance_id=f"iid-{prefix}-{name}",
        priority=priority,
        port=port,
    )
