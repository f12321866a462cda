"""Hold, don't refuse: vip_hold.sh with the program's own parameters, and the health
watcher's hold, for real (nftables and iptables) in network namespaces of the test's
own: a load balancer holding the dev stack's VIP and a client, joined by a veth pair,
so every SYN crosses the load balancer's input path as it would on a VM.

- no listener on the VIP's port: the client's SYN is dropped (its connect times out),
  not refused with a reset;
- a wildcard listener (nginx's `listen 80`): it connects, also when the client reuses
  a port whose earlier connection the server closed (a TIME_WAIT entry);
- the watcher probing a listener that accepts but never answers (hung) puts the VIP
  in the hold: the client's SYN is dropped although something listens; an answer
  lifts it;
- `ACTION=down` leaves no rule, set, table or chain behind."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nginx_ha import render
from nginx_ha.config import parse_settings
from nginx_ha.render.hold import VIP_HOLD_SCRIPT, vip_hold_params
from nginx_ha.render.params import script_text
from nginx_ha.topology import Layout, build_topology
from support import stacks

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]
BACKENDS = [
    pytest.param(
        "nftables",
        marks=pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed"),
    ),
    pytest.param(
        "iptables",
        marks=pytest.mark.skipif(shutil.which("iptables") is None, reason="iptables not installed"),
    ),
]
LB_IP, CLIENT_IP = "192.168.159.129", "192.168.159.254"

# A server that accepts connections (the kernel completes them) and never answers:
# a hung nginx. And one that answers every request with 200 and closes first.
HANG = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(64)
held = []
while True:
    held.append(s.accept()[0])
"""
ANSWER = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers()
        self.wfile.write(b"ok\\n")
    def log_message(self, *a): pass
