"""The deployment decided from validated settings: every per-node value the renderers,
the Pulumi components, the lab and the benches need.

Pure: plain values in, plain values out. Nothing downstream reads raw settings: a
decision (who is MASTER of which VIP, how adverts are authenticated, what keepalived
runs and what it supports, the e-mail sender, the health URL, rounded check timings)
is taken here, once.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from nginx_ha.config import capabilities
from nginx_ha.config.capabilities import Version
from nginx_ha.config.models import Backend, LoadBalancer, Settings, VmSize
from nginx_ha.config.pins import DEFAULT_IMAGE_URL, TLS_TICKET_KEY_SLOTS
from nginx_ha.topology.app import AppPlan, app_plan
from nginx_ha.topology.kinds import BACKEND, LOAD_BALANCER, NodeKind
from nginx_ha.topology.layout import Layout
from nginx_ha.topology.naming import (
    assign_macs,
    base_volume_name,
    cloudinit_name,
    domain_name,
    network_name,
    page_marker,
    stack_prefix,
    volume_name,
)
from nginx_ha.topology.plans import (
    NGINX_BALANCING,
    NGINX_NEXT_UPSTREAM,
    VRRP_INSTANCE_NAME,
    AuthKind,
    CheckPlan,
    EmailPlan,
    ImagePlan,
    KeepalivedPlan,
    LvsPlan,
    NetworkPlan,
    NginxPlan,
    NotifyPlan,
    SshPlan,
    TlsPlan,
    VrrpPlan,
)

# ------------------------------------------------------------------ nodes and VRRP


@dataclass(frozen=True)
class Node:
    name: str
    kind: NodeKind  # what the node is and gets (topology/kinds.py)
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
    priority: int | None = None  # its configured VRRP priority (VRRP nodes)
    port: int | None = None  # the port it serves (upstream nodes: Tomcat's)

    @property
    def service_port(self) -> int:
        """The port an upstream node serves (its Tomcat connector)."""
        if self.port is None:
            raise ValueError(f"{self.name} serves no port of its own ({self.kind.name})")
        return self.port

    @property
    def page_marker(self) -> str:
        """The line of a backend's ROOT page that names it (smoke test, lab, checks)."""
        return page_marker(self.name, self.role)


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


@dataclass(frozen=True)
class Topology:
    project: str
    stack: str
    prefix: str
    network: NetworkPlan
    base_volume: str
    nodes: tuple[Node, ...]
    # One VRRP instance per VIP, in the order of nginx-ha:vips (or the one nginx-ha:vip).
    instances: tuple[VrrpInstance, ...]
    vrrp: VrrpPlan
    keepalived: KeepalivedPlan
    nginx: NginxPlan
    notify: NotifyPlan
    lvs: LvsPlan | None  # None: LVS off
    image: ImagePlan
    ssh: SshPlan
    tls: TlsPlan | None = None  # None: plain HTTP only
    app: AppPlan | None = None  # None: the backends serve their node page
    hosts: dict[str | None, str] = field(default_factory=dict)  # host key -> libvirt URI
    # VMs are created and replaced one node at a time behind the gates (nginx-ha:serving).
    serving: bool = False

    @property
    def peers(self) -> dict[str, VrrpPeer]:
        """The first VIP's instance, by load balancer (the one-VIP view)."""
        return dict(self.instances[0].peers) if self.instances else {}

    @property
    def vip(self) -> ipaddress.IPv4Address:
        """The first VIP (the one VIP of a one-VIP stack)."""
        return self.instances[0].vip

    @property
    def vip_url(self) -> str:
        """The URL clients use: the first VIP (with TLS: its first server name, which
        resolves to the VIP)."""
        return self.tls.url_for() if self.tls else self.url_for(self.vip)

    def url_for(self, vip: ipaddress.IPv4Address | str) -> str:
        return f"http://{vip}{self.nginx.port_suffix}/"

    @property
    def load_balancers(self) -> tuple[Node, ...]:
        """The nodes that take part in VRRP (they hold the VIPs)."""
        return tuple(n for n in self.nodes if n.kind.vrrp)

    @property
    def backends(self) -> tuple[Node, ...]:
        """nginx's upstream servers."""
        return tuple(n for n in self.nodes if n.kind.upstream)

    @property
    def master(self) -> Node:
        return max(self.load_balancers, key=lambda n: n.priority or 0)

    @property
    def hosts_used(self) -> tuple[str | None, ...]:
        """Hosts that run a VM, in first-use order (None: libvirt:uri)."""
        return tuple(dict.fromkeys(n.host for n in self.nodes))

    @property
    def prefix_len(self) -> int:
        return self.network.prefix_len

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def held_by(self, node: str) -> tuple[VrrpInstance, ...]:
        """The VRRP instances (VIPs) ``node`` is meant to hold."""
        return tuple(i for i in self.instances if i.master == node)

    @property
    def rollout(self) -> tuple[Node, ...]:
        """The order a change activates on the nodes, one at a time, each behind the
        previous one's gate: phase by phase (the kind's ``rollout_phase``: backends,
        then load balancers), and within a phase the node meant to hold the fewest VIPs
        first, then the lowest priority, backup roles before primaries, then by name.
        So the backends go backups first, and the MASTER goes last of all."""
        return tuple(
            sorted(
                self.nodes,
                key=lambda n: (
                    n.kind.rollout_phase,
                    len(self.held_by(n.name)),
                    n.priority or 0,
                    n.role == "primary",
                    n.name,
                ),
            )
        )

    def host_uri(self, host: str | None) -> str:
        return self.hosts[host]


