"""The rendered nginx.conf, run for real: nginx and two tiny HTTP backends serving the
rendered Tomcat pages, on loopback addresses inside a network namespace of the test's
own (nothing listens in the root namespace). Shows the primary serving, the backup
serving only while the primary is down or hangs, the return to the primary, the
retry policy for POST, the local-only health location, and the headers.

Every wait is bounded; timings are not asserted (bench/ measures them).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from components import render
from components.scripts import script
from components.settings import parse_settings
from components.topology import build_topology
from tests import stacks
from tests.render import nginx_validate

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
    pytest.mark.skipif(not nginx_validate.available(), reason="nginx not installed"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) not installed"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed"),
]

LB, LB_IP = "lb-test", "127.0.0.11"
PRIMARY, PRIMARY_ADDR = "app-primary", ("127.0.0.21", 8081)
BACKUP, BACKUP_ADDR = "app-backup", ("127.0.0.22", 8082)
VIP, PORT = "127.0.0.10", 8088
FAIL_TIMEOUT = 2

# A backend that accepts connections and never answers (a hung Tomcat).
HANG = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
held = []
while True:
    held.append(s.accept()[0])
"""


def settings():
    raw = stacks.raw_config(
        "dev",
        network={"name": "lan", "mode": "nat", "cidr": "127.0.0.0/24"},
        vip=VIP,
        loadBalancers=[
            {"name": LB, "ip": LB_IP, "priority": 150},
            {"name": "lb-other", "ip": "127.0.0.12", "priority": 100},
        ],
        backends=[
            {"name": PRIMARY, "ip": PRIMARY_ADDR[0], "role": "primary", "port": PRIMARY_ADDR[1]},
            {"name": BACKUP, "ip": BACKUP_ADDR[0], "role": "backup", "port": BACKUP_ADDR[1]},
        ],
        nginx={"port": PORT, "failTimeout": FAIL_TIMEOUT},
    )
    return parse_settings(raw, secret_keys=stacks.SECRET_KEYS)


class Netns:
    def __init__(self, tmp: Path):
        self.name = f"nhtest-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, timeout: float = 15) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, key: str, *args: str) -> None:
        log = open(self.tmp / f"{key}.log", "ab")  # noqa: SIM115 (kept open by the child)
        self.procs[key] = subprocess.Popen(
            self.cmd(*args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, key: str) -> None:
        p = self.procs.pop(key, None)
        if p is not None and p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)

    def wait_port(self, host: str, port: int) -> None:
        for _ in range(100):  # at most ~10 s
            probe = f"import socket; socket.create_connection(({host!r}, {port}), 0.2).close()"
            if self.run(sys.executable, "-c", probe).returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"nothing listens on {host}:{port} in {self.name}")

    def close(self) -> None:
        for key in list(self.procs):
            self.stop(key)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def response(ns: Netns, url: str, *extra: str) -> dict:
    """One request with curl inside the namespace: status, headers, body."""
    out = ns.run("curl", "-sS", "-m", "5", "-D", "-", *extra, url)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return {"status": int(lines[0].split()[1]), "headers": headers, "body": body}


def backend_of(r: dict) -> str:
    m = re.search(r"nginx-ha-backend=([a-z0-9-]+) role=", r["body"])
    return m.group(1) if m else "none"


@pytest.fixture
def lab(tmp_path):
    s = settings()
    topo = build_topology(s)
    layout = nginx_validate.scratch_layout(tmp_path / "nginx")
    conf = render.nginx_conf(topo, topo.node(LB), layout)
    Path(layout.nginx_conf).write_text(conf)
    docroots = {}
    for b in topo.backends:
        d = tmp_path / b.name
        d.mkdir()
        (d / "index.html").write_text(render.tomcat_page(topo, b, layout))
        docroots[b.name] = d
    ns = Netns(tmp_path)
    try:
        ns.start_backend = lambda name, addr: ns.start(  # type: ignore[attr-defined]
            name,
            sys.executable,
            "-m",
            "http.server",
            str(addr[1]),
            "--bind",
            addr[0],
            "--directory",
            str(docroots[name]),
        )
        ns.start_backend(PRIMARY, PRIMARY_ADDR)
        ns.start_backend(BACKUP, BACKUP_ADDR)
        ns.wait_port(*PRIMARY_ADDR)
        ns.wait_port(*BACKUP_ADDR)
        # `nginx -g 'daemon off;'` keeps the master under our process group.
        ns.start(
            "nginx",
            nginx_validate.NGINX,
            "-e",
            f"{layout.nginx_log_dir}/error.log",
            "-p",
            f"{tmp_path / 'nginx'}/",
            "-c",
            layout.nginx_conf,
            "-g",
            "daemon off;",
        )
        ns.wait_port(VIP, PORT)
        yield ns
    finally:
        ns.close()


