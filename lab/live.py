"""The lab's live view: the same table as ``python -m nginx_ha status`` on a deployed
stack (nginx_ha/view/status.py), from the nodes' own files instead of SSH.

Per load balancer: keepalived's state per VRRP instance and its transitions (written
by the rendered vrrp_state.sh into the node's ``vrrp_state_dir``), the health
watcher's verdict file, the VIPs on its interface; per node, whether each daemon a VM
would run as a unit is running in its namespace (stopped: ``inactive``; SIGSTOPped:
``stopped``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from lab import network
from lab.files import TEMPLATES
from lab.nodes import LabNode
from nginx_ha.render.params import script_text
from nginx_ha.topology import Topology
from nginx_ha.topology.kinds import KEEPALIVED_UNIT, NGINX_UNIT, TOMCAT_UNIT, WATCH_UNIT
from nginx_ha.view import status as view
from support import netns


class Lab(Protocol):
    """What the live view needs of a lab (lab.lab.Lab is one, through lab/status_text.py)."""

    stack: str
    keepalived_version: tuple[int, ...]

    @property
    def topo(self) -> Topology: ...
    @property
    def nodes(self) -> Mapping[str, LabNode]: ...
    @property
    def vips(self) -> list[str]: ...
    def port_up(self, ln: LabNode) -> bool: ...


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


def _keepalived_pid(ln: LabNode, name: str) -> Path:
    return Path(ln.layout.keepalived_conf).parent / name


# How the lab tells each unit's state: its pid file in the node's run folder, or its
# process (Tomcat runs as java).
UNIT_STATES: dict[str, Callable[[LabNode], str]] = {
    KEEPALIVED_UNIT: lambda ln: _pid_state(_keepalived_pid(ln, "keepalived.pid"), ln.ns),
    NGINX_UNIT: lambda ln: _pid_state(Path(ln.layout.nginx_pid), ln.ns),
    WATCH_UNIT: lambda ln: _pid_state(_keepalived_pid(ln, "nginx-watch.pid"), ln.ns),
    TOMCAT_UNIT: lambda ln: _comm_state(ln, ("java",)),
}


def node_report(lab: Lab, ln: LabNode) -> view.NodeReport:
    n = ln.node
    report = view.NodeReport(n.name, n.role, str(n.ip), n.kind.vrrp, now=time.time())
    if not lab.port_up(ln):
        report.error = "cut off (its switch port is down)"
    prefix = lab.topo.prefix_len
    report.addresses = [(network.IFACE, f"{n.ip}/{prefix}")] + [
        (network.IFACE, f"{vip}/{prefix}")
        for vip in lab.vips
        if n.kind.vrrp and network.holds(ln.ns, vip)
    ]
    report.units = {unit: UNIT_STATES[unit](ln) for unit in n.kind.units}
    if n.kind.vrrp:
        lay = ln.layout
        report.vrrp = view.parse_vrrp_all(_read(Path(lay.vrrp_state_dir) / "all"))
        report.transitions = view.parse_transitions(
            _read(Path(lay.vrrp_state_dir) / "transitions"), n.name
        )
        report.health = view.parse_health(_read(lay.health_file))
        report.keepalived = f"v{'.'.join(map(str, lab.keepalived_version))}"
    tls = lab.topo.tls
    if tls is not None and n.kind.runs("nginx") and lab.port_up(ln):
        report.tls = True
        report.certificate = served_certificate(ln, tls.port, tls.gate_names[0])
    return report


def served_certificate_script(port: int, name: str) -> str:
    """lab/templates/served_certificate.sh with its parameters."""
    params = {"TLS_PORT": str(port), "TLS_NAME": name}
    return script_text(TEMPLATES.file("served_certificate.sh"), params)


def served_certificate(ln: LabNode, port: int, name: str) -> view.ServedCertificate | None:
    """What the node's nginx serves for ``name`` (asked in its namespace, as `status`
    asks a VM's)."""
    text = served_certificate_script(port, name)
    res = subprocess.run(
        netns.in_ns(ln.ns, "bash", "-c", text), capture_output=True, text=True, timeout=15
    )
    return view.parse_certificate(res.stdout)


def live_status(lab: Lab) -> view.StackStatus:
    vips = [{"vip": str(i.vip), "vrid": i.vrid, "master": i.master} for i in lab.topo.instances]
    reports = [node_report(lab, ln) for ln in lab.nodes.values()]
    # The god's view: a cut-off node still has its files and addresses here.
    for r in reports:
        r_error, r.error = r.error, ""
        if r_error:
            r.role = f"{r.role} [{r_error}]"
    return view.build_status(lab.stack, vips, reports)
