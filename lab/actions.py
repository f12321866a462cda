"""What a failover scenario and its repair do to a lab node: its nginx, keepalived and
Tomcat found by pid and signalled, its switch port up or down, the primary Tomcat's black
hole, nginx.conf's saved copy, the health check's nginx restart still at work; waiting
(bounded) for a condition."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from lab import network
from lab.errors import LabError
from lab.lab import Lab
from lab.nodes import LabNode
from lab.start import keepalived_pidfiles
from support import netns


def nginx_pids(lab: Lab, lb: LabNode) -> list[int]:
    return [pid for pid, c, _ in netns.processes(lb.ns) if c == "nginx"]


def signal_nginx(lab: Lab, lb: LabNode, sig: int) -> int:
    n = 0
    for pid in nginx_pids(lab, lb):
        n += netns.signal_in(lb.ns, pid, sig)
    return n


def keepalived_pid(lab: Lab, lb: LabNode) -> int | None:
    pid = netns.read_pid(keepalived_pidfiles(lb)["-p"])
    return pid if netns.pid_in(pid, lb.ns) else None


def tomcat_pid(lab: Lab, b: LabNode) -> int | None:
    pid = netns.read_pid(b.dir / "tomcat" / "tomcat.pid")
    return pid if netns.pid_in(pid, b.ns) else None


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def set_port(lab: Lab, ln: LabNode, up: bool) -> None:
    network.set_port(lab.switch, ln.port, up)


def blackhole_rule(b: LabNode) -> list[str]:
    return ["INPUT", "-p", "tcp", "--dport", str(b.node.port), "-j", "DROP"]


def blackholed(b: LabNode) -> bool:
    res = subprocess.run(
        netns.in_ns(b.ns, "iptables", "-C", *blackhole_rule(b)), capture_output=True
    )
    return res.returncode == 0


def saved_conf(lb: LabNode) -> Path:
    return Path(lb.layout.nginx_conf + ".lab-saved")


def restart_running(lb: LabNode) -> bool:
    """The health check's background nginx restart is still at work on this node."""
    needle = lb.layout.nginx_restart.encode()
    for pid in netns.pids_in([lb.ns]):
        try:
            if needle in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False
