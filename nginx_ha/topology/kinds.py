"""Node kinds: the one table of what each kind of node is.

Every question "is this node a load balancer?" is a question about what its kind
gets, asked here: the parts it runs (render/plan.py turns each part into the files and
steps a node gets), whether it takes part in VRRP (holds VIPs, is drained before its
change and hands VIPs back after the rollout), whether it is one of nginx's upstream
servers (and may run the smoke test), where it goes in the rollout, what its gate asks
and which units it runs. A new kind of node (an exporter-only node, say) is one more
row: nothing outside this table branches on a node's kind, so it can neither become a
Tomcat upstream nor join VRRP by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The service units, as systemd names them on a VM (status reports them, the
# activation starts them).
KEEPALIVED_UNIT = "keepalived"
NGINX_UNIT = "nginx"
WATCH_UNIT = "nginx-ha-watch"
TOMCAT_UNIT = "tomcat10"

Part = Literal["nginx", "keepalived", "tomcat"]
Gate = Literal["served-by", "marker", "app"]


@dataclass(frozen=True)
class NodeKind:
    name: str  # the settings' word for it: Node.kind.name
    label: str  # its short name in tables and the lab ("lb", "backend")
    settings_key: str  # where its nodes are configured (nginx-ha:<key>)
    parts: tuple[Part, ...]  # what it gets, in staging order (render/plan.py)
    vrrp: bool  # runs keepalived's VRRP: holds VIPs, drained and handed back
    upstream: bool  # a server of nginx's upstream (it serves the site's requests)
    rollout_phase: int  # every node of a lower phase activates first
    # What the activation's gate asks, of GATE_URL: "served-by": this node's nginx
    # answers 200 with X-Served-By naming it and a backend's page; "marker": the page
    # names this node.
    gate: Gate
    gate_timeout: int  # seconds the gate may wait for a good answer
    # The units the node runs, in the order the activation starts them.
    units: tuple[str, ...]

    def runs(self, part: Part) -> bool:
        return part in self.parts


LOAD_BALANCER = NodeKind(
    name="load_balancer",
    label="lb",
    settings_key="loadBalancers",
    parts=("nginx", "keepalived"),
    vrrp=True,
    upstream=False,
    rollout_phase=1,
    gate="served-by",
    # nginx answers within its 1 s timeouts.
    gate_timeout=10,
    units=(NGINX_UNIT, WATCH_UNIT, KEEPALIVED_UNIT),
)
BACKEND = NodeKind(
    name="backend",
    label="backend",
    settings_key="backends",
    parts=("tomcat",),
    vrrp=False,
    upstream=True,
    rollout_phase=0,
    gate="marker",
    # Tomcat may take a while to start (minutes under emulation).
    gate_timeout=180,
    units=(TOMCAT_UNIT,),
)

KINDS: dict[str, NodeKind] = {k.name: k for k in (LOAD_BALANCER, BACKEND)}


def kind_named(name: str) -> NodeKind:
    """The kind of that name (a stack output's ``kind``); KeyError names the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"no node kind {name!r} (known: {', '.join(KINDS)})") from None
