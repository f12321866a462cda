"""The lab's nodes: each one a network namespace with a port on the switch, a folder
of its own in the run folder, a :class:`Layout` that points there (``lab_layout``)
and the plan built with it; the client's place on the same network; what each part
of a node needs made beside its files (``PREPARE``), where a VM's packages make it."""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab import daemons
from lab.daemons import NGINX_BIN
from lab.errors import LabError
from lab.network import IFACE, Member
from nginx_ha import render
from nginx_ha.render.plan import NodePlan
from nginx_ha.topology import Layout, Node, Topology
from nginx_ha.topology.kinds import Part
from support import netns

# The client's veth: its switch port and its MAC (no node has it).
CLIENT_PORT = "pc"
CLIENT_MAC = "52:54:00:ff:ff:fe"


def ns_prefix(instance: str) -> str:
    return f"nha-{instance}-"


@dataclass(frozen=True)
class LabNode:
    node: Node
    ns: str
    port: str  # the switch-side veth, in the switch namespace
    dir: Path
    layout: Layout
    plan: NodePlan  # everything the node gets, with the lab's layout


def lab_layout(
    d: Path,
    keepalived_bin: str,
) -> Layout:
    """A node's Layout in the lab: every path under the node's run folder, and the
    lab's own way to (re)start each daemon where a VM has systemd (the scripts come
    from lab/templates/, written by lab.files.node_files)."""
    ng = d / "nginx"
    ka = d / "keepalived"
    state = ka / "state"
    return Layout(
        auth_pass_file=str(ka / "vrrp-auth-pass.conf"),
        keepalived_state_dir=str(state),
        interface=IFACE,
        keepalived_bin=keepalived_bin,
        keepalived_conf=str(ka / "keepalived.conf"),
        keepalived_pid=str(ka / "keepalived.pid"),
        keepalived_unit=str(ka / "keepalived.service"),
        keepalived_start=f"bash {ka / 'start.sh'}",
        check_script=str(ka / "check_nginx.sh"),
        watch_script=str(ka / "nginx_watch.sh"),
        watch_unit=str(ka / "nginx-ha-watch.service"),
        watch_start=f"bash {ka / 'watch_start.sh'}",
        health_file=str(state / "nginx-health"),
        drain_dir=str(state / "drain"),
        vrrp_state_dir=str(state / "vrrp"),
        vrrp_state_script=str(ka / "vrrp_state.sh"),
        notify_script=str(ka / "notify.sh"),
        auth_key_file=str(ka / "vrrp-auth.key"),
        script_user="root",
        nginx_bin=NGINX_BIN,
        nginx_conf=str(ng / "nginx.conf"),
        nginx_pid=str(ng / "nginx.pid"),
        nginx_log_dir=str(ng / "log"),
        nginx_mime_types="/etc/nginx/mime.types",
        nginx_restart=str(ng / "restart.sh"),
        tomcat_webapps=str(d / "tomcat" / "webapps"),
        tomcat_base=str(d / "tomcat"),
        tomcat_restart=str(d / "tomcat" / "restart.sh"),
        app_dir=str(d / "app"),
        nginx_user="www-data",
        nginx_temp_dir=str(ng / "temp"),
        tls_dir=str(ng / "tls"),
        # Rollouts replayed against the lab (bench/replay.py) stage and keep their files
        # here; the host's firewall and its Tomcat's server.xml are not the lab's.
        upload_dir=str(d / "upload"),
        release_dir=str(d / "releases"),
        # The LVS real server's files (its unit is only written: the lab starts
        # everything itself).
        lvs_sysctl_file=str(d / "lvs" / "sysctl.conf"),
        lvs_nft_file=str(d / "lvs" / "lvs.nft"),
        lvs_unit=str(d / "lvs" / "nginx-ha-lvs.service"),
        manage_firewall=False,
        manage_tomcat_port=False,
    )


def lab_nodes(
    topo: Topology, run_dir: Path, prefix: str, keepalived_bin: str
) -> dict[str, LabNode]:
    """Every node of the topology in the lab, by name: its namespace (``prefix`` and
    its name), its switch port, its folder in ``run_dir``, its layout there and its
    plan (no side effects)."""
    layouts = {n.name: lab_layout(run_dir / n.name, keepalived_bin) for n in topo.nodes}
    plans = render.plans(topo, lambda n: layouts[n.name])
    return {
        n.name: LabNode(
            n,
            f"{prefix}{n.name}",
            f"p{i}",
            run_dir / n.name,
            layouts[n.name],
            plans[n.name],
        )
        for i, n in enumerate(topo.nodes)
    }


def client_ip(topo: Topology) -> ipaddress.IPv4Address:
    """The client's address: the highest of the network's that nothing else uses."""
    net = topo.network
    vips = {i.vip for i in topo.instances}
    used = {n.ip for n in topo.nodes} | vips | {net.gateway}
    for host in reversed(list(net.cidr.hosts())):
        if host not in used:
            return host
    raise LabError(f"no free address for the lab's client in {net.cidr}")


def members(topo: Topology, nodes: dict[str, LabNode], client: str) -> list[Member]:
    """What the switch wires: every node on its port with its address and MAC, then
    the client (namespace ``client``)."""
    prefixlen = topo.prefix_len
    wired = [
        Member(ln.ns, ln.port, f"{ln.node.ip}/{prefixlen}", ln.node.mac) for ln in nodes.values()
    ]
    wired.append(Member(client, CLIENT_PORT, f"{client_ip(topo)}/{prefixlen}", CLIENT_MAC))
    return wired


def _prepare_nginx(ln: LabNode) -> None:
    for d in (ln.layout.nginx_log_dir, ln.layout.nginx_temp_dir):
        Path(d).mkdir(parents=True, exist_ok=True)


def _prepare_keepalived(ln: LabNode) -> None:
    # The health file's folder and the drain folder: keepalived watches them from its
    # start.
    for d in (str(Path(ln.layout.health_file).parent), ln.layout.drain_dir):
        Path(d).mkdir(parents=True, exist_ok=True)


def _prepare_tomcat(ln: LabNode) -> None:
    # A run folder kept by `down --keep-logs` is used again: no descriptor or release
    # of an earlier run may stay (the stack may have no application now).
    for stale in (ln.dir / "tomcat" / "conf" / "Catalina", Path(ln.layout.app_dir)):
        shutil.rmtree(stale, ignore_errors=True)
    daemons.tomcat_base(ln.dir / "tomcat", ln.node.service_port)
    # The application (nginx-ha:app): its WAR where the program uploads it, and the
    # program's own stage step run here (verified, unpacked into its release), so
    # Tomcat starts with it as a VM's first activation leaves it.
    part = ln.plan.part("tomcat")
    stage = part.step("app-stage")
    if stage is None:
        return
    for u in part.uploads:
        Path(u.remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(u.local, u.remote)
    netns.run(["bash", "-c", stage.text], timeout=120)
    (ln.dir / "tomcat" / "conf" / "Catalina" / "localhost").mkdir(parents=True, exist_ok=True)


# What each part of a node needs in the lab besides its files (a VM's packages make it).
PREPARE: dict[Part, Callable[[LabNode], None]] = {
    "nginx": _prepare_nginx,
    "keepalived": _prepare_keepalived,
    "tomcat": _prepare_tomcat,
}


def prepare(ln: LabNode) -> None:
    """What the node's parts need besides their files, part by part."""
    for part in ln.node.kind.parts:
        PREPARE[part](ln)
