"""VRRP rules: priorities and check weights, advert and check timing, authentication, VIPs and their virtual router ids."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from nginx_ha.config.capabilities import since, supports
from nginx_ha.config.errors import Problem
from nginx_ha.config.grammar import CONTROL_RE
from nginx_ha.config.models import Keepalived, LoadBalancer, Network, VipSpec, Vrrp, vip_specs
from nginx_ha.config.pins import NS
from nginx_ha.config.rules.base import config_key, each_node, rule

# A pseudo-section: the VRRP secret comes as a Pulumi Input (NginxHaStackArgs), not in
# the settings; it counts as set, and its value is checked when it is known.
SECRET_AS_INPUT = "vrrp_auth_pass_input"  # noqa: S105 - a section name


@rule("load_balancers", "vrrp")
def _priority_rules(s: dict[str, Any]) -> Iterable[Problem]:
    lbs: list[LoadBalancer] = [lb for lb in s["load_balancers"] if lb is not None]
    vrrp: Vrrp = s["vrrp"]
    counts = Counter(lb.priority for lb in lbs)
    for i, lb in enumerate(s["load_balancers"]):
        if lb is not None and counts[lb.priority] > 1:
            yield Problem(
                config_key(f"loadBalancers[{i}].priority"),
                f"{lb.priority} is shared with another load balancer; equal priorities "
                "leave the election to address order; give each a distinct priority "
                "(the highest is the MASTER)",
            )
    # The gap needs two priorities (a bad load balancer reports its own problem).
    if len(lbs) >= 2 and len(counts) == len(lbs) and vrrp.check.weight != 0 and vrrp.preempt:
        ordered = sorted((lb.priority for lb in lbs), reverse=True)
        gap = ordered[0] - ordered[1]
        if gap >= abs(vrrp.check.weight):
            yield Problem(
                config_key("vrrp.check.weight"),
                f"a failed check lowers the MASTER by {abs(vrrp.check.weight)}, which "
                f"does not bring it below the next priority ({ordered[0]} vs "
                f"{ordered[1]}); use a weight larger than the gap {gap}, or weight 0 "
                "(FAULT on failure)",
            )
    if vrrp.check.weight < 0 and not vrrp.preempt:
        yield Problem(
            config_key("vrrp.check.weight"),
            "with preempt false a lowered priority never hands the VIP over (nopreempt "
            "ignores priorities); use weight 0 so a failed check enters FAULT",
        )


@rule("vrrp")
def _vrrp_rules(s: dict[str, Any]) -> Iterable[Problem]:
    vrrp: Vrrp = s["vrrp"]
    if vrrp.version == 2 and vrrp.advert_interval != vrrp.advert_interval.to_integral_value():
        yield Problem(
            config_key("vrrp.advertInterval"),
            f"{vrrp.advert_interval} s is fractional; VRRPv2 adverts are whole seconds "
            "(keepalived rounds them); use an integer, or vrrp.version 3 for "
            "sub-second adverts",
        )
    if (
        vrrp.version == 3
        and vrrp.advert_interval * 100 != (vrrp.advert_interval * 100).to_integral_value()
    ):
        yield Problem(
            config_key("vrrp.advertInterval"),
            "VRRPv3 adverts are in centiseconds; use at most two decimals",
        )
    if vrrp.version == 3 and vrrp.advert_interval > 40:
        yield Problem(config_key("vrrp.advertInterval"), "VRRPv3 allows at most 40.95 s")
    if vrrp.check.timeout > vrrp.check.interval:
        yield Problem(
            config_key("vrrp.check.timeout"),
            "must not exceed vrrp.check.interval (keepalived would start the next "
            "check while one still runs)",
        )
    if vrrp.check.watch_interval > vrrp.check.interval:
        yield Problem(
            config_key("vrrp.check.watchInterval"),
            "must not exceed vrrp.check.interval (the watcher is the fast path; the "
            "check script is the slow safety net)",
        )


@rule("vrrp", "keepalived")
def _auth_rules(s: dict[str, Any]) -> Iterable[Problem]:
    vrrp: Vrrp = s["vrrp"]
    ka: Keepalived = s["keepalived"]
    secret: SecretStr | None = s.get("vrrp_auth_pass")
    if "vrrp_auth_pass" not in s:  # the secret itself failed to parse
        return
    given = secret is not None or bool(s.get(SECRET_AS_INPUT))
    has_hmac = supports(ka.version_tuple, "auth_hmac")
    if vrrp.version == 2:
        if not given and not vrrp.allow_unauthenticated:
            yield Problem(
                config_key("vrrpAuthPass"),
                "VRRPv2 adverts are authenticated with a PASS of at most 8 characters: "
                "set it on standard input with `openssl rand -hex 4 | pulumi config set "
                "--secret vrrpAuthPass` (or allow unauthenticated adverts with "
                "vrrp.allowUnauthenticated true)",
            )
        elif secret is not None and not re.fullmatch(r"[!#-\[\]-z|~]*", secret.get_secret_value()):
            yield Problem(
                config_key("vrrpAuthPass"),
                "a VRRPv2 PASS goes into keepalived's config syntax: use printable ASCII "
                "without spaces, quotes, backslashes or braces (letters, digits and "
                "punctuation such as !#$%&*+-./:;<=>?@_)",
            )
        elif secret is not None and not 1 <= len(secret.get_secret_value()) <= 8:
            yield Problem(
                config_key("vrrpAuthPass"),
                f"has {len(secret.get_secret_value())} characters; VRRPv2 PASS "
                "authentication uses only the first 8, so a longer one gives a false "
                "sense of strength: use 1 to 8 characters",
            )
    else:
        if not has_hmac and not vrrp.allow_unauthenticated:
            yield Problem(
                config_key("vrrp.version"),
                f"VRRPv3 carries no authentication and keepalived {ka.version} "
                f"(nginx-ha:keepalived.version) has no auth_hmac (needs {since('auth_hmac')} or "
                f"newer): deploy keepalived {since('auth_hmac')}+, use vrrp.version 2 with a PASS, or "
                "set vrrp.allowUnauthenticated true",
            )
        elif has_hmac and not given and not vrrp.allow_unauthenticated:
            yield Problem(
                config_key("vrrpAuthPass"),
                "VRRPv3 adverts are authenticated with keepalived's auth_hmac: set a "
                "32 to 64 character key on standard input with `openssl rand -hex 16 | "
                "pulumi config set --secret vrrpAuthPass` (or set "
                "vrrp.allowUnauthenticated true)",
            )
        elif has_hmac and secret is not None and CONTROL_RE.search(secret.get_secret_value()):
            yield Problem(
                config_key("vrrpAuthPass"),
                "holds a control character (a newline?); an auth_hmac key is one line of "
                "printable text: `openssl rand -hex 16` makes one",
            )
        elif (
            has_hmac
            and secret is not None
            and not 32 <= len(secret.get_secret_value().encode()) <= 64
        ):
            yield Problem(
                config_key("vrrpAuthPass"),
                f"is {len(secret.get_secret_value().encode())} bytes; an auth_hmac "
                "key must be 32 to 64 bytes: `openssl rand -hex 16` makes one",
            )


# Oldest keepalived that reads vrrp_script interval/timeout in fractions of a second
# (upstream commit 6f9ace3c, "allow specifying interval and timeout to milli-second


@rule("vip", "vips")
def _vip_or_vips_rules(s: dict[str, Any]) -> Iterable[Problem]:
    if s["vip"] is None and s["vips"] is None:
        yield Problem(
            config_key("vip"),
            "required: set the VIP clients use with `pulumi config set vip ADDRESS`, or "
            "several active-active VIPs with `pulumi config set --path 'vips[0]' ADDRESS` "
            "(nginx-ha:vips)",
        )
    elif s["vip"] is not None and s["vips"] is not None:
        yield Problem(
            config_key("vips"),
            "is set together with nginx-ha:vip; vip is the shorthand for one VIP: list "
            "every VIP in vips and remove vip (`pulumi config rm vip`), or remove vips",
        )
    elif s["vips"] is not None and not s["vips"]:
        yield Problem(config_key("vips"), "is empty: list at least one VIP (or use nginx-ha:vip)")


@rule("vips", "vrrp", "network", "load_balancers", "backends")
def _vips_rules(s: dict[str, Any]) -> Iterable[Problem]:
    vips: list[VipSpec] | None = s["vips"]
    if not vips:
        return
    net: Network = s["network"]
    special = {
        net.cidr.network_address: "the network address",
        net.cidr.broadcast_address: "the broadcast address",
        net.gateway_ip: "the gateway",
    }
    nodes = {node.ip: f"{NS}:{path}" for path, node in reversed(each_node(s))}
    addresses: dict[ipaddress.IPv4Address, str] = {}
    vrids: dict[int, str] = {}
    for i, ((address, vrid), spec) in enumerate(
        zip(vip_specs(None, vips, s["vrrp"]), vips, strict=True)
    ):
        key = config_key(f"vips[{i}]")
        if address not in net.cidr:
            yield Problem(
                f"{key}.address",
                f"{address} is outside the network {net.cidr}; every VIP must sit in the "
                "same subnet as the load balancers",
            )
        elif address in special:
            yield Problem(
                f"{key}.address",
                f"{address} is {special[address]} of {net.cidr}; pick a free host address",
            )
        if address in nodes:
            yield Problem(
                f"{key}.address",
                f"{address} is the address of {nodes[address]}; a VIP must be an address "
                "no node uses",
            )
        if address in addresses:
            yield Problem(
                f"{key}.address",
                f"{address} is already {addresses[address]}; list each VIP once",
            )
        else:
            addresses[address] = f"{NS}:vips[{i}]"
        derived = spec.virtual_router_id is None
        if vrid > 255:
            yield Problem(
                f"{key}.virtualRouterId",
                f"derived as vrrp.virtualRouterId + {i} = {vrid}, above 255: give this VIP "
                "its own virtualRouterId (1-255), or lower vrrp.virtualRouterId",
            )
        elif vrid in vrids:
            how = f" (derived: vrrp.virtualRouterId + {i})" if derived else ""
            yield Problem(
                f"{key}.virtualRouterId",
                f"{vrid}{how} is already the virtual router id of {vrids[vrid]}; each VIP "
                "is its own VRRP instance and needs its own id (1-255)",
            )
        else:
            vrids[vrid] = f"{NS}:vips[{i}]"


@rule("vrrp")
def _positive_weight_rule(s: dict[str, Any]) -> Iterable[Problem]:
    """A positive weight inverts failover: the watcher writes 1 for "nginx down" and
    keepalived adds value x weight to the priority (track_file), and a failing
    vrrp_script with a positive weight adds it too, so the node whose nginx died would
    rise above its peer and keep the VIP (reproduced with keepalived 2.2.7)."""
    weight = s["vrrp"].check.weight
    if weight > 0:
        yield Problem(
            config_key("vrrp.check.weight"),
            f"{weight} is positive: the health watcher writes 1 when nginx is down, so a "
            "positive weight would RAISE the priority of the node whose nginx died and "
            "the VIP would never move; use 0 (FAULT at once, the default) or a negative "
            "weight larger than the priority gap",
        )
