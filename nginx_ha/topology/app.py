"""The user's application on the backends (nginx-ha:app), as the plan needs it: where
the WAR comes from, its SHA-256 (which names its release on every backend), where
Tomcat serves it and what the gates ask."""

from __future__ import annotations

from dataclasses import dataclass

from nginx_ha.config.app import context_name, health_url_path, war_facts
from nginx_ha.config.models import Settings

# A backend's release folder is named by this many hex digits of the WAR's SHA-256.
RELEASE_DIGITS = 16


@dataclass(frozen=True)
class AppPlan:
    source: str  # the WAR on the operator's machine (uploaded) or the URL fetched
    uploaded: bool
    # What every backend verifies before it unpacks it. None: a local WAR this machine
    # cannot read and no app.sha256 (the offline render elsewhere; the program refuses).
    sha256: str | None
    context: str  # /, /shop
    context_name: str  # Tomcat's: ROOT, shop
    health_path: str  # what the gates ask on a backend: the context's health path
    java_opts: str | None  # None: from the backend's memory (render/app.py)
    version: str | None  # the WAR manifest's, when known here
    gate_timeout: int  # seconds a new release may take to answer healthy
    warmup_paths: tuple[str, ...]  # asked on each backend before it takes requests

    @property
    def release(self) -> str:
        """The release's name on a backend: the start of the WAR's SHA-256."""
        return self.sha256[:RELEASE_DIGITS] if self.sha256 else "unknown"


def app_plan(s: Settings) -> AppPlan | None:
    a = s.app
    if a is None:
        return None
    sha256, version = a.sha256, None
    if a.war is not None:
        try:
            facts = war_facts(a.war)
        except ValueError:
            facts = None  # preflight names it; the offline render goes on without it
        if facts is not None:
            sha256, version = sha256 or facts.sha256, facts.version
    return AppPlan(
        source=a.war or a.url or "",
        uploaded=a.war is not None,
        sha256=sha256,
        context=a.context,
        context_name=context_name(a.context),
        health_path=health_url_path(a.context, a.health_path),
        java_opts=a.java_opts,
        version=version,
        gate_timeout=a.gate_timeout,
        warmup_paths=tuple(health_url_path(a.context, p) for p in a.warmup_paths),
    )
