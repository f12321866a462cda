"""Parameters of the scripts a node runs, and the one quoted header that sets them.

A script (``templates/scripts/*.sh``) gets its parameters as shell assignments above
its text, each value quoted with ``shlex.quote``: sshd drops client environment
variables unless AcceptEnv allows them, so neither the program nor the lab passes
them through the environment.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from nginx_ha.render.keepalived import lvs_fwmark
from nginx_ha.render.templates import template_file
from nginx_ha.topology import Node, Topology

LVS_SCRIPT = "lvs_realserver.sh"
LVS_SYSCTL_FILE = "/etc/sysctl.d/90-nginx-ha-lvs.conf"
LVS_NFT_FILE = "/etc/nginx-ha/lvs.nft"
LVS_UNIT_PATH = "/etc/systemd/system/nginx-ha-lvs.service"


def param_header(params: Mapping[str, str | int] | None) -> str:
    """``NAME='value'`` lines, one per parameter, every value quoted."""
    return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in (params or {}).items())


def script_text(text: str, params: Mapping[str, str | int] | None = None) -> str:
    """A script as a node (or the lab, or a test) runs it: the preamble (strict mode,
    templates/scripts/preamble.sh), its parameters, then the script."""
    return template_file("scripts/preamble.sh") + param_header(params) + text


def lvs_params(topo: Topology, node: Node, action: str) -> dict[str, str]:
    """lvs_realserver.sh's parameters (docs/active-active-lvs.md)."""
    return {
        "ACTION": action,
        "LVS_VIPS": " ".join(str(i.vip) for i in topo.instances),
        "LVS_MARKS": " ".join(str(lvs_fwmark(i.vrid)) for i in topo.instances),
        "LVS_PORT": str(topo.lvs.port if topo.lvs else topo.nginx.port),
        "LVS_PEER_MACS": " ".join(lb.mac for lb in topo.load_balancers if lb.name != node.name),
        "SYSCTL_FILE": LVS_SYSCTL_FILE,
        "NFT_FILE": LVS_NFT_FILE,
        "UNIT_PATH": LVS_UNIT_PATH,
    }


def tomcat_sources(topo: Topology) -> list[str]:
    """Who may reach a Tomcat port: every load balancer (by its own address, and every
    VIP in case the kernel picks one as the source), and the node itself."""
    vips = [str(i.vip) for i in topo.instances]
    return [str(lb.ip) for lb in topo.load_balancers] + vips + ["127.0.0.1"]


def firewall_params(kind: str, topo: Topology, node: Node) -> dict[str, str]:
    """firewall.sh's parameters for one rule set of ``node``:

    - ``http``: nginx's port from anywhere;
    - ``vrrp``: VRRP (IP protocol 112) from the other load balancers, dropped from
      anyone else (a forged advert with a higher priority would take the VIP); unicast
      adverts come from the peers' addresses, and so do multicast ones to 224.0.0.18;
    - ``tomcat``: the backend's port from the load balancers only."""
    if kind == "http":
        rule = {"FW_NAME": "http", "FW_PROTO": "tcp", "FW_PORT": str(topo.nginx.port)}
        rule["FW_SOURCES"] = ""
    elif kind == "vrrp":
        peers = topo.peers[node.name].unicast_peers
        rule = {"FW_NAME": "vrrp", "FW_PROTO": "vrrp", "FW_PORT": ""}
        rule["FW_SOURCES"] = " ".join(str(p) for p in peers)
        rule["FW_RESTRICT"] = "yes"
    elif kind == "tomcat":
        rule = {"FW_NAME": "tomcat", "FW_PROTO": "tcp", "FW_PORT": str(node.port or 8080)}
        rule["FW_SOURCES"] = " ".join(tomcat_sources(topo))
        rule["FW_RESTRICT"] = "yes"
    else:
        raise ValueError(f"no firewall rule set {kind!r}")
    return rule


# ------------------------------------------------------------------ SSH's firewall
# Kept apart from the other firewall rules: ssh.allowFrom (default: anywhere).


def ssh_firewall_params(topo: Topology) -> dict[str, str] | None:
    """firewall.sh's parameters for the SSH port: from ``ssh.allowFrom`` (and the node
    itself) only, dropped from everyone else; None when allowFrom is empty (anywhere:
    no rule at all). The machine running Pulumi must be among the sources."""
    if not topo.ssh.allow_from:
        return None
    return {
        "FW_NAME": "ssh",
        "FW_PROTO": "tcp",
        "FW_PORT": "22",
        "FW_SOURCES": " ".join([*topo.ssh.allow_from, "127.0.0.1"]),
        "FW_RESTRICT": "yes",
    }
