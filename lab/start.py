"""A node's daemons started in its namespace, and asked: Tomcat, nginx, the health
watcher and keepalived (after ``keepalived -t``), each started as the node's own start
script or systemd unit would and its pid recorded in the run's ``pids`` file; whether
a Tomcat or an nginx answers."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from lab import daemons, network
from lab.daemons import CATALINA_HOME
from lab.errors import LabError
from lab.nodes import LabNode
from support import netns


def start_tomcat(b: LabNode, pids: Path) -> int:
    base = b.dir / "tomcat"
    pid = netns.spawn(
        b.ns,
        [str(CATALINA_HOME / "bin" / "catalina.sh"), "run"],
        base / "logs" / "console.log",
        daemons.tomcat_env(base),
    )
    (base / "tomcat.pid").write_text(f"{pid}\n")
    network.record(pids, b.ns, pid, "tomcat")
    return pid


def start_nginx(lb: LabNode, pids: Path) -> None:
    """Start (or restart) nginx with the same command the health check uses."""
    netns.run(netns.in_ns(lb.ns, lb.layout.nginx_restart))
    pid = netns.read_pid(Path(lb.layout.nginx_pid))
    if pid is not None:
        network.record(pids, lb.ns, pid, "nginx")


def start_watcher(lb: LabNode, pids: Path) -> int:
    """The fast health path (nginx_watch.sh) in the node's namespace, as the
    nginx-ha-watch service runs it on a VM; `down` kills it with the namespace's
    other processes."""
    netns.run(netns.in_ns(lb.ns, *shlex.split(lb.layout.watch_start)))
    pid = netns.read_pid(Path(lb.layout.keepalived_conf).parent / "nginx-watch.pid")
    if pid is None:
        raise LabError(f"{lb.node.name}: the watcher did not start ({lb.layout.watch_start})")
    network.record(pids, lb.ns, pid, "nginx-watch")
    return pid


def keepalived_pidfiles(lb: LabNode) -> dict[str, Path]:
    d = Path(lb.layout.keepalived_conf).parent
    return {"-p": d / "keepalived.pid", "-r": d / "vrrp.pid", "-c": d / "checkers.pid"}


def validate_keepalived(lb: LabNode, tutorial: bool) -> None:
    """`keepalived -t` inside the node's namespace (it checks the interface)."""
    res = subprocess.run(
        netns.in_ns(lb.ns, lb.layout.keepalived_bin, "-t", "-f", lb.layout.keepalived_conf),
        capture_output=True,
        text=True,
    )
    # The tutorial's fixture has no script security: keepalived -t says so
    # with exit 6 and runs it anyway (as root), as on the tutorial's hosts.
    tolerated = {0, 6} if tutorial else {0}
    if res.returncode not in tolerated:
        raise LabError(
            f"keepalived -t rejects {lb.layout.keepalived_conf} (exit "
            f"{res.returncode}): {(res.stderr + res.stdout).strip()[-2000:]}"
        )


def start_keepalived(lb: LabNode, pids: Path) -> int:
    netns.run(netns.in_ns(lb.ns, *shlex.split(lb.layout.keepalived_start)))
    deadline = time.monotonic() + 5
    pidfile = keepalived_pidfiles(lb)["-p"]
    while (pid := netns.read_pid(pidfile)) is None or not netns.pid_in(pid, lb.ns):
        if time.monotonic() > deadline:
            raise LabError(f"{lb.node.name}: keepalived did not start: see {pidfile.parent}")
        time.sleep(0.02)
    network.record(pids, lb.ns, pid, "keepalived")
    return pid


def start_all(
    lbs: Sequence[LabNode],
    backends: Sequence[LabNode],
    master: LabNode,
    pids: Path,
    tutorial: bool,
) -> None:
    """Every daemon of the lab, in the order ``up`` needs: the Tomcats, nginx, the
    watchers (not in the tutorial profile), keepalived once every keepalived.conf
    passed ``keepalived -t``, the MASTER's first (with the tutorial's equal
    priorities the first wins)."""
    for b in backends:
        start_tomcat(b, pids)
    for lb in lbs:
        start_nginx(lb, pids)
    if not tutorial:
        for lb in lbs:
            start_watcher(lb, pids)
    for lb in lbs:
        validate_keepalived(lb, tutorial)
    for lb in sorted(lbs, key=lambda n: n is not master):
        start_keepalived(lb, pids)


def tomcat_answers(b: LabNode) -> bool:
    """The Tomcat answers on its address (asked inside its own namespace)."""
    url = f"http://{b.node.ip}:{b.node.port}/"
    res = subprocess.run(
        netns.in_ns(b.ns, "curl", "-fsS", "-o", "/dev/null", "--max-time", "0.5", url),
        capture_output=True,
    )
    return res.returncode == 0


def nginx_answers(lb: LabNode, health_url: str) -> bool:
    """This node's own nginx answers its health URL (asked inside its namespace)."""
    res = subprocess.run(
        netns.in_ns(lb.ns, "curl", "-fsS", "-o", "/dev/null", "--max-time", "0.5", health_url),
        capture_output=True,
    )
    return res.returncode == 0


def wait_tomcats(backends: Sequence[LabNode], timeout: float) -> None:
    """Every Tomcat answers, within ``timeout`` seconds for them all."""
    deadline = time.monotonic() + timeout
    for b in backends:
        while not tomcat_answers(b):
            if time.monotonic() > deadline:
                raise LabError(
                    f"Tomcat {b.node.name} did not answer within {timeout:.0f} s: see "
                    f"{b.dir / 'tomcat' / 'logs'}"
                )
            time.sleep(0.05)
