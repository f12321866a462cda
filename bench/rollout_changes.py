"""The rollout bench's changes (bench/rollout.py): each a settings override or an edit of
the rendered files, the lab profile it runs on and what is expected; the HTTPS
material of a test CA of the bench's own; the test application's builds."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.config import lab_ticket_key
from support import certs
from support.war import build_war

ROOT = Path(__file__).resolve().parent.parent


def _backends_on_unused_port(text: str) -> str:
    """Every upstream server of an nginx.conf on port 8099, where nothing listens."""
    import re

    return re.sub(r"(server \S+?):\d+( |;)", r"\1:8099\2", text)


def _page_changed(text: str) -> str:
    return text.replace("</body>", "<p>release 2</p>\n</body>")


@dataclass(frozen=True)
class Change:
    name: str
    what: str
    settings: dict[str, Any] = field(default_factory=dict)  # overrides, as in a stack file
    # An edit of the rendered files the replay uploads (a bad template change).
    edit: tuple[str, Callable[[str], str]] | None = None
    succeeds: bool = True
    # The lab it runs on: a profile and settings of its own (the stack's before the
    # change), as in a stack file.
    profile: str = "ours"
    base: dict[str, Any] = field(default_factory=dict)
    # The request loop: every Nth request a POST (0: GETs only); the key of the page's
    # line that names the backend (default: the node page's marker).
    post_every: int = 0
    marker: str | None = None
    # A safeguard turned off to show what it saves: its losses are expected, and kept
    # out of the benchmark table's sum.
    shows_loss: bool = False


# HTTPS: a test CA of the bench's own, the stack's certificate before and after a
# renewal, and one for another name with the renewed key (support/certs.py).
TLS_NAME = "www.nginx-ha.test"
TEST_CA = certs.TestCa("nginx-ha bench CA")
TLS_BEFORE = TEST_CA.issue([TLS_NAME])
TLS_AFTER = TEST_CA.issue([TLS_NAME])
TLS_WRONG = TEST_CA.issue(["other.nginx-ha.test"], key=TLS_AFTER.private_key)
TLS_BASE = {
    "tls": {
        "serverNames": [TLS_NAME],
        "selfSigned": False,
        "certificate": TLS_BEFORE.certificate,
        "key": TLS_BEFORE.key,
        "ca": TEST_CA.pem,
    }
}
# The user's application (nginx-ha:app): the test application of support/war.py, built
# by the bench into .run/ (main): 1.0.0 serving, 2.0.0 its next build, cold (its page's
# first request takes 3 s more, as a JVM's first requests do, longer than the loop's 2 s
# bound), 3.0.0 a build whose health path answers 500.
WARS = ROOT / ".run" / "bench" / "wars"
APP_WARS = {"1.0.0": (200, 0.0), "2.0.0": (200, 3.0), "3.0.0": (500, 0.0)}


def app_war(version: str) -> str:
    return str(WARS / f"nginx-ha-test-app-{version}.war")


def build_wars() -> None:
    for version, (health, cold) in APP_WARS.items():
        build_war(Path(app_war(version)), version, health=health, cold_start=cold)


def app_settings(version: str) -> dict[str, Any]:
    """nginx-ha:app for that build: a broken build is given up on after 30 s
    (app.gateTimeout; 180 s by default)."""
    return {"app": {"war": app_war(version), "healthPath": "/health", "gateTimeout": 30}}


APP_BASE = app_settings("1.0.0")
TICKET_KEY_NEW = base64.b64encode(hashlib.shake_256(b"bench new ticket key").digest(80)).decode()


CHANGES = {
    c.name: c
    for c in (
        Change("nginx-setting", "nginx.readTimeout 1 s -> 2 s", {"nginx": {"readTimeout": 2}}),
        Change(
            "broken-nginx",
            "nginx.conf that passes nginx -t but cannot serve",
            edit=("-nginx-conf-upload", _backends_on_unused_port),
            succeeds=False,
        ),
        Change(
            "keepalived-unit",
            "keepalived 2.3.3: a new unit, keepalived restarted",
            {
                "keepalived": {
                    "version": "2.3.3",
                    "url": "https://example.invalid/keepalived-2.3.3.tar.gz",
                    "sha256": "0" * 64,
                }
            },
        ),
        Change(
            "health-path",
            "nginx.healthPath: nginx.conf, check script and watcher",
            {"nginx": {"healthPath": "/nginx-ha/alive"}},
        ),
        Change(
            "tomcat-page",
            "every backend's ROOT page",
            edit=("-tomcat-page-upload", _page_changed),
        ),
        Change(
            "app-first",
            "the node page -> the application 1.0.0, GET and POST",
            app_settings("1.0.0"),
            post_every=4,
            marker="node",
        ),
        Change(
            "app-deploy",
            "the application 1.0.0 -> 2.0.0, GET and POST (one backend at a time)",
            app_settings("2.0.0"),
            base=APP_BASE,
            post_every=4,
            marker="node",
        ),
        Change(
            "app-deploy-cold",
            "the same without the warm-up (app.warmupPaths [])",
            {"app": {**app_settings("2.0.0")["app"], "warmupPaths": []}},
            base=APP_BASE,
            post_every=4,
            marker="node",
            shows_loss=True,
        ),
        Change(
            "broken-app",
            "the application 3.0.0, its health path answering 500",
            app_settings("3.0.0"),
            succeeds=False,
            base=APP_BASE,
            post_every=4,
            marker="node",
        ),
        Change(
            "tls-certificate",
            "HTTPS: a renewed certificate and key (same CA)",
            {"tls": {"certificate": TLS_AFTER.certificate, "key": TLS_AFTER.key}},
            profile="https",
            base=TLS_BASE,
        ),
        Change(
            "tls-ticket-keys",
            "HTTPS: a new session ticket key first, the old one kept",
            {"tlsTicketKeys": f"{TICKET_KEY_NEW} {lab_ticket_key()}"},
            profile="https",
            base=TLS_BASE,
        ),
        Change(
            "broken-tls",
            "HTTPS: a certificate for another name (passes nginx -t, not the gate)",
            {"tls": {"key": TLS_AFTER.key}},
            edit=("-tls-certificate-upload", lambda _text: TLS_WRONG.certificate),
            succeeds=False,
            profile="https",
            base=TLS_BASE,
        ),
    )
}
