"""The lab's ``status`` as text: who holds each VIP, each load balancer's live VRRP
state per instance (the files vrrp_state.sh writes on every transition) against its
configured one, per node what runs in its namespace, whether its switch port is cut
and whether its watcher holds new connections; then the live view
(lab/live.py), the same table as ``python -m nginx_ha status``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from lab import live
from lab.nodes import LabNode
from nginx_ha.render.hold import HOLD_TABLE
from nginx_ha.topology import Topology, VrrpInstance
from nginx_ha.view.status import format_status
from support import netns


class Shown(live.Lab, Protocol):
    """What the text status needs of a running lab (lab.lab.Lab is one)."""

    profile_name: str
    keepalived_bin: str

    @property
    def vip(self) -> str: ...
    @property
    def lbs(self) -> list[LabNode]: ...
    def vip_holders(self, vip: str | None = None) -> list[str]: ...


def vrrp_states(lb: LabNode, topo: Topology) -> dict[str, tuple[str, float, str]]:
    """The node's live VRRP state per instance, as keepalived last reported it
    (vrrp_state.sh's files: "STATE SINCE PRIORITY"): instance -> (state, since
    (epoch seconds), priority). An instance without a file: not reported yet."""
    out = {}
    for inst in topo.instances:
        try:
            state, since, prio = (
                (Path(lb.layout.vrrp_state_dir) / inst.name).read_text().split()[:3]
            )
            out[inst.name] = (state, float(since), prio)
        except (OSError, ValueError):
            continue
    return out


def held_for_hang(lb: LabNode) -> bool:
    """The watcher holds this node's VIPs (nginx accepts but does not answer)."""
    res = subprocess.run(
        netns.in_ns(lb.ns, "nft", "list", "set", "ip", HOLD_TABLE, "hung"),
        capture_output=True,
        text=True,
    )
    return "elements" in res.stdout


def instance_line(
    inst: VrrpInstance,
    lbs: Sequence[LabNode],
    states: Mapping[str, Mapping[str, tuple[str, float, str]]],
) -> str:
    """One VRRP instance: each load balancer's live state, since when, its priority
    and what it is configured as."""
    parts = []
    for lb in lbs:
        st = states[lb.node.name].get(inst.name)
        peer = inst.peers[lb.node.name]
        conf = f"configured {peer.state.lower()}, priority {peer.priority}"
        if st is None:
            parts.append(f"{lb.node.name} not reported ({conf})")
            continue
        when = time.strftime("%H:%M:%S", time.localtime(st[1]))
        parts.append(
            f"{lb.node.name} {st[0]} since {when}.{int(st[1] % 1 * 1000):03d} "
            f"(priority {st[2]}; {conf})"
        )
    return f"  {inst.name} {inst.vip}: " + "; ".join(parts)


def node_line(ln: LabNode, port_up: bool) -> str:
    """One node: its processes (stopped ones marked), a cut switch port, a hold."""
    procs = netns.processes(ln.ns)
    counts: dict[str, int] = {}
    stopped = set()
    for _, c, st in procs:
        counts[c] = counts.get(c, 0) + 1
        if st == "T":
            stopped.add(c)
    what = ", ".join(
        f"{c} x{k}" + (" (stopped)" if c in stopped else "") for c, k in sorted(counts.items())
    )
    link = "" if port_up else " [cut off: switch port down]"
    if ln.node.kind.vrrp and held_for_hang(ln):
        link += " [hold: new connections to its VIPs dropped, nginx hung]"
    role = ln.node.kind.label if ln.node.kind.vrrp else ln.node.role
    return f"  {ln.node.name:<16} {role:<8} {ln.node.ip!s:<16} {what or 'nothing'}{link}"


def text(lab: Shown) -> str:
    """The whole status of a running lab."""
    lines = [
        f"lab {lab.stack} (profile {lab.profile_name}, keepalived "
        f"{'.'.join(map(str, lab.keepalived_version))} {lab.keepalived_bin}); "
        f"VIP {lab.vip} held by: {', '.join(lab.vip_holders()) or 'nobody'}",
    ]
    for vip in lab.vips[1:]:
        lines.append(f"VIP {vip} held by: {', '.join(lab.vip_holders(vip)) or 'nobody'}")
    lines.append("live VRRP state (keepalived's transitions, recorded on each node):")
    states = {lb.node.name: vrrp_states(lb, lab.topo) for lb in lab.lbs}
    for inst in lab.topo.instances:
        lines.append(instance_line(inst, lab.lbs, states))
    for ln in lab.nodes.values():
        lines.append(node_line(ln, lab.port_up(ln)))
    # The live view, the same as `python -m nginx_ha status` shows a deployed stack.
    return "\n".join(lines) + "\n\n" + format_status(live.live_status(lab))
