"""Every decided per-node value (pure): nodes, their kinds, roles, VRRP instances, MACs,
names, where files live, and the plans the renderers and components read.

| module | what it holds |
|---|---|
| ``kinds`` | the node kinds table: what each kind gets, its rollout phase, its gate |
| ``naming`` | stack-scoped physical libvirt names, stable MACs |
| ``layout`` | where things live on a node (VM defaults, the lab's own) |
| ``plans`` | the per-area plans (keepalived, VRRP, nginx, LVS, network, image, SSH) |
| ``model`` | :class:`Topology`, its nodes and VRRP instances, :func:`build_topology` |
"""

from nginx_ha.topology.kinds import BACKEND, KINDS, LOAD_BALANCER, NodeKind, kind_named
from nginx_ha.topology.layout import Layout
from nginx_ha.topology.model import (
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
from nginx_ha.topology.plans import NGINX_UPSTREAM, AuthKind

__all__ = [
    "BACKEND",
    "KINDS",
    "LOAD_BALANCER",
    "NGINX_UPSTREAM",
    "AuthKind",
    "Layout",
    "Node",
    "NodeKind",
    "Topology",
    "VrrpInstance",
    "VrrpPeer",
    "assign_macs",
    "build_topology",
    "derive_mac",
    "keepalived_bin",
    "keepalived_build_bin",
    "kind_named",
    "vm_layout",
    "vrrp_instance",
]
