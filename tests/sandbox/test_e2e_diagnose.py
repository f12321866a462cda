"""After a failed check, the end-to-end run keeps what each load balancer says about its
recent past (sandbox/templates/diagnose.sh) before the stack goes, without QEMU.

The script itself runs here for real (bash, the preamble's strict mode) against a
scratch state directory; the run's part is shown with a stand-in for ``run``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import sandbox.e2e as e2e
import sandbox.e2e_driver as driver
from sandbox import e2e_changes, e2e_report

pytestmark = pytest.mark.pure  # no daemon, no namespace: runs by default (tests/conftest.py)


def test_the_script_reports_every_section_even_where_facts_are_missing(tmp_path: Path):
    state, drain = tmp_path / "vrrp", tmp_path / "drain"
    state.mkdir()
    drain.mkdir()
    (state / "transitions").write_text(
        "1796026284.389 VI_121 FAULT 150\n1796026290.100 VI_121 MASTER 150\n"
    )
    (drain / "VI_121").write_text("1\n")
    (drain / "hold-VI_121").write_text("0\n")
    text = e2e_report.diagnose_script("-1h")
    for key, value in (
        ("STATE_DIR", "/run/nginx-ha/vrrp"),
        ("DRAIN_DIR", "/run/nginx-ha/drain"),
        ("HEALTH_FILE", "/run/nginx-ha/nginx-health"),
    ):
        assert f"{key}={value}\n" in text  # the layout the nodes use
    # The same script, pointed at the scratch directories (no health file at all).
    text = (
        text.replace("STATE_DIR=/run/nginx-ha/vrrp", f"STATE_DIR={state}")
        .replace("DRAIN_DIR=/run/nginx-ha/drain", f"DRAIN_DIR={drain}")
        .replace("HEALTH_FILE=/run/nginx-ha/nginx-health", f"HEALTH_FILE={tmp_path}/none")
    )
    p = subprocess.run(["bash", "-s"], input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert e2e_report._section(out, "transitions").splitlines() == [
        "1796026284.389 VI_121 FAULT 150",
        "1796026290.100 VI_121 MASTER 150",
    ]
    assert e2e_report._section(out, "drain and hold flags").splitlines() == [
        "VI_121 1",
        "hold-VI_121 0",
    ]
    assert e2e_report._section(out, "health file") == "none"
    assert e2e_report._section(out, "vrrp state") == "none"
    for title in ("addresses", "netfilter", "journal: keepalived", "load"):
        assert f"\n== {title}" in out


class Recorder:
    def __init__(self):
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, cmd, *, input=None, check=True, **kw):
        self.calls.append((list(cmd), input))
        ip = cmd[-2].split("@")[1]
        body = f"\n== transitions (EPOCH INSTANCE STATE PRIORITY)\n1 VI_121 FAULT {ip}\n== load\n"
        return subprocess.CompletedProcess(cmd, 0, body, "")


def test_a_failed_check_keeps_each_load_balancers_report(tmp_path, monkeypatch):
    monkeypatch.setattr(driver, "WORK", tmp_path)
    said: list[str] = []
    run = e2e.E2E(out=said.append)
    run.run = Recorder()  # type: ignore[method-assign]
    run.outputs = {
        "nodes": {
            "nginx-master": {"role": "MASTER", "ip": "192.0.2.1"},
            "nginx-backup": {"role": "BACKUP", "ip": "192.0.2.2"},
            "tomcat-primary": {"role": "primary", "ip": "192.0.2.3"},
        }
    }
    run.diagnose()
    asked = [cmd[-2] for cmd, _ in run.run.calls]
    assert asked == ["debian@192.0.2.1", "debian@192.0.2.2"]  # the load balancers only
    for cmd, script in run.run.calls:
        assert cmd[-1] == "sudo bash -s" and script == e2e_report.diagnose_script()
    assert (tmp_path / "diag-nginx-master.txt").read_text().count("VI_121 FAULT 192.0.2.1") == 1
    assert "   nginx-backup transition: 1 VI_121 FAULT 192.0.2.2" in said


def test_a_node_that_cannot_be_asked_is_written_down_not_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(driver, "WORK", tmp_path)

    def broken(cmd, **kw):
        raise RuntimeError("ssh: connect to host 192.0.2.1 port 22: No route to host")

    run = e2e.E2E(out=lambda m: None)
    run.run = broken  # type: ignore[method-assign]
    run.outputs = {"nodes": {"nginx-master": {"role": "MASTER", "ip": "192.0.2.1"}}}
    run.diagnose()
    assert "No route to host" in (tmp_path / "diag-nginx-master.txt").read_text()


# Every step of a run, in _session's order; the fixture below makes each do nothing.
STEPS = (
    "prepare",
    "sandbox_up",
    "bootstrap",
    "check_vip",
    "check_status",
    "check_clones",
    "check_no_changes",
    "check_nginx_change",
    "check_broken_change",
    "check_app_deploy",
    "check_failover",
)


@pytest.fixture
def session(tmp_path, monkeypatch):
    """(run, order, go): a run whose steps do nothing, except that `up` gives it
    outputs, and `up`, `diagnose`, `destroy` and `cleanup` note themselves in ``order``;
    ``go(sandbox_was_up)`` runs it through ``e2e._session`` and returns its exit code."""
    import argparse

    import sandbox.daemons as daemons_mod

    monkeypatch.setattr(driver, "WORK", tmp_path)
    monkeypatch.setattr(daemons_mod, "down", lambda paths, out=print: None)
    order: list[str] = []
    run = e2e.E2E(out=lambda m: None)
    for name in STEPS:
        monkeypatch.setattr(run, name, lambda *a: None)

    def up():
        order.append("up")
        run.outputs = {"nodes": {"nginx-master": {"role": "MASTER", "ip": "192.0.2.1"}}}

    def diagnose():
        order.append("diagnose")
        run.diagnosed = True

    monkeypatch.setattr(run, "up", up)
    monkeypatch.setattr(run, "diagnose", diagnose)
    monkeypatch.setattr(run, "destroy", lambda: order.append("destroy"))
    monkeypatch.setattr(run, "cleanup", lambda: order.append("cleanup"))

    def go(sandbox_was_up: bool) -> int:
        monkeypatch.setattr(daemons_mod, "status", lambda paths: {"up": sandbox_was_up})
        args = argparse.Namespace(checks_only=False, keep=False)
        return e2e._session(run, args, log=lambda m: None)

    return run, order, go


def test_the_run_asks_after_a_failed_check_and_before_the_stack_goes(session, monkeypatch):
    run, order, go = session

    def failing_check():
        run.check("VIP answers through the MASTER", False, "X-Served-By nginx-backup")
        raise RuntimeError("a later step failed")

    monkeypatch.setattr(run, "check_vip", failing_check)
    assert go(sandbox_was_up=True) == 1
    # cleanup once for a sandbox that was up (a previous run's resources), then the
    # report, then the cleanup of this run's stack.
    assert order == ["cleanup", "up", "diagnose", "cleanup"]


def test_a_failed_check_is_reported_at_once_and_only_once(session, monkeypatch):
    run, order, go = session

    def two_failed_checks():
        run.check("a check", False, "failed")
        order.append("next check")
        run.check("another check", False, "failed")

    monkeypatch.setattr(run, "check_vip", two_failed_checks)
    assert go(sandbox_was_up=False) == 1
    # At the first failed check (a later step may restart a node), not again.
    assert order == ["up", "diagnose", "next check", "destroy", "cleanup"]


def test_the_vip_on_lo_is_not_holding_it():
    text = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "1: lo    inet 192.168.159.110/32 scope global lo\\       valid_lft forever\n"
        "2: enp1s0    inet 192.168.159.130/24 brd 192.168.159.255 scope global enp1s0\n"
    )
    vip = "192\\.168\\.159\\.110"
    assert not e2e_changes._holds(text, vip)  # every load balancer has this copy on lo
    held = text + "2: enp1s0    inet 192.168.159.110/24 scope global secondary enp1s0\n"
    assert e2e_changes._holds(held, vip)
    assert not e2e_changes._holds(held, "192\\.168\\.159\\.11")  # a whole address, not a prefix
