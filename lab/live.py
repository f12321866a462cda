"""The lab's live view: the same table as ``python -m nginx_ha status`` on a deployed
stack (nginx_ha/render/status.py), from the nodes' own files instead of SSH.

Per load balancer: keepalived's state per VRRP instance and its transitions (written
by the rendered vrrp_state.sh into the node's ``vrrp_state_dir``), the health
watcher's verdict file, the VIPs on its interface; per node, whether each daemon a VM
would run as a unit is running in its namespace (stopped: ``inactive``; SIGSTOPped:
``stopped``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from lab import network
from nginx_ha.render import status as view
from nginx_ha.topology import Topology
from support import netns


class Lab(Protocol):
    """What the live view needs of lab.lab.Lab (which imports this module)."""

    stack: str
    keepalived_version: tuple[int, ...]

    @property
    def topo(self) -> Topology: ...
    @property
    def nodes(self) -> Mapping[str, Any]: ...
    @property
    def vips(self) -> list[str]: ...
    def port_up(self, ln: Any) -> bool: ...


LabNode = Any  # lab.lab.LabNode: node, ns, layout


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _pid_state(pidfile: Path, ns: str) -> str:
    pid = netns.read_pid(pidfile)
    if pid is None or not netns.pid_in(pid, ns):
        return "inactive"
    return "stopped" if netns.pid_state(pid) == "T" else "active"


def _comm_state(ln: LabNode, names: tuple[str, ...]) -> str:
    states = [st for _, comm, st in netns.processes(ln.ns) if comm in names]
    if not states:
        return "inactive"
    return "stopped" if all(st == "T" for st in states) else "active"


def node_report(lab: Lab, ln: LabNode) -> view.NodeReport:
    n = ln.node
    report = view.NodeReport(n.name, n.role, str(n.ip), n.is_load_balancer, now=time.time())
    if not lab.port_up(ln):
        report.error = "cut off (its switch port is down)"
    prefix = lab.topo.prefix_len
    report.addresses = [(network.IFACE, f"{n.ip}/{prefix}")] + [
        (network.IFACE, f"{vip}/{prefix}")
        for vip in lab.vips
        if n.is_load_balancer and network.holds(ln.ns, vip)
    ]
    if n.is_load_balancer:
        lay = ln.layout
        conf_dir = Path(lay.keepalived_conf).parent
        report.units = {
            "keepalived": _pid_state(conf_dir / "keepalived.pid", ln.ns),
            "nginx": _pid_state(Path(lay.nginx_pid), ln.ns),
            "nginx-ha-watch": _pid_state(conf_dir / "nginx-watch.pid", ln.ns),
        }
        report.vrrp = view.parse_vrrp_all(_read(Path(lay.vrrp_state_dir) / "all"))
        report.transitions = view.parse_transitions(
            _read(Path(lay.vrrp_state_dir) / "transitions"), n.name
        )
        report.health = view.parse_health(_read(lay.health_file))
        report.keepalived = f"v{'.'.join(map(str, lab.keepalived_version))}"
    else:
        report.units = {"tomcat10": _comm_state(ln, ("java",))}
    return report


def live_status(lab: Lab) -> view.StackStatus:
    vips = [{"vip": str(i.vip), "vrid": i.vrid, "master": i.master} for i in lab.topo.instances]
    reports = [node_report(lab, ln) for ln in lab.nodes.values()]
    # The god's view: a cut-off node still has its files and addresses here.
    for r in reports:
        r_error, r.error = r.error, ""
        if r_error:
            r.role = f"{r.role} [{r_error}]"
    return view.build_status(lab.stack, vips, reports)
