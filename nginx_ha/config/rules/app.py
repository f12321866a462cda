"""The application's rules: its source (war or url, url pinned by sha256) and a health
path that nginx passes to the backends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nginx_ha.config.app import App, health_url_path
from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Nginx
from nginx_ha.config.rules.base import config_key, rule


@rule("app")
def _app_source(s: dict[str, Any]) -> Iterable[Problem]:
    app: App | None = s["app"]
    if app is None:
        return
    if app.war is None and app.url is None:
        yield Problem(
            config_key("app"),
            "names no WAR: set app.war (a file on this machine, uploaded to every backend) "
            "or app.url with app.sha256 (fetched by every backend)",
        )
    if app.war is not None and app.url is not None:
        yield Problem(
            config_key("app.url"),
            "is set with app.war: give one source, the file to upload (app.war) or the URL "
            "each backend fetches (app.url with app.sha256)",
        )
    if app.url is not None and app.sha256 is None:
        yield Problem(
            config_key("app.sha256"),
            "is required with app.url: every backend checks the fetched WAR against it "
            "before it unpacks it (`sha256sum shop.war` prints it)",
        )


@rule("app", "nginx")
def _app_health(s: dict[str, Any]) -> Iterable[Problem]:
    app: App | None = s["app"]
    nginx: Nginx = s["nginx"]
    if app is None:
        return
    asked = health_url_path(app.context, app.health_path)
    if asked == nginx.health_path or asked.startswith("/nginx-ha/"):
        yield Problem(
            config_key("app.healthPath"),
            f"asks {asked}, which the load balancers' nginx answers itself (nginx.healthPath "
            f"{nginx.health_path}, and /nginx-ha/ is nginx-ha's own): the gate through nginx "
            "would never reach the application; choose another path",
        )
