"""The trust rules of firewall.sh, with the parameters the program really passes, run
for real (nftables and iptables) in a network namespace of the test's own:

- VRRP (IP protocol 112) is accepted from the peer load balancer and dropped from
  anyone else (a stranger on the segment could otherwise take the VIP with a forged
  advert of a higher priority);
- SSH with ``ssh.allowFrom`` set answers only those sources.

The node's and the other hosts' addresses live on the namespace's loopback: every
packet stays inside the namespace."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from nginx_ha.config import parse_settings
from nginx_ha.render import script
from nginx_ha.render.params import firewall_params, script_text, ssh_firewall_params
from nginx_ha.topology import build_topology
from support import stacks

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
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
ME, PEER, STRANGER = "192.168.159.129", "192.168.159.130", "192.168.159.200"
OPERATOR = "192.168.159.10"


@pytest.fixture
def netns():
    name = f"nhtr-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        for addr in (ME, PEER, STRANGER, OPERATOR):
            subprocess.run(["ip", "-n", name, "addr", "add", f"{addr}/32", "dev", "lo"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def topology(**overrides):
    s = parse_settings(stacks.raw_config("dev", **overrides), secret_keys=stacks.SECRET_KEYS)
    return build_topology(s)


def apply(ns: str, backend: str, params: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "bash",
            "-c",
            script_text(
                script("firewall.sh"), {**params, "FW_BACKEND": backend, "FW_PERSIST": "no"}
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# Sends 5 VRRP-protocol packets from each source to the node and prints how many a raw
# socket on the node received from each (delivery to raw sockets comes after the
# INPUT hook, so a dropped packet is never counted).
VRRP_PROBE = textwrap.dedent(
    """
    import socket, sys, time
    me, sources = sys.argv[1], sys.argv[2:]
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    rx.bind((me, 0))
    rx.settimeout(0.3)
    for src in sources:
        tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
        tx.bind((src, 0))
        for _ in range(5):
            tx.sendto(b"\\x31\\x79\\x96\\x01" + bytes(16), (me, 0))
    counts = dict.fromkeys(sources, 0)
    end = time.monotonic() + 1
    while time.monotonic() < end:
        try:
            data, (src, _) = rx.recvfrom(2048)
        except TimeoutError:
            break
        if src in counts:
            counts[src] += 1
    print(" ".join(f"{s}={n}" for s, n in counts.items()))
    """
)


def vrrp_received(ns: str) -> dict[str, int]:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", VRRP_PROBE, ME, PEER, STRANGER],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout.split()
    return {k: int(v) for k, v in (item.split("=") for item in out)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_vrrp_is_accepted_from_the_peer_and_dropped_from_anyone_else(netns, backend):
    params = firewall_params("vrrp", topology(), topology().node("nginx-master"))
    assert params["FW_SOURCES"] == PEER
    assert vrrp_received(netns) == {PEER: 5, STRANGER: 5}  # open before
    out = apply(netns, backend, params)
    assert out.returncode == 0, out.stderr
    assert f"vrrp allowed from {PEER}, dropped from others ({backend})" in out.stdout
    assert vrrp_received(netns) == {PEER: 5, STRANGER: 0}


def tcp_answers(ns: str, source: str, port: int) -> bool:
    probe = (
        "import socket,sys\n"
        "s=socket.socket(); s.settimeout(1); s.bind((sys.argv[1],0))\n"
        "sys.exit(s.connect_ex((sys.argv[2], int(sys.argv[3]))))\n"
    )
    r = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", probe, source, ME, str(port)],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return r.returncode == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ssh_answers_only_the_allowed_sources(netns, backend):
    ssh = {"user": "debian", "publicKey": stacks.TEST_PUBLIC_KEY, "allowFrom": [f"{OPERATOR}/32"]}
    params = ssh_firewall_params(topology(ssh=ssh))
    assert params is not None
    listener = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c",
         "import socket,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         "s.bind(('0.0.0.0', 22)); s.listen(16)\nwhile True:\n c,_=s.accept(); c.close()\n"],
        start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(50):
            if tcp_answers(netns, OPERATOR, 22):
                break
            time.sleep(0.1)
        assert tcp_answers(netns, STRANGER, 22)  # open before
        out = apply(netns, backend, params)
        assert out.returncode == 0, out.stderr
        assert tcp_answers(netns, OPERATOR, 22)
        assert not tcp_answers(netns, STRANGER, 22)
        assert not tcp_answers(netns, PEER, 22)
    finally:
        os.killpg(listener.pid, signal.SIGTERM)
        listener.wait(timeout=5)


def test_ssh_from_anywhere_is_the_default():
    assert ssh_firewall_params(topology()) is None
