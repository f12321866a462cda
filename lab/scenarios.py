"""Failover scenarios: each injects one fault and observes through the VIP (a run:
lab/failover.py; what it saw: lab/observation.py). Here, what each injects, how it is
undone and who should answer after it.

The fault is injected on the node that holds the VIP when the scenario starts
("the MASTER"): with preemption that is the highest priority; with the tutorial's
equal priorities it is whoever won.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.actions import (
    blackhole_rule,
    blackholed,
    keepalived_pid,
    saved_conf,
    set_port,
    signal_nginx,
    tomcat_pid,
)
from lab.baseline import heal
from lab.errors import LabError
from lab.lab import Lab
from lab.nodes import LabNode
from support import netns

INTERVAL = 0.02  # one request every 20 ms
MAX_WINDOW = 20.0  # at most 20 s of requests per scenario
REQUEST_TIMEOUT = 2.0  # a request without an answer after 2 s counts as failed


@dataclass(frozen=True)
class Context:
    lab: Lab
    holder: LabNode  # the load balancer holding the VIP before the fault

    @property
    def other(self) -> LabNode:
        return next(n for n in self.lab.lbs if n is not self.holder)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    inject: Callable[[Context], None]
    restore: Callable[[Context], None]
    # Who should answer once the fault is handled: "holder", "other", or None (any),
    # and which Tomcat ("primary", "backup").
    expect_lb: Callable[[Context], str | None]
    expect_backend: str = "primary"
    setup: Callable[[Context], None] | None = None  # a pre-state (the fault to recover)
    settle: float = 1.0  # seconds of steady answers from the expected node
    window: Callable[[Lab], float] = lambda lab: MAX_WINDOW


def _kill_nginx(c: Context) -> None:
    signal_nginx(c.lab, c.holder, signal.SIGKILL)


def _break_and_kill_nginx(c: Context) -> None:
    conf = Path(c.holder.layout.nginx_conf)
    saved = saved_conf(c.holder)
    if not saved.exists():
        saved.write_text(conf.read_text())
    # A config nginx refuses: the health check's restart fails, as with a broken
    # deploy or a full disk.
    conf.write_text(conf.read_text() + "\nthis_is_not_an_nginx_directive;\n")
    signal_nginx(c.lab, c.holder, signal.SIGKILL)


def _hang_nginx(c: Context) -> None:
    signal_nginx(c.lab, c.holder, signal.SIGSTOP)


def _stop_keepalived(c: Context) -> None:
    pid = keepalived_pid(c.lab, c.holder)
    if pid is None:
        raise LabError(f"keepalived is not running on {c.holder.node.name}")
    netns.signal_in(c.holder.ns, pid, signal.SIGTERM)


def cut(c: Context) -> None:
    """The holder's switch port down (a host death); as a pre-state, the run waits
    for the VIP to move."""
    set_port(c.lab, c.holder, False)


def _uncut(c: Context) -> None:
    set_port(c.lab, c.holder, True)


def _stop_tomcat(c: Context) -> None:
    pid = tomcat_pid(c.lab, c.lab.primary)
    if pid is None:
        raise LabError("the primary Tomcat is not running")
    netns.signal_in(c.lab.primary.ns, pid, signal.SIGTERM)


def _blackhole(c: Context) -> None:
    b = c.lab.primary
    netns.run(netns.in_ns(b.ns, "iptables", "-I", *blackhole_rule(b)))


def _unblackhole(c: Context) -> None:
    b = c.lab.primary
    while blackholed(b):
        netns.run(netns.in_ns(b.ns, "iptables", "-D", *blackhole_rule(b)))


def _heal(c: Context) -> None:
    heal(c.lab)


def _preempt(c: Context) -> str | None:
    if c.lab.cfg.profile.tutorial:
        return None  # equal priorities: whoever keeps it; the table shows who
    return "holder" if c.lab.topo.vrrp.preempt else "other"


def _fail_timeout_window(lab: Lab) -> float:
    return min(MAX_WINDOW, lab.topo.nginx.fail_timeout + 5.0)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "nginx-killed",
            "nginx killed on the MASTER, restart works",
            _kill_nginx,
            _heal,
            lambda c: None,
        ),
        Scenario(
            "nginx-dead",
            "nginx killed on the MASTER, cannot restart",
            _break_and_kill_nginx,
            _heal,
            lambda c: "other",
        ),
        Scenario(
            "nginx-hung",
            "nginx hung on the MASTER (SIGSTOP)",
            _hang_nginx,
            _heal,
            lambda c: "other",
        ),
        Scenario(
            "keepalived-stopped",
            "keepalived stopped cleanly on the MASTER",
            _stop_keepalived,
            _heal,
            lambda c: "other",
        ),
        Scenario(
            "host-cut",
            "MASTER cut off (host death)",
            cut,
            _heal,
            lambda c: "other",
        ),
        Scenario(
            "master-back",
            "MASTER back after a host death",
            _uncut,
            _heal,
            _preempt,
            setup=cut,
            settle=3.0,
        ),
        Scenario(
            "tomcat-stopped",
            "primary Tomcat stopped",
            _stop_tomcat,
            _heal,
            lambda c: "holder",
            expect_backend="backup",
        ),
        Scenario(
            "tomcat-blackholed",
            "primary Tomcat black-holed (packets dropped)",
            _blackhole,
            _heal,
            lambda c: "holder",
            expect_backend="backup",
        ),
        Scenario(
            "primary-back",
            "primary Tomcat back after a black hole",
            _unblackhole,
            _heal,
            lambda c: "holder",
            expect_backend="primary",
            setup=_blackhole,
            window=_fail_timeout_window,
        ),
    ]
}
