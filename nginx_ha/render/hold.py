"""Hold, don't refuse (docs/keepalived.md): the names the VIP hold's rule set and the
health watcher share, and the hold script's parameters for a load balancer.

New TCP connections to a VIP's port are dropped (not reset) while no nginx listens
there, and while the watcher finds nginx hung (it fills the table's set ``hung``):
``templates/scripts/vip_hold.sh`` installs the rule set, staged and run by a node's
activation like the firewall's rule sets (and by the lab in each load balancer's
namespace).
"""

from __future__ import annotations

from nginx_ha.topology import Topology

VIP_HOLD_SCRIPT = "vip_hold.sh"
HOLD_TABLE = "nginx_ha_hold"  # nftables: table ip nginx_ha_hold (its set `hung`)
HOLD_CHAIN = "NGINX-HA-HOLD"  # iptables (no nft): the chain
HOLD_HUNG_COMMENT = "nginx-ha-hung"  # ... and the comment of its hung rule


def hold_vips(topo: Topology) -> list[str]:
    return [str(i.vip) for i in topo.instances]


def hold_ports(topo: Topology) -> list[int]:
    """The VIPs' ports nginx serves: its own, and the TLS port (nginx-ha:tls)."""
    return [topo.nginx.port, *([topo.tls.port] if topo.tls else [])]


def vip_hold_params(topo: Topology, action: str = "up") -> dict[str, str]:
    """vip_hold.sh's parameters: every VIP (a load balancer may hold any of them) and
    nginx's ports."""
    return {
        "ACTION": action,
        "HOLD_VIPS": " ".join(hold_vips(topo)),
        "HOLD_PORTS": " ".join(str(p) for p in hold_ports(topo)),
        "HOLD_TABLE": HOLD_TABLE,
        "HOLD_CHAIN": HOLD_CHAIN,
        "HUNG_COMMENT": HOLD_HUNG_COMMENT,
    }
