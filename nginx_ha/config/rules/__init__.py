"""Cross-key rules, one module per area; importing this package registers them all.

| module | rules |
|---|---|
| ``network`` | subnet, gateway, bridge, node addresses, names and MACs |
| ``vrrp`` | priorities and check weights, advert and check timing, authentication, VIPs and router ids |
| ``keepalived`` | the source (url/path/git and its checksum or commit), version-gated settings, notification |
| ``lvs`` | LVS port and the IPVS build |
| ``hosts`` | libvirt hosts, placement, base image |
| ``nginx`` | balancing with backups, health path, timeouts |
| ``ssh`` | the host key seed |
| ``ports`` | service ports clashing with SSH or with another port of the node, the HTTPS port |
| ``app`` | the application's source (war or url and its sha256) and health path |
| ``tls`` | the certificate's source, PEM, chain, names and key type; trust anchors; ticket keys; HTTPS with LVS |

Collisions with other committed stacks are judged in ``nginx_ha.config.collisions``.
"""

from __future__ import annotations

from nginx_ha.config.rules import (  # noqa: F401 - registers
    app,
    hosts,
    keepalived,
    lvs,
    network,
    nginx,
    ports,
    ssh,
    tls,
    vrrp,
)
from nginx_ha.config.rules.base import Sections, run

__all__ = ["cross_checks"]


def cross_checks(parsed: Sections) -> list:
    """Every cross-key problem of the parsed sections."""
    return run(parsed)
