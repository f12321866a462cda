"""LVS rules: the virtual service's port, the IPVS build."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Keepalived, Lvs, Nginx
from nginx_ha.config.rules.base import config_key, rule


@rule("lvs", "nginx", "keepalived")
def _lvs_rules(s: dict[str, Any]) -> Iterable[Problem]:
    lvs: Lvs = s["lvs"]
    nginx: Nginx = s["nginx"]
    ka: Keepalived = s["keepalived"]
    if lvs.port is not None and lvs.port != nginx.port:
        yield Problem(
            config_key("lvs.port"),
            f"{lvs.port} differs from nginx.port {nginx.port}: direct routing forwards "
            "packets unchanged (only the MAC is rewritten), so the virtual service and "
            "nginx use one port; set lvs.port to nginx.port or leave it unset",
        )
    if lvs.enabled and ka.ipvs is False:
        yield Problem(
            config_key("keepalived.ipvs"),
            "is false but lvs.enabled is true: keepalived built without IPVS "
            "(--disable-lvs) rejects virtual_server ('Unknown keyword'); remove "
            "keepalived.ipvs (it follows lvs.enabled) or set lvs.enabled false",
        )
