"""The normal state a failover scenario starts from: every fault a scenario may leave
undone (``heal``), then both load balancers healthy, one of them holding the VIP, both
Tomcats answering and the checks settled (``baseline``)."""

from __future__ import annotations

import contextlib
import signal
import time

from lab.actions import (
    blackhole_rule,
    blackholed,
    keepalived_pid,
    restart_running,
    saved_conf,
    set_port,
    signal_nginx,
    tomcat_pid,
    wait_for,
)
from lab.client import wait_serving
from lab.errors import LabError
from lab.lab import Lab
from lab.nodes import LabNode
from lab.start import nginx_answers, start_keepalived, start_nginx, start_tomcat, tomcat_answers
from support import netns


def heal(lab: Lab) -> None:
    """Undo every fault a scenario may leave: ports up, nginx config restored and
    running, keepalived running, Tomcats running and reachable."""
    for ln in lab.nodes.values():
        if not lab.port_up(ln):
            set_port(lab, ln, True)
    for lb in lab.lbs:
        saved = saved_conf(lb)
        if saved.exists():
            saved.replace(lb.layout.nginx_conf)
        signal_nginx(lab, lb, signal.SIGCONT)
    health = lab.topo.nginx.health_url
    for lb in lab.lbs:
        # A restart the check started (a hung nginx gets QUIT, up to 5 s, KILL) must
        # finish first, or it takes down the nginx found answering here.
        wait_for(lambda lb=lb: not restart_running(lb), 30, f"the nginx restart on {lb.node.name}")
        if not nginx_answers(lb, health):
            # The health check may start it meanwhile (then ours fails: address in use).
            with contextlib.suppress(netns.NetnsError):
                start_nginx(lb, lab.pids)
            wait_for(lambda lb=lb: nginx_answers(lb, health), 10, f"nginx on {lb.node.name}")
    for lb in lab.lbs:
        if keepalived_pid(lab, lb) is None:
            start_keepalived(lb, lab.pids)
    for b in lab.backends:
        while blackholed(b):
            netns.run(netns.in_ns(b.ns, "iptables", "-D", *blackhole_rule(b)))
        if tomcat_pid(lab, b) is None:
            start_tomcat(b, lab.pids)


def baseline(lab: Lab, timeout: float = 30) -> LabNode:
    """Heal, then wait for the normal state; returns the load balancer holding the VIP.

    Normal: both load balancers healthy, exactly one holds the VIP (the MASTER when
    preempting), the primary Tomcat answers through it and the backup Tomcat is up."""
    heal(lab)
    preempt = lab.topo.vrrp.preempt and not lab.cfg.profile.tutorial
    want = lab.master.node.name if preempt else None

    def normal() -> bool:
        holders = lab.vip_holders()
        return len(holders) == 1 and (want is None or holders == [want])

    wait_for(normal, timeout, f"the VIP on {want or 'one load balancer'}")
    for b in lab.backends:
        wait_for(lambda b=b: tomcat_answers(b), timeout, f"Tomcat {b.node.name}")
    wait_serving(lab, timeout, backend=lab.primary.node.name)
    # keepalived's rise counters: a node whose check just recovered is not yet
    # eligible; give the checks time to settle so the next fault starts from steady state.
    time.sleep(float(lab.topo.vrrp.check.interval) * lab.topo.vrrp.check.rise)
    holders = lab.vip_holders()
    if len(holders) != 1:
        raise LabError(f"VIP held by {holders or 'nobody'} after settling")
    return lab.nodes[holders[0]]
