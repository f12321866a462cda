"""Remote steps of one node run in parallel (e.g. Tomcat's install and its firewall,
nginx's install and keepalived's build): every apt-get that installs or updates must
wait for the dpkg lock instead of failing at once with "Could not get lock
/var/lib/dpkg/lock-frontend" (seen in the first real `pulumi up`, docs/e2e.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPTS = sorted(
    (Path(__file__).resolve().parents[2] / "nginx_ha" / "templates" / "scripts").glob("*.sh")
)
APT_CALL = re.compile(
    r"(?<![\"'])\bapt-get\b(?P<opts>(?:\s+-o\s+\S+)*)\s+(?P<verb>install|update)\b"
)


def apt_calls(text: str) -> list[tuple[str, str]]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [(m.group("verb"), m.group("opts")) for m in APT_CALL.finditer(code)]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_apt_install_and_update_waits_for_the_dpkg_lock(path):
    for verb, opts in apt_calls(path.read_text()):
        assert "DPkg::Lock::Timeout=" in opts, f"{path.name}: apt-get {verb} without a lock timeout"


def test_the_check_sees_a_call_without_the_timeout():
    assert apt_calls("apt-get install -y -q nginx") == [("install", "")]
    assert apt_calls("# apt-get install x\napt-get -o DPkg::Lock::Timeout=1 update -q") == [
        ("update", " -o DPkg::Lock::Timeout=1")
    ]
    assert any(apt_calls(p.read_text()) for p in SCRIPTS)
