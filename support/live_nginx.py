"""nginx run for real with a rendered nginx.conf, in front of two tiny HTTP backends
serving the rendered Tomcat pages, on loopback addresses inside a network namespace
of its own (nothing listens in the root namespace). Used by
tests/render/test_nginx_failover.py and bench/nginx_upstream.py. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from nginx_ha import render
from nginx_ha.config import Settings, parse_settings
from nginx_ha.topology import build_topology
from nginx_ha.topology.naming import parse_page_marker
from support import nginx_validate, stacks

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


def settings(fail_timeout: int = FAIL_TIMEOUT) -> Settings:
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
        nginx={"port": PORT, "failTimeout": fail_timeout},
    )
    return parse_settings(raw, secret_keys=stacks.SECRET_KEYS)


class Netns:
    def __init__(self, tmp: Path):
        self.name = f"nhtest-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        self.docroots: dict[str, Path] = {}  # backend name -> the folder it serves
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

    def start_backend(self, name: str, addr: tuple[str, int]) -> None:
        """A backend: Python's HTTP server on ``addr`` serving its rendered page."""
        host, port = addr
        self.start(
            name,
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            host,
            "--directory",
            str(self.docroots[name]),
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
    marker = parse_page_marker(r["body"])
    return marker[0] if marker else "none"


@contextlib.contextmanager
def live_nginx(tmp_path: Path, fail_timeout: int = FAIL_TIMEOUT) -> Iterator[Netns]:
    """nginx with the rendered config for LB, both backends up; stopped on exit."""
    s = settings(fail_timeout)
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
        ns.docroots = docroots
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
