"""nginx rules: balancing with backup servers, the health path, timeouts."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic.alias_generators import to_camel

from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Nginx
from nginx_ha.config.rules.base import config_key, rule


@rule("nginx", "backends")
def _nginx_rules(s: dict[str, Any]) -> Iterable[Problem]:
    nginx: Nginx = s["nginx"]
    if nginx.balancing in ("hash", "ip_hash", "random") and any(
        b is not None and b.role == "backup" for b in s["backends"]
    ):
        yield Problem(
            config_key("nginx.balancing"),
            f"{nginx.balancing} cannot be combined with backup servers (nginx rejects "
            "'backup' there); use round_robin or least_conn, or remove the backup backends",
        )
    if nginx.health_path == "/":
        yield Problem(
            config_key("nginx.healthPath"),
            "/ is the site's front page: requests for it would get the local health "
            "answer (or 403) instead of Tomcat; use a path of its own such as "
            "/nginx-ha/health",
        )
    for key in ("connect_timeout", "send_timeout", "read_timeout"):
        value: Decimal = getattr(nginx, key)
        if value * 1000 != (value * 1000).to_integral_value():
            yield Problem(
                config_key(f"nginx.{to_camel(key)}"),
                f"{value} s is finer than nginx's time resolution of 1 ms; use at most "
                "three decimals (0.5 is 500 ms)",
            )
