"""libvirt host rules: hosts and placement, the base image."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Image, LoadBalancer
from nginx_ha.config.rules.base import config_key, each_node, rule


@rule("image", "protect_base_image")
def _protect_rules(s: dict[str, Any]) -> Iterable[Problem]:
    if s["image"].volume and s["protect_base_image"] is not None:
        yield Problem(
            config_key("protectBaseImage"),
            "has no effect: image.volume names an existing volume that the stack clones "
            "but does not manage; remove protectBaseImage (or use image.url)",
        )


@rule("image")
def _image_rules(s: dict[str, Any]) -> Iterable[Problem]:
    img: Image = s["image"]
    if img.url and img.volume:
        yield Problem(
            config_key("image.url"),
            "set either url (download the base image) or volume (clone an existing one), not both",
        )


@rule("hosts", "load_balancers", "backends", "anti_affinity", "network")
def _host_rules(s: dict[str, Any]) -> Iterable[Problem]:
    hosts: dict[str, str] = s["hosts"]
    used = {node.host for _, node in each_node(s)}
    if len(used) > 1 and s["network"].mode == "nat":
        yield Problem(
            config_key("network.mode"),
            "nat networks are private to one libvirt host, so VMs on different hosts "
            "could not reach each other (VRRP, proxying): use mode bridge with a host "
            "bridge on the shared segment, or put every node on one host",
        )
    # Each host's name and URI are checked by their grammars (models.py).
    for path, node in each_node(s):
        if node.host is not None and node.host not in hosts:
            known = ", ".join(sorted(hosts)) or "none defined"
            yield Problem(
                config_key(f"{path}.host"),
                f"'{node.host}' is not a host in nginx-ha:hosts ({known}); add it there "
                "or remove the host to use libvirt:uri",
            )
    lbs: list[LoadBalancer] = [lb for lb in s["load_balancers"] if lb is not None]
    placement = Counter(lb.host for lb in lbs)
    if s["anti_affinity"] and any(n > 1 for n in placement.values()):
        yield Problem(
            config_key("antiAffinity"),
            "is true but load balancers share a host "
            f"({', '.join(lb.name for lb in lbs)}): give each a different `host`",
        )