def vm_layout(topo: Topology) -> Layout:
    """The layout of a VM deployed by the program (its NIC: vrrp.interface)."""
    return Layout(interface=topo.vrrp.interface)


def keepalived_bin(topo: Topology, layout: Layout) -> str:
    """The keepalived binary a node runs: the layout's (the lab's), else the build the
    topology names."""
    return layout.keepalived_bin or keepalived_build_bin(topo, layout)


def keepalived_build_bin(topo: Topology, layout: Layout) -> str:
    return f"{layout.keepalived_builds}/{topo.keepalived.build_id}/sbin/keepalived"


# ----------------------------------------------------------------------- decisions


def check_seconds(keepalived: KeepalivedPlan, value: Decimal) -> Decimal:
    """vrrp_script interval/timeout as the node's keepalived reads them: one without
    fractional check timings takes whole seconds only, so a fraction is rounded up
    there (the settings refuse fractions for such a stack; this serves the lab, which
    may run an older keepalived than the stack names)."""
    if keepalived.supports("fractional_check"):
        return value
    return value.to_integral_value(rounding=ROUND_CEILING)


def vrrp_auth_kind(settings: Settings, keepalived: KeepalivedPlan, has_secret: bool) -> AuthKind:
    """How adverts are authenticated: a VRRPv2 PASS, auth_hmac, or not at all."""
    if not has_secret:
        return "none"
    if settings.vrrp.version == 2:
        return "pass"
    if keepalived.supports("auth_hmac"):
        return "hmac"
    if settings.vrrp.allow_unauthenticated:
        return "none"
    raise ValueError(
        f"auth_hmac needs keepalived {capabilities.since('auth_hmac')} or newer; this "
        f"node runs {keepalived.version_text} (nginx-ha:keepalived.version)"
    )


def smtp_server(value: str) -> str:
    """keepalived's smtp_server takes "host port": "host:port" is split."""
    host, sep, port = value.rpartition(":")
    return f"{host} {port}" if sep and port.isdigit() and host else value


