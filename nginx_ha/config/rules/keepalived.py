"""keepalived rules: settings that need a newer keepalived, the source and its verification, notification."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from nginx_ha.config.capabilities import since, supports
from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Keepalived, Notify, Vrrp
from nginx_ha.config.pins import DEFAULT_KEEPALIVED_VERSION
from nginx_ha.config.rules.base import config_key, rule


@rule("vrrp", "keepalived")
def _check_timing_rules(s: dict[str, Any]) -> Iterable[Problem]:
    vrrp: Vrrp = s["vrrp"]
    ka: Keepalived = s["keepalived"]
    if supports(ka.version_tuple, "fractional_check"):
        return
    for name in ("interval", "timeout"):
        value: Decimal = getattr(vrrp.check, name)
        if value != value.to_integral_value():
            yield Problem(
                config_key(f"vrrp.check.{name}"),
                f"{value} s is fractional, which needs keepalived {since('fractional_check')} or newer; "
                f"nginx-ha:keepalived.version is {ka.version}: use whole seconds (for "
                "example interval 1 and timeout 1) or a newer keepalived",
            )


@rule("keepalived")
def _keepalived_rules(s: dict[str, Any]) -> Iterable[Problem]:
    ka: Keepalived = s["keepalived"]
    if sum(1 for x in (ka.url, ka.path, ka.git) if x) > 1:
        yield Problem(config_key("keepalived.url"), "set one source: url, path or git, not several")
    if ka.git and not ka.commit:
        yield Problem(
            config_key("keepalived.commit"),
            f"a git source is verified by the commit its tag v{ka.version} points to: add "
            "keepalived.commit (40 hex digits, from a clone you trust)",
        )
    if ka.commit and not ka.git:
        yield Problem(
            config_key("keepalived.commit"), "only applies to a git source: set keepalived.git"
        )
    if ka.sha256 and not (ka.url or ka.path):
        yield Problem(
            config_key("keepalived.sha256"),
            "only applies to a url or path source: set one, or remove it",
        )
    if ka.url and not ka.sha256:
        yield Problem(
            config_key("keepalived.sha256"),
            "a download URL needs its SHA-256 so the tarball is verified: add "
            "keepalived.sha256 (sha256sum of the tarball from a trusted source)",
        )
    if ka.path and not ka.sha256:
        yield Problem(
            config_key("keepalived.sha256"),
            "an uploaded tarball is verified too: add keepalived.sha256",
        )
    if not (ka.url or ka.path or ka.git) and ka.version != DEFAULT_KEEPALIVED_VERSION:
        yield Problem(
            config_key("keepalived.url"),
            f"keepalived {ka.version} is not the default release "
            f"({DEFAULT_KEEPALIVED_VERSION}): give its url (or path) and sha256, or "
            "git and commit",
        )


@rule("notify")
def _notify_rules(s: dict[str, Any]) -> Iterable[Problem]:
    n: Notify = s["notify"]
    if n.email_to and not n.smtp_server:
        yield Problem(
            config_key("notify.smtpServer"),
            "e-mail notification needs an SMTP server (host or host:port)",
        )
    if (n.email_from or n.smtp_server) and not n.email_to:
        yield Problem(
            config_key("notify.emailTo"),
            "notify.emailFrom/smtpServer are set but nobody is notified: list the "
            "recipients in notify.emailTo, or remove the other two",
        )
