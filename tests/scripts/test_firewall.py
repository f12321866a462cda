"""firewall.sh run for real in a network namespace of the test's own (nftables and
iptables backends): the port answers from the allowed sources only, a second run
changes nothing, new sources replace the old ones, VRRP gets its own rule."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from nginx_ha.render import script
from nginx_ha.render.params import script_text

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("ip", "curl")), reason="needs iproute2 and curl"
    ),
]

BACKENDS = [
    pytest.param(
        "nftables",
        "nft list ruleset",
        marks=pytest.mark.skipif(
            shutil.which("nft") is None, reason="nft (package nftables) not installed"
        ),
    ),
    pytest.param(
        "iptables",
        "iptables -S",
        marks=pytest.mark.skipif(shutil.which("iptables") is None, reason="iptables not installed"),
    ),
]
PORT = 8080


@pytest.fixture
def netns(tmp_path):
    name = f"nhfw-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    server = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            name,
            sys.executable,
            "-m",
            "http.server",
            str(PORT),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            if reach(name, "127.0.0.1"):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("test server did not start")
        yield name
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=5)
        subprocess.run(["ip", "netns", "del", name], check=False)


def reach(ns: str, source: str) -> bool:
    """Does a request from ``source`` (a loopback address) get an HTTP answer?"""
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-m",
            "1",
            "--interface",
            source,
            f"http://127.0.0.1:{PORT}/",
        ],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return out.returncode == 0


def firewall(ns: str, **params: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "bash",
            "-c",
            script_text(script("firewall.sh"), params),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ruleset(ns: str, listing: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *listing.split()], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(("backend", "listing"), BACKENDS)
def test_restricted_port_answers_only_the_allowed_sources(netns, backend, listing):
    tomcat = dict(
        FW_NAME="tomcat",
        FW_PROTO="tcp",
        FW_PORT=str(PORT),
        FW_RESTRICT="yes",
        FW_PERSIST="no",
        FW_BACKEND=backend,
    )
    assert reach(netns, "127.0.0.2") and reach(netns, "127.0.0.3")  # open before

    first = firewall(netns, FW_SOURCES="127.0.0.1 127.0.0.2", **tomcat)
    assert first.returncode == 0, first.stderr
    assert (
        f"tcp/{PORT} allowed from 127.0.0.1 127.0.0.2, dropped from others ({backend})"
        in first.stdout
    )
    assert reach(netns, "127.0.0.2")
    assert not reach(netns, "127.0.0.3")

    rules = ruleset(netns, listing)
    again = firewall(netns, FW_SOURCES="127.0.0.1 127.0.0.2", **tomcat)
    assert again.returncode == 0, again.stderr
    assert ruleset(netns, listing) == rules  # idempotent: nothing added twice

    # Other sources replace the old ones (a load balancer's address changed).
    moved = firewall(netns, FW_SOURCES="127.0.0.1 127.0.0.3", **tomcat)
    assert moved.returncode == 0, moved.stderr
    assert reach(netns, "127.0.0.3")
    assert not reach(netns, "127.0.0.2")


@pytest.mark.parametrize(("backend", "listing"), BACKENDS)
def test_vrrp_rule_from_peers(netns, backend, listing):
    out = firewall(
        netns,
        FW_NAME="vrrp",
        FW_PROTO="vrrp",
        FW_SOURCES="10.9.0.2 10.9.0.3",
        FW_PERSIST="no",
        FW_BACKEND=backend,
    )
    assert out.returncode == 0, out.stderr
    rules = ruleset(netns, listing)
    if backend == "nftables":
        assert "ip saddr { 10.9.0.2, 10.9.0.3 } ip protocol vrrp accept" in rules
    else:
        assert "-A NGINX-HA-VRRP -s 10.9.0.2/32 -p vrrp -j ACCEPT" in rules
        assert "-A NGINX-HA-VRRP -s 10.9.0.3/32 -p vrrp -j ACCEPT" in rules
    assert reach(netns, "127.0.0.5")  # VRRP rules leave TCP alone


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(FW_NAME="x", FW_PROTO="tcp", FW_PORT="99999"), "must be a port number"),
        (dict(FW_NAME="x", FW_PROTO="icmp"), "must be tcp, udp or vrrp"),
        (dict(FW_NAME="x", FW_PROTO="vrrp", FW_PORT="80"), "vrrp has no port"),
        (
            dict(FW_NAME="x", FW_PROTO="tcp", FW_PORT="80", FW_SOURCES="10.0.0.0/8 nope"),
            "is not an IPv4",
        ),
        (dict(FW_NAME="x", FW_PROTO="tcp", FW_PORT="80", FW_RESTRICT="yes"), "needs FW_SOURCES"),
        (dict(FW_NAME="Bad_Name", FW_PROTO="tcp", FW_PORT="80"), "must be 1-16 of"),
    ],
)
def test_bad_parameters_are_refused_before_any_change(netns, params, message):
    listings = [
        listing
        for listing, tool in (("nft list ruleset", "nft"), ("iptables -S", "iptables"))
        if shutil.which(tool)
    ]
    assert listings, "neither nft nor iptables here"
    before = {listing: ruleset(netns, listing) for listing in listings}
    out = firewall(netns, FW_PERSIST="no", **params)
    assert out.returncode != 0 and message in out.stderr
    assert {listing: ruleset(netns, listing) for listing in listings} == before
