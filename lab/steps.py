"""The program's own node steps, run by the lab in a load balancer's namespace as a
VM runs them: the VIP hold (hold, don't refuse: render/hold.py) and the LVS real
server (its files in the node's run folder, its unit only written); whether the LVS
mode can run here at all."""

from __future__ import annotations

from pathlib import Path

from lab.nodes import LabNode
from nginx_ha.render import script
from nginx_ha.render.hold import VIP_HOLD_SCRIPT, vip_hold_params
from nginx_ha.render.params import LVS_SCRIPT, lvs_params, param_header, script_text
from nginx_ha.topology import Topology
from support import netns


def vip_hold(lb: LabNode, topo: Topology, action: str) -> str:
    """What the program's vip-hold step does on a VM (render/hold.py), in the load
    balancer's namespace: new connections to the VIPs dropped, not refused, while
    no nginx listens or the watcher finds it hung; ``down`` removes it (so does the
    namespace's end). Not in the tutorial profile, which has no such thing."""
    params = vip_hold_params(topo, action) | {"HOLD_PERSIST": "no"}
    return netns.run(netns.in_ns(lb.ns, "bash", "-c", script_text(script(VIP_HOLD_SCRIPT), params)))


def lvs_unavailable(topo: Topology, keepalived_bin: str) -> str | None:
    """Why the LVS mode cannot run here (None: it can)."""
    if not Path("/proc/net/ip_vs").exists():
        return "this kernel has no IPVS (/proc/net/ip_vs is missing)"
    if not topo.keepalived.ipvs:
        return f"{keepalived_bin} is built without IPVS (LVS)"
    return None


def lvs_realserver(lb: LabNode, topo: Topology) -> None:
    """What the program's -lvs-realserver step does on a VM, in the load balancer's
    namespace with its files in the node's run folder."""
    params = lvs_realserver_params(lb, topo)
    netns.run(netns.in_ns(lb.ns, "bash", "-c", param_header(params) + script(LVS_SCRIPT)))


def lvs_realserver_params(lb: LabNode, topo: Topology) -> dict[str, str]:
    """The program's parameters with the node's files in its run folder (its
    layout), and its unit only written: the host's systemd (a VM's, where the lab
    runs in one) is not the node's, and the lab starts everything itself."""
    return lvs_params(topo, lb.node, lb.layout, "up") | {"SYSTEMD": "no"}