http.server.HTTPServer.allow_reuse_address = True
http.server.HTTPServer(("0.0.0.0", 80), H).serve_forever()
"""
# From the client: how a connect to the VIP ends within 1.5 s (the first SYN only:
# Linux sends it again after 1 s, so 1.5 s sees one retransmission at most).
CONNECT = """
import socket, sys
s = socket.socket()
if len(sys.argv) > 3:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sys.argv[3])))
s.settimeout(1.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    while s.recv(4096):  # to the server's FIN: the server closes first
        pass
    print("connected")
except TimeoutError:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
"""


def topology():
    s = parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)
    return build_topology(s)


@pytest.fixture
def pair():
    """(load balancer namespace, client namespace) on one segment; the load balancer
    holds the VIP."""
    tag = uuid.uuid4().hex[:6]
    lb, cl = f"nhhold-lb-{tag}", f"nhhold-cl-{tag}"
    vip = str(topology().vip)
    for ns in (lb, cl):
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    try:
        subprocess.run(
            ["ip", "link", "add", "eth0", "netns", lb, "type", "veth", "peer", "name", "eth0"]
            + ["netns", cl],
            check=True,
        )
        for ns, addr in ((lb, LB_IP), (cl, CLIENT_IP)):
            subprocess.run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
        subprocess.run(["ip", "-n", lb, "addr", "add", f"{vip}/24", "dev", "eth0"], check=True)
        yield lb, cl
    finally:
        for ns in (lb, cl):
            subprocess.run(["ip", "netns", "del", ns], check=False)


def hold(ns: str, backend: str, action: str = "up") -> subprocess.CompletedProcess:
    params = vip_hold_params(topology(), action) | {"HOLD_BACKEND": backend, "HOLD_PERSIST": "no"}
    text = script_text(render.script(VIP_HOLD_SCRIPT), params)
    return subprocess.run(
        ["ip", "netns", "exec", ns, "bash", "-c", text], capture_output=True, text=True
    )


def connect(cl: str, local_port: int | None = None) -> str:
    vip = str(topology().vip)
    args = [vip, "80", *([str(local_port)] if local_port else [])]
    res = subprocess.run(
        ["ip", "netns", "exec", cl, sys.executable, "-c", CONNECT, *args],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return res.stdout.strip() or res.stderr.strip()


@contextlib.contextmanager
def server(ns: str, code: str):
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 5
        while "0.0.0.0:80 " not in subprocess.run(
            ["ip", "netns", "exec", ns, "ss", "-Hltn"], capture_output=True, text=True
        ).stdout.replace("*:80 ", "0.0.0.0:80 "):
            assert time.monotonic() < deadline, "the test server did not listen"
            time.sleep(0.05)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def time_wait(ns: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, "ss", "-Htan", "state", "time-wait"],
        capture_output=True,
        text=True,
    ).stdout


def ruleset(ns: str) -> str:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "nft", "list", "ruleset"], capture_output=True, text=True
    )
    return out.stdout


def iptables_rules(ns: str) -> list[str]:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "iptables", "-S"], capture_output=True, text=True
    ).stdout
    return [line for line in out.splitlines() if not line.startswith("-P ")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_syn_is_dropped_while_nothing_listens_and_connects_when_nginx_listens(pair, backend):
    lb, cl = pair
    assert connect(cl) == "refused"  # without the hold: a reset, the request fails at once
    res = hold(lb, backend)
    assert res.returncode == 0, res.stderr
    assert "dropped while no nginx listens" in res.stdout
    assert hold(lb, backend).returncode == 0  # idempotent
    assert connect(cl) == "timeout"  # held: no reset, the client will send its SYN again
    with server(lb, ANSWER):
        assert connect(cl) == "connected"
        # A client port reused while the server's side of its last connection is in
        # TIME_WAIT: the kernel takes the SYN, and so must the hold.
        port = 40000 + os.getpid() % 20000
        assert connect(cl, port) == "connected"
        assert f":{port}" in time_wait(lb)
        assert connect(cl, port) == "connected"
    if backend == "nftables":
        assert "socket transparent" in ruleset(lb)
    res = hold(lb, backend, "down")
    assert res.returncode == 0, res.stderr
    assert connect(cl) == "refused"
    assert ruleset(lb).strip() == "" if backend == "nftables" else iptables_rules(lb) == []
    assert hold(lb, backend, "down").returncode == 0  # nothing left: still fine


@contextlib.contextmanager
def watcher(ns: str, tmp_path: Path):
    """The rendered nginx_watch.sh of the dev stack's MASTER, run in ``ns``; yields its
    log (one "EPOCH WHAT" line per verdict and hold)."""
    topo = topology()
    layout = Layout(health_file=str(tmp_path / "run" / "nginx-health"))
    script = tmp_path / "nginx_watch.sh"
    script.write_text(render.nginx_watch_script(topo, topo.master, layout))
    log = tmp_path / "watch.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "bash", str(script)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def wait_for(what: str, cond, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_watcher_holds_new_connections_while_nginx_hangs_and_lifts_it_when_it_answers(
    pair, backend, tmp_path
):
    lb, cl = pair
    assert hold(lb, backend).returncode == 0
    with server(lb, HANG), watcher(lb, tmp_path) as log:
        wait_for("the hold", lambda: "hold on" in log.read_text(), timeout=3)
        # The VIP is held although something listens there.
        assert connect(cl) == "timeout"
        if backend == "nftables":
            assert str(topology().vip) in ruleset(lb).split("set hung")[1].split("}")[0]
    with server(lb, ANSWER), watcher(lb, tmp_path) as log:
        # An answer (here a 404 for the health path: nginx answers) lifts it.
        wait_for("the hold lifted", lambda: "hold off" in log.read_text() or _unheld(lb, backend))
        assert connect(cl) == "connected"
    lines = log.read_text().splitlines()
    assert all(float(line.split()[0]) > 1e9 for line in lines), lines  # "EPOCH WHAT"
    assert hold(lb, backend, "down").returncode == 0
    assert ruleset(lb).strip() == "" if backend == "nftables" else iptables_rules(lb) == []


def _unheld(lb: str, backend: str) -> bool:
    if backend == "nftables":
        return "elements" not in ruleset(lb).split("set hung")[1].split("}")[0]
    return not any("nginx-ha-hung" in r for r in iptables_rules(lb))


def test_the_hold_script_refuses_bad_parameters(tmp_path):
    bad = vip_hold_params(topology()) | {"HOLD_VIPS": "1.2.3.4; rm -rf /", "HOLD_PERSIST": "no"}
    text = script_text(render.script(VIP_HOLD_SCRIPT), bad)
    res = subprocess.run(["bash", "-c", text], capture_output=True, text=True)
    assert res.returncode == 1
    assert "is not an IPv4 address" in res.stderr
    assert shlex.quote("1.2.3.4; rm -rf /") in text  # quoted in the header