def build_topology(
    settings: Settings,
    *,
    keepalived_version: Version | None = None,
    keepalived_ipvs: bool | None = None,
    vrrp_secret: bool | None = None,
) -> Topology:
    """Decide the deployment. ``keepalived_version``/``keepalived_ipvs``: the keepalived
    that really runs where it is not the one the stack builds (the lab runs the one
    installed on its host); default: the stack's. ``vrrp_secret``: whether a VRRP
    secret is given (default: the settings hold one)."""
    s = settings
    prefix = stack_prefix(s.project, s.stack)
    wanted = [(n.name, n.mac) for n in s.all_nodes()]
    macs = assign_macs(s.project, s.stack, wanted)
    master_priority = max(lb.priority for lb in s.load_balancers)
    hosts: dict[str | None, str] = {None: s.libvirt_uri, **s.hosts}
    nodes: list[Node] = []
    for lb in s.load_balancers:
        role = "MASTER" if lb.priority == master_priority else "BACKUP"
        mac = macs[lb.name]
        iid = instance_id(s, prefix, lb.name, lb.ip, mac)
        nodes.append(_node(s, prefix, lb, LOAD_BALANCER, mac, iid, role, priority=lb.priority))
    for be in s.backends:
        mac = macs[be.name]
        iid = instance_id(s, prefix, be.name, be.ip, mac)
        nodes.append(_node(s, prefix, be, BACKEND, mac, iid, be.role, port=be.port))

    lbs = [n for n in nodes if n.kind.vrrp]
    instances = tuple(
        vrrp_instance(s.vrrp.preempt, lbs, index, vip, vrid)
        for index, (vip, vrid) in enumerate(s.vip_specs)
    )
    keepalived = KeepalivedPlan(
        version=keepalived_version or s.keepalived.version_tuple,
        ipvs=s.keepalived_ipvs if keepalived_ipvs is None else keepalived_ipvs,
        source=s.keepalived_source,
    )
    v, c = s.vrrp, s.vrrp.check
    vrrp_plan = VrrpPlan(
        version=v.version,
        advert_interval=v.advert_interval,
        unicast=v.unicast,
        preempt=v.preempt,
        interface=v.interface,
        garp_master_refresh=v.garp_master_refresh,
        check=CheckPlan(
            interval=check_seconds(keepalived, c.interval),
            timeout=check_seconds(keepalived, c.timeout),
            fall=c.fall,
            rise=c.rise,
            weight=c.weight,
            watch_interval=c.watch_interval,
        ),
        auth=vrrp_auth_kind(
            s, keepalived, s.vrrp_auth_pass is not None if vrrp_secret is None else vrrp_secret
        ),
    )
    ng = s.nginx
    next_upstream = NGINX_NEXT_UPSTREAM + (("non_idempotent",) if ng.retry_non_idempotent else ())
    n = s.notify
    email = None
    if n.email_to and n.smtp_server:
        email = EmailPlan(tuple(n.email_to), n.email_from, smtp_server(n.smtp_server))
    net = s.network
    return Topology(
        project=s.project,
        stack=s.stack,
        prefix=prefix,
        network=NetworkPlan(
            mode=net.mode,
            name=(net.bridge or "") if net.mode == "bridge" else network_name(prefix, net.name),
            cidr=net.cidr,
            gateway=net.gateway_ip,
            dns=tuple(net.dns_servers),
            bridge=net.bridge,
        ),
        base_volume=base_volume_name(prefix),
        nodes=tuple(nodes),
        instances=instances,
        vrrp=vrrp_plan,
        keepalived=keepalived,
        nginx=NginxPlan(
            port=ng.port,
            health_path=ng.health_path,
            connect_timeout=ng.connect_timeout,
            send_timeout=ng.send_timeout,
            read_timeout=ng.read_timeout,
            max_fails=ng.max_fails,
            fail_timeout=ng.fail_timeout,
            balancing=NGINX_BALANCING[ng.balancing],
            retry_non_idempotent=ng.retry_non_idempotent,
            next_upstream=next_upstream,
        ),
        notify=NotifyPlan(script=n.script, email=email),
        lvs=(
            LvsPlan(s.lvs_port, s.lvs.scheduler, s.lvs.persistence_timeout)
            if s.lvs.enabled
            else None
        ),
        image=ImagePlan(
            url=None if s.image.volume else (s.image.url or DEFAULT_IMAGE_URL),
            volume=s.image.volume,
            pool=s.image.pool,
            protect=s.protects_base_image,
        ),
        ssh=SshPlan(s.ssh.user, s.ssh.public_key, tuple(str(n) for n in s.ssh.allow_from)),
        tls=tls_plan(s),
        app=app_plan(s),
        hosts=hosts,
        serving=s.serves_traffic,
    )


def tls_plan(s: Settings) -> TlsPlan | None:
    t = s.tls
    if t is None:
        return None
    return TlsPlan(
        server_names=tuple(t.server_names),
        port=t.port,
        redirect_http=t.redirect_http,
        hsts=t.hsts,
        self_signed=t.self_signed,
        certificate=None if t.self_signed else t.certificate,
        ca=t.ca,
        ticket_key_slots=TLS_TICKET_KEY_SLOTS,
    )


def vrrp_instance(
    preempt: bool, lbs: list[Node], index: int, vip: ipaddress.IPv4Address, vrid: int
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
        state: Literal["MASTER", "BACKUP"] = "MASTER" if is_master and preempt else "BACKUP"
        peers[n.name] = VrrpPeer(
            node=n.name,
            state=state,
            priority=priority,
            nopreempt=not preempt,
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


# Bumped when the cloud-init templates change what a VM is provisioned with.
CLOUD_INIT_GENERATION = 1


def instance_id(s: Settings, prefix: str, name: str, ip: ipaddress.IPv4Address, mac: str) -> str:
    """cloud-init's instance-id of a VM: it changes exactly when what cloud-init applies
    changes (address, MAC, gateway, DNS, interface, user, SSH key), so a VM replaced for
    such a change is provisioned again (cloud-init runs per instance; with the same id
    it would keep the old network and keys)."""
    net = s.network
    provisioned = "|".join(
        (
            str(CLOUD_INIT_GENERATION),
            name,
            f"{ip}/{net.cidr.prefixlen}",
            mac,
            str(net.gateway_ip),
            ",".join(str(d) for d in net.dns_servers),
            s.vrrp.interface,
            s.ssh.user,
            s.ssh.public_key,
        )
    )
    return f"iid-{prefix}-{name}-{hashlib.sha256(provisioned.encode()).hexdigest()[:8]}"


def _node(
    s: Settings,
    prefix: str,
    spec: LoadBalancer | Backend,
    kind: NodeKind,
    mac: str,
    iid: str,
    role: str,
    priority: int | None = None,
    port: int | None = None,
) -> Node:
    return Node(
        name=spec.name,
        kind=kind,
        ip=spec.ip,
        mac=mac,
        host=spec.host,
        host_uri=s.host_uri(spec.host),
        size=s.vm_size(spec),
        role=role,
        domain=domain_name(prefix, spec.name),
        volume=volume_name(prefix, spec.name),
        cloudinit=cloudinit_name(prefix, spec.name),
        instance_id=iid,
        priority=priority,
        port=port,
    )
