"""Legal but risky choices, for the operator to see in preview (``pulumi.log.warn``)."""

from __future__ import annotations

from collections import Counter

from nginx_ha.config.models import Settings


def settings_warnings(settings: Settings) -> list[str]:
    """Legal but risky choices, for the operator to see in preview."""
    out = []
    placement = Counter(lb.host for lb in settings.load_balancers)
    if len(settings.load_balancers) > 1 and any(n > 1 for n in placement.values()):
        out.append(
            "load balancers share a libvirt host: a host failure takes the VIP down; "
            "set a different `host` per load balancer (nginx-ha:antiAffinity true "
            "turns this into an error)"
        )
    if settings.vrrp.allow_unauthenticated:
        out.append("VRRP adverts are unauthenticated (vrrp.allowUnauthenticated true)")
    return out