def test_primary_serves_backup_only_while_primary_is_down(lab):
    url = f"http://{VIP}:{PORT}/"
    primary = f"{PRIMARY_ADDR[0]}:{PRIMARY_ADDR[1]}"
    backup = f"{BACKUP_ADDR[0]}:{BACKUP_ADDR[1]}"

    # Both up: every request goes to the primary; the headers name LB and upstream.
    for _ in range(5):
        r = response(lab, url)
        assert r["status"] == 200
        assert r["headers"]["x-served-by"] == LB
        assert r["headers"]["x-upstream"] == primary
        assert backend_of(r) == PRIMARY

    # Primary stopped (connection refused): the next request is answered by the
    # backup at once, no error reaches the client.
    lab.stop(PRIMARY)
    r = response(lab, url)
    assert r["status"] == 200 and backend_of(r) == BACKUP
    # nginx tried the primary (refused: 502), then the backup answered.
    assert r["headers"]["x-upstream"] == f"{primary}, {backup}"
    assert r["headers"]["x-upstream-status"] == "502, 200"
    for _ in range(5):
        r = response(lab, url)
        assert r["status"] == 200
        assert backend_of(r) == BACKUP
        assert r["headers"]["x-upstream"].split(", ")[-1] == backup

    # Primary back: after fail_timeout nginx tries it again, and it serves again.
    lab.start_backend(PRIMARY, PRIMARY_ADDR)
    lab.wait_port(*PRIMARY_ADDR)
    deadline = time.monotonic() + FAIL_TIMEOUT + 5
    seen = []
    while time.monotonic() < deadline:
        seen.append(backend_of(response(lab, url)))
        if seen[-1] == PRIMARY:
            break
        time.sleep(0.2)
    assert seen[-1] == PRIMARY, f"primary never served again: {seen}"


def test_hung_primary_times_out_to_backup_but_post_is_not_resent(lab):
    url = f"http://{VIP}:{PORT}/"
    lab.stop(PRIMARY)
    lab.start("hang", sys.executable, "-c", HANG, *map(str, PRIMARY_ADDR))
    lab.wait_port(*PRIMARY_ADDR)

    # GET is idempotent: after the read timeout nginx asks the backup.
    r = response(lab, url)
    assert r["status"] == 200
    assert backend_of(r) == BACKUP
    assert r["headers"]["x-upstream-status"] == "504, 200"

    # Once fail_timeout has passed the primary is tried again; a POST already sent to
    # it is not sent to the backup (retryNonIdempotent false): the client gets 504.
    time.sleep(FAIL_TIMEOUT + 0.5)
    r = response(lab, url, "-X", "POST", "--data", "x=1")
    assert r["status"] == 504
    assert r["headers"]["x-upstream"] == f"{PRIMARY_ADDR[0]}:{PRIMARY_ADDR[1]}"


def test_health_answers_locally_only(lab):
    url = f"http://127.0.0.1:{PORT}/nginx-ha/health"
    r = response(lab, url)
    assert (r["status"], r["body"]) == (200, f"ok {LB}\n")
    assert r["headers"]["x-served-by"] == LB
    # From the node's own address: allowed; from any other address: 403.
    assert (
        response(lab, f"http://{LB_IP}:{PORT}/nginx-ha/health", "--interface", LB_IP)["status"]
        == 200
    )
    assert response(lab, url, "--interface", "127.0.0.99")["status"] == 403
    # The site itself is open to every address.
    assert response(lab, f"http://{VIP}:{PORT}/", "--interface", "127.0.0.99")["status"] == 200


def smoke(ns: Netns, expect_lb: str) -> subprocess.CompletedProcess:
    params = {
        "URL": f"http://{VIP}:{PORT}/",
        "EXPECT_LB": expect_lb,
        "PRIMARIES": PRIMARY,
        "TRIES": "3",
        "INTERVAL": "0.2",
        "TIMEOUT": "3",
    }
    header = "".join(f"{k}={shlex.quote(v)}\n" for k, v in params.items())
    return ns.run("bash", "-c", "set -euo pipefail\n" + header + script("smoke.sh"), timeout=60)


def test_smoke_script_passes_only_for_master_and_primary(lab):
    ok = smoke(lab, LB)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"smoke ok: http://{VIP}:{PORT}/ answered 200 by {LB} (MASTER)")
    assert f"from {PRIMARY} (primary), attempt 1/3" in ok.stdout

    # The VIP answered by another load balancer than the MASTER: a clear failure.
    wrong_lb = smoke(lab, "lb-other")
    assert wrong_lb.returncode == 1
    assert "nginx-ha smoke test failed" in wrong_lb.stderr
    assert "X-Served-By 'lb-other' (the MASTER)" in wrong_lb.stderr
    assert f"X-Served-By '{LB}'" in wrong_lb.stderr

    # Served, but by the backup Tomcat: also a failure, naming what answered.
    lab.stop(PRIMARY)
    on_backup = smoke(lab, LB)
    assert on_backup.returncode == 1
    assert f"backend '{BACKUP} backup'" in on_backup.stderr
