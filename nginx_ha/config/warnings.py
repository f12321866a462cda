"""Legal but risky choices, for the operator to see in preview (``pulumi.log.warn``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import nginx_ha.config.pem as pem
from nginx_ha.config.lab_stacks import is_lab_stack
from nginx_ha.config.models import Settings

# A certificate this close to its end is a warning (an expired one is an error:
# preflight). 21 days: past the 30 days before expiry at which ACME clients renew
# (certbot's default), so a warning means the renewal has failed for a week or more.
EXPIRY_WARNING = timedelta(days=21)


def tls_warnings(settings: Settings, now: datetime | None = None) -> list[str]:
    """A certificate of the chain that expires within 21 days of ``now`` (default: the
    clock, UTC); a self-signed certificate on a stack that is not a lab."""
    tls = settings.tls
    if tls is None:
        return []
    out = []
    if tls.self_signed and not is_lab_stack(settings.stack):
        out.append(
            f"tls.selfSigned on stack {settings.stack}, which is not a lab stack: clients "
            "will not trust its certificate (only those given the stack's CA, the output "
            "tlsCa); give a certificate from a CA your clients trust (tls.certificate, "
            "tls.key)"
        )
    now = now or datetime.now(UTC)
    try:
        chain = pem.server_chain(tls)
    except pem.PemError:
        return out  # an error of its own (rules/tls.py)
    for n, cert in enumerate(chain, 1):
        left = cert.not_valid_after_utc - now
        if timedelta(0) <= left <= EXPIRY_WARNING:
            days = f"in {left.days} days" if left.days else "within a day"
            out.append(
                f"tls.certificate: certificate {n} ('{pem.subject(cert)}') expires {days} "
                f"({cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC): renew it and set "
                "tls.certificate again before then (an expired one stops `pulumi up`)"
            )
    return out


def settings_warnings(settings: Settings, *, now: datetime | None = None) -> list[str]:
    """Legal but risky choices, for the operator to see in preview; ``now``: the
    moment certificates are judged at (default: the clock, UTC)."""
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
    return out + tls_warnings(settings, now)
