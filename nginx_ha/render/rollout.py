"""How a node's activation applies what its stage phase validated (pure).

A change to a node has two phases (docs/operations.md, "Changing a serving stack"):

- **stage**, on every node at once: each file of the node's plan is uploaded, validated
  with the real tool and kept in its release folder (``Layout.release_dir/<digest>/``;
  render/artefacts.py ``stage_params``); builds go to a folder of their own. Nothing
  the node runs changes.
- **activate**, one node at a time in ``Topology.rollout`` order, each after the previous
  node's gate: ``templates/scripts/activate.sh`` swaps in what the manifest lists,
  reloads or restarts what it touches, and checks the node end to end; a node that
  takes part in VRRP and holds a VIP hands it to its peer first; a failed gate rolls
  the node back.

This module decides the manifest and the activation's and handback's parameters; the
node's kind (topology/kinds.py) says what its gate asks and which units it runs, so
the script is told what to do, never which kind of node it is on.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from nginx_ha.render.artefacts import Item, PartPlan
from nginx_ha.render.hold import hold_ports
from nginx_ha.render.params import param_header
from nginx_ha.render.templates import script
from nginx_ha.topology import Layout, Node, Topology
from nginx_ha.topology.naming import PAGE_MARKER_KEY

# Seconds VRRP may take to settle (and a drain to hand over).
SETTLE_TIMEOUT = 20


def manifest(parts: Sequence[PartPlan], layout: Layout) -> list[Item]:
    """What the node's activation applies, in order: the binaries on PATH, the
    secrets, then every part's files in the part's order."""
    return [
        *(item for p in parts for item in p.links),
        *(s.item() for p in parts for s in p.secrets),
        *(a.item(layout) for p in parts for a in p.artefacts),
    ]


def manifest_text(items: Sequence[Item]) -> str:
    return "".join(item.line() + "\n" for item in items)


def gate_path(topo: Topology) -> str:
    """What a ``served-by`` gate asks through nginx: the node page at /, or with
    nginx-ha:app the application's health path."""
    return topo.app.health_path if topo.app is not None else "/"


def gate_url(topo: Topology, node: Node) -> str:
    """What the gate asks: a ``served-by`` node's own nginx at its address, a
    ``marker`` node's own page on loopback (the tomcat part asks the application's
    health instead, render/app.py)."""
    if node.kind.gate == "served-by":
        return f"http://{node.ip}{topo.nginx.port_suffix}{gate_path(topo)}"
    return f"http://127.0.0.1:{node.service_port}/"


def activation_params(
    topo: Topology, node: Node, layout: Layout, parts: Sequence[PartPlan]
) -> dict[str, str]:
    """activate.sh's parameters for ``node``: the manifest, what its gate asks, the
    units it runs, its parts' restart commands, and the VRRP state it must settle in
    (nodes that take part in VRRP)."""
    kind = node.kind
    params = {
        "NODE": node.name,
        "VRRP": "yes" if kind.vrrp else "no",
        "UNITS": " ".join(kind.units),
        "MANIFEST": manifest_text(manifest(parts, layout)),
        "APPLIED_DIR": posixpath.join(posixpath.dirname(layout.release_dir), "applied"),
        "SETTLE_TIMEOUT": str(SETTLE_TIMEOUT),
        "GATE": kind.gate,
        "GATE_TIMEOUT": str(kind.gate_timeout),
        "GATE_URL": gate_url(topo, node),
        "MARKER_KEY": PAGE_MARKER_KEY,
        "GATE_PATH": gate_path(topo),
        # The answer through nginx is a node page (its marker line names the backend),
        # or the application's, which only X-Upstream names.
        "GATE_MARKER": "no" if topo.app is not None else "yes",
    }
    if kind.gate == "marker":
        params["EXPECT_MARKER"] = node.page_marker
    for part in parts:
        params |= part.activation
    if kind.vrrp:
        params |= vrrp_params(topo, node, layout)
    return params


def vrrp_params(topo: Topology, node: Node, layout: Layout) -> dict[str, str]:
    """vrrp_lib.sh's parameters: the instances, the peers' state, the flags."""
    peers = [lb for lb in topo.load_balancers if lb.name != node.name]
    return {
        "NODE": node.name,
        "IFACE": layout.interface,
        # Each VRRP instance, its VIP, and the state the stack wants this node in once
        # settled: with preemption the node meant to hold a VIP gets it back.
        "INSTANCES": " ".join(
            f"{i.name}={i.vip}={wanted_state(topo, node, i.master)}" for i in topo.instances
        ),
        "PEERS": " ".join(f"{p.name}={topo.nginx.state_url(p.ip)}" for p in peers),
        "STATE_DIR": layout.vrrp_state_dir,
        "DRAIN_DIR": layout.drain_dir,
        "PORT": " ".join(str(p) for p in hold_ports(topo)),
        "SETTLE_TIMEOUT": str(SETTLE_TIMEOUT),
    }


def wanted_state(topo: Topology, node: Node, master: str) -> str:
    """MASTER or BACKUP where preemption decides it, ANY where it does not (without
    preemption whoever holds a VIP keeps it)."""
    if not topo.vrrp.preempt:
        return "ANY"
    return "MASTER" if master == node.name else "BACKUP"


def activation_body() -> str:
    """The activation's scripts, in the order it runs them: the VRRP state and flags,
    a backend's drain and gates, then activate.sh (its parameters go above)."""
    return script("vrrp_lib.sh") + script("backend_lib.sh") + script("activate.sh")


def activation_script(topo: Topology, node: Node, layout: Layout, parts: Sequence[PartPlan]) -> str:
    """The whole activation (parameters and scripts), as the node runs it."""
    return param_header(activation_params(topo, node, layout, parts)) + activation_body()


def handback_script(topo: Topology, node: Node, layout: Layout) -> str | None:
    """A VRRP node's handback (parameters and scripts), as it runs it; None for a node
    that holds no VIP."""
    if not node.kind.vrrp:
        return None
    return (
        param_header(vrrp_params(topo, node, layout))
        + script("vrrp_lib.sh")
        + script("handback.sh")
    )
