"""firewall.sh's firewalld and ufw paths, against stand-in `firewall-cmd` and `ufw`
commands that record what they are asked and keep firewalld's rich rules in a file
(neither frontend is installed here; the nftables and iptables paths run for real in
test_firewall.py). Checks detection, the commands issued, idempotent reruns, and that
new sources replace the old ones. Needs no root: nothing real is changed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nginx_ha.render import script
from nginx_ha.render.params import script_text

FIREWALL_CMD = r"""#!/usr/bin/env bash
echo "$*" >>"$STUB_LOG"
for a in "$@"; do
  case $a in
    --state) echo running ;;
    --list-rich-rules) cat "$STUB_STATE" 2>/dev/null || true ;;
    --add-rich-rule=*)
      r=${a#--add-rich-rule=}
      grep -qxF -- "$r" "$STUB_STATE" 2>/dev/null || echo "$r" >>"$STUB_STATE" ;;
    --remove-rich-rule=*)
      r=${a#--remove-rich-rule=}
      grep -vxF -- "$r" "$STUB_STATE" >"$STUB_STATE.new" || true
      mv "$STUB_STATE.new" "$STUB_STATE" ;;
  esac
done
"""

UFW = r"""#!/usr/bin/env bash
echo "$*" >>"$STUB_LOG"
case "$1 ${2:-}" in
  "status verbose") printf 'Status: active\nDefault: deny (incoming), allow (outgoing)\n' ;;
  "status "*) echo "Status: active" ;;
esac
"""

BEFORE_RULES = """*filter
:ufw-before-input - [0:0]
-A ufw-before-input -i lo -j ACCEPT
# don't delete the 'COMMIT' line or these rules won't be processed
COMMIT
"""


@pytest.fixture
def stubs(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("firewall-cmd", FIREWALL_CMD), ("ufw", UFW)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "before.rules").write_text(BEFORE_RULES)
    return tmp_path


def run(tmp: Path, only: str, **params: str) -> subprocess.CompletedProcess:
    """firewall.sh with only one stand-in frontend on PATH (the other hidden)."""
    path_dir = tmp / f"path-{only}"
    path_dir.mkdir(exist_ok=True)
    link = path_dir / only
    if not link.exists():
        link.symlink_to(tmp / "bin" / only)
    env = {
        **os.environ,
        "PATH": f"{path_dir}:/usr/bin:/bin",  # no /usr/sbin: the real nft/iptables stay out
        "STUB_LOG": str(tmp / f"{only}.log"),
        "STUB_STATE": str(tmp / "rich-rules"),
    }
    return subprocess.run(
        ["bash", "-c", script_text(script("firewall.sh"), params)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def calls(tmp: Path, only: str) -> list[str]:
    log = tmp / f"{only}.log"
    return log.read_text().splitlines() if log.exists() else []


def test_firewalld_rich_rules_follow_the_sources(stubs):
    tomcat = dict(FW_NAME="tomcat", FW_PROTO="tcp", FW_PORT="8080", FW_RESTRICT="yes")
    first = run(stubs, "firewall-cmd", FW_SOURCES="10.0.0.1 10.0.0.2", **tomcat)
    assert first.returncode == 0, first.stderr
    assert "(firewalld)" in first.stdout  # detected without FW_BACKEND
    rule = 'rule family="ipv4" source address="{}" port port="8080" protocol="tcp" accept'
    assert (stubs / "rich-rules").read_text().splitlines() == [
        rule.format("10.0.0.1"),
        rule.format("10.0.0.2"),
    ]
    assert f"-q --permanent --add-rich-rule={rule.format('10.0.0.1')}" in calls(
        stubs, "firewall-cmd"
    )

    again = run(stubs, "firewall-cmd", FW_SOURCES="10.0.0.1 10.0.0.2", **tomcat)
    assert again.returncode == 0, again.stderr
    assert len((stubs / "rich-rules").read_text().splitlines()) == 2

    moved = run(stubs, "firewall-cmd", FW_SOURCES="10.0.0.1 10.0.0.3", **tomcat)
    assert moved.returncode == 0, moved.stderr
    assert (stubs / "rich-rules").read_text().splitlines() == [
        rule.format("10.0.0.1"),
        rule.format("10.0.0.3"),
    ]


def test_firewalld_open_port_and_vrrp(stubs):
    assert run(stubs, "firewall-cmd", FW_NAME="http", FW_PROTO="tcp", FW_PORT="80").returncode == 0
    assert "-q --add-port=80/tcp" in calls(stubs, "firewall-cmd")
    assert "-q --permanent --add-port=80/tcp" in calls(stubs, "firewall-cmd")
    out = run(stubs, "firewall-cmd", FW_NAME="vrrp", FW_PROTO="vrrp", FW_SOURCES="10.0.0.2")
    assert out.returncode == 0, out.stderr
    assert (
        'rule family="ipv4" source address="10.0.0.2" protocol value="vrrp" accept'
        in (stubs / "rich-rules").read_text()
    )


def test_ufw_allows_from_each_source(stubs):
    out = run(
        stubs,
        "ufw",
        FW_NAME="tomcat",
        FW_PROTO="tcp",
        FW_PORT="8080",
        FW_SOURCES="10.0.0.1 10.0.0.2",
        FW_RESTRICT="yes",
    )
    assert out.returncode == 0, out.stderr
    assert "(ufw)" in out.stdout
    issued = calls(stubs, "ufw")
    for src in ("10.0.0.1", "10.0.0.2"):
        assert f"allow proto tcp from {src} to any port 8080 comment nginx-ha tomcat" in issued
    assert "warning" not in out.stderr  # default incoming policy is deny


def test_ufw_vrrp_lines_in_before_rules_are_replaced_not_added(stubs):
    before = stubs / "before.rules"
    vrrp = dict(FW_NAME="vrrp", FW_PROTO="vrrp", UFW_BEFORE_RULES=str(before))
    for _ in range(2):
        out = run(stubs, "ufw", FW_SOURCES="10.0.0.2 10.0.0.3", **vrrp)
        assert out.returncode == 0, out.stderr
    lines = before.read_text().splitlines()
    ours = [line for line in lines if line.endswith("# nginx-ha vrrp")]
    assert ours == [
        "-A ufw-before-input -p 112 -s 10.0.0.2 -j ACCEPT # nginx-ha vrrp",
        "-A ufw-before-input -p 112 -s 10.0.0.3 -j ACCEPT # nginx-ha vrrp",
    ]
    assert lines.index(ours[-1]) < lines.index("COMMIT")  # inside the *filter table
    assert calls(stubs, "ufw").count("reload") == 1  # the second run changed nothing

    out = run(stubs, "ufw", FW_SOURCES="10.0.0.4", **vrrp)
    assert out.returncode == 0, out.stderr
    ours = [line for line in before.read_text().splitlines() if "# nginx-ha vrrp" in line]
    assert ours == ["-A ufw-before-input -p 112 -s 10.0.0.4 -j ACCEPT # nginx-ha vrrp"]
