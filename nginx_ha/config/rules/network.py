"""Network rules: the subnet, gateway and bridge; node addresses; node names and MACs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Network
from nginx_ha.config.pins import NS
from nginx_ha.config.rules.base import complete, config_key, each_node, rule


@rule("network")
def _network_rules(s: dict[str, Any]) -> Iterable[Problem]:
    net: Network = s["network"]
    if net.cidr.prefixlen > 29:
        yield Problem(
            config_key("network.cidr"),
            f"{net.cidr} is too small for two load balancers, a VIP, backends and a "
            "gateway; use a /29 or larger (for example a /24)",
        )
    if net.gateway is not None and net.gateway not in net.cidr:
        yield Problem(
            config_key("network.gateway"),
            f"{net.gateway} is outside {net.cidr}; use an address inside it",
        )
    if net.gateway is not None and net.gateway in (
        net.cidr.network_address,
        net.cidr.broadcast_address,
    ):
        yield Problem(
            config_key("network.gateway"),
            f"{net.gateway} is the network or broadcast address of {net.cidr}; use a host address",
        )
    if net.mode == "bridge" and not net.bridge:
        yield Problem(
            config_key("network.bridge"),
            "bridge mode attaches the VMs to an existing host bridge: name it "
            "(for example br0), or use mode nat",
        )
    if net.mode == "nat" and net.bridge and not re.match(r"^[A-Za-z0-9_.-]{1,15}$", net.bridge):
        yield Problem(
            config_key("network.bridge"), "must be a Linux interface name of at most 15 characters"
        )


@rule("network", "load_balancers", "backends", "vip")
def _address_rules(s: dict[str, Any]) -> Iterable[Problem]:
    net: Network = s["network"]
    special = {
        net.cidr.network_address: "the network address",
        net.cidr.broadcast_address: "the broadcast address",
        net.gateway_ip: "the gateway",
    }
    seen: dict[ipaddress.IPv4Address, str] = {}
    for path, node in each_node(s):
        key = config_key(f"{path}.ip")
        if node.ip not in net.cidr:
            yield Problem(
                key,
                f"{node.ip} is outside the network {net.cidr} (nginx-ha:network.cidr); use an address inside it",
            )
        elif node.ip in special:
            yield Problem(
                key, f"{node.ip} is {special[node.ip]} of {net.cidr}; pick a free host address"
            )
        if node.ip in seen:
            yield Problem(
                key,
                f"{node.ip} is already used by {seen[node.ip]}; every node needs its own address",
            )
        else:
            seen[node.ip] = f"{NS}:{path}"
    vip: ipaddress.IPv4Address | None = s["vip"]
    if vip is None:
        return  # nginx-ha:vips instead: _vips_rules
    if vip not in net.cidr:
        yield Problem(
            config_key("vip"),
            f"{vip} is outside the network {net.cidr}; the VIP must sit in the same subnet as the load balancers",
        )
    elif vip in special:
        yield Problem(
            config_key("vip"), f"{vip} is {special[vip]} of {net.cidr}; pick a free host address"
        )
    if vip in seen:
        yield Problem(
            config_key("vip"),
            f"{vip} is the address of {seen[vip]}; the VIP must be an address no node uses",
        )


@rule("load_balancers", "backends")
def _name_and_mac_rules(s: dict[str, Any]) -> Iterable[Problem]:
    names: dict[str, str] = {}
    macs: dict[str, str] = {}
    for path, node in each_node(s):
        if node.name in names:
            yield Problem(
                config_key(f"{path}.name"),
                f"'{node.name}' is already the name of {names[node.name]}; names must be unique (they become hostnames)",
            )
        else:
            names[node.name] = f"{NS}:{path}"
        if node.mac:
            if node.mac in macs:
                yield Problem(
                    config_key(f"{path}.mac"),
                    f"{node.mac} is already the MAC of {macs[node.mac]}; remove the override to get a generated one",
                )
            else:
                macs[node.mac] = f"{NS}:{path}"
    if complete(s, "backends") and not any(b.role == "primary" for b in s["backends"]):
        yield Problem(
            config_key("backends"),
            "has no backend with role primary; nginx needs at least one primary Tomcat (backups only serve while no primary answers)",
        )
