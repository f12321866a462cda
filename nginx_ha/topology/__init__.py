"""Every decided per-node value (pure): nodes, roles, VRRP instances, MACs, names,
where files live, and the plans the renderers and components read.

| module | what it holds |
|---|---|
| ``naming`` | stack-scoped physical libvirt names, stable MACs |
| ``layout`` | where things live on a node (VM defaults, the lab's own) |
| ``model`` | :class:`Topology` and its plans, :func:`build_topology` |
"""

from nginx_ha.topology.layout import Layout
from nginx_ha.topology.model import (
    NGINX_UPSTREAM,
    AuthKind,
    Node,
    Topology,
    VrrpInstance,
    VrrpPeer,
    build_topology,
    keepalived_bin,
    keepalived_build_bin,
    vm_layout,
    vrrp_instance,
)
from nginx_ha.topology.naming import assign_macs, derive_mac

__all__ = [
    "NGINX_UPSTREAM",
    "AuthKind",
    "Layout",
    "Node",
    "Topology",
    "VrrpInstance",
    "VrrpPeer",
    "assign_macs",
    "build_topology",
    "derive_mac",
    "keepalived_bin",
    "keepalived_build_bin",
    "vm_layout",
    "vrrp_instance",
]
