"""Port rules: no service port on SSH's, none on another port the same node uses, and
the HTTPS port (tls.port) apart from nginx's plain one and from Tomcat's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Lvs, Nginx, Tls
from nginx_ha.config.rules.base import config_key, each_node, rule

SSH_PORT = 22  # every remote step and the operator come in on it; the firewall opens it
# Tomcat's shutdown port on the RHEL family (server.xml <Server port="8005">; Debian's
# package sets -1): an HTTP connector there makes Tomcat fail to start.
TOMCAT_SHUTDOWN_PORT = 8005


def _ssh_clash(port: int, what: str) -> str:
    return (
        f"{port} is the SSH port: {what} would listen on it, and its firewall rule would "
        "restrict or replace what reaches SSH, cutting off the remote steps and the "
        "operator; pick another port"
    )


@rule("nginx", "lvs")
def _lb_ports(s: dict[str, Any]) -> Iterable[Problem]:
    nginx: Nginx = s["nginx"]
    lvs: Lvs = s["lvs"]
    if nginx.port == SSH_PORT:
        yield Problem(config_key("nginx.port"), _ssh_clash(nginx.port, "nginx"))
    if lvs.port == SSH_PORT:
        yield Problem(config_key("lvs.port"), _ssh_clash(lvs.port, "the LVS virtual service"))


@rule("backends")
def _backend_ports(s: dict[str, Any]) -> Iterable[Problem]:
    for path, node in each_node({"backends": s["backends"]}):
        port = getattr(node, "port", None)
        if port == SSH_PORT:
            yield Problem(config_key(f"{path}.port"), _ssh_clash(port, "Tomcat"))
        elif port == TOMCAT_SHUTDOWN_PORT:
            yield Problem(
                config_key(f"{path}.port"),
                f"{port} is Tomcat's own shutdown port (server.xml <Server port>); the "
                "HTTP connector cannot share it: use 8080 or another free port",
            )


@rule("tls", "nginx", "backends")
def _tls_port(s: dict[str, Any]) -> Iterable[Problem]:
    tls: Tls | None = s["tls"]
    nginx: Nginx = s["nginx"]
    if tls is None:
        return
    key = config_key("tls.port")
    if tls.port == SSH_PORT:
        yield Problem(key, _ssh_clash(tls.port, "nginx's HTTPS server"))
    elif tls.port == nginx.port:
        yield Problem(
            key,
            f"{tls.port} is nginx.port too, where nginx serves plain HTTP (the redirect "
            "to HTTPS, the health and VRRP-state locations): one port cannot be both; "
            "give HTTPS its own (443, the default)",
        )
    for path, node in each_node({"backends": s["backends"]}):
        if getattr(node, "port", None) == tls.port:
            yield Problem(
                key,
                f"{tls.port} is Tomcat's port on nginx-ha:{path}: the load balancers' HTTPS "
                "and the backends' plain HTTP behind them on one port number make every "
                "firewall rule, check and request to it ambiguous; pick another port "
                "for one of them",
            )
            break
