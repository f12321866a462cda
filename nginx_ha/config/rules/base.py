"""The registry of cross-key rules and the helpers every rule module shares.

A rule is a function of the parsed sections (``{"vrrp": Vrrp(...), ...}``) that yields
:class:`Problem`s; :func:`rule` registers it with the sections it needs, and it runs only
when every one of them parsed (a section that failed reports its own problems).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Backend, LoadBalancer
from nginx_ha.config.pins import NS

Sections = dict[str, Any]
Check = Callable[[Sections], Iterable[Problem]]
CHECKS: list[tuple[tuple[str, ...], Check]] = []


def rule(*needs: str) -> Callable[[Check], Check]:
    """Register a cross-key rule; it runs only when every section it needs parsed."""

    def deco(fn: Check) -> Check:
        CHECKS.append((needs, fn))
        return fn

    return deco


def run(parsed: Sections) -> list[Problem]:
    out: list[Problem] = []
    for needs, fn in CHECKS:
        if all(n in parsed for n in needs):
            out.extend(fn(parsed))
    return out


def config_key(path: str) -> str:
    """The full config key of a path in our namespace ('vrrp.version' -> 'nginx-ha:vrrp.version')."""
    return f"{NS}:{path}"


def each_node(s: Sections) -> list[tuple[str, LoadBalancer | Backend]]:
    """(key path, node) of every node that parsed, load balancers first."""
    out: list[tuple[str, LoadBalancer | Backend]] = []
    for i, lb in enumerate(s.get("load_balancers") or []):
        if lb is not None:
            out.append((f"loadBalancers[{i}]", lb))
    for i, be in enumerate(s.get("backends") or []):
        if be is not None:
            out.append((f"backends[{i}]", be))
    return out


def complete(s: Sections, *names: str) -> bool:
    """Every item of these node lists parsed (rules about the whole list need it)."""
    return all(None not in s[n] for n in names)
