"""lvs_realserver.sh run for real in network namespaces (root; skipped otherwise):
what LVS direct routing needs on a load balancer, and that `down` removes it.

Topology: a load balancer namespace with two links, one to the other director (its
MAC is the script's LVS_PEER_MACS) and one to a client. IPVS itself is not in this
kernel, so the test checks the parts the script owns: the VIPs on lo (a forwarded
packet for a VIP the node does not hold is accepted), the ARP sysctls (the node does
not answer ARP for a VIP that is only on lo), and the fwmark rule (marks the client's
packets, passes over the other director's).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nginx_ha.config import parse_settings
from nginx_ha.render import script
from nginx_ha.render.params import lvs_params, script_text
from nginx_ha.topology import build_topology, vm_layout
from support import stacks, systemd_verify

ROOT = Path(__file__).resolve().parents[2]
PEER_MAC = "52:54:00:0a:0b:0c"
CLIENT_MAC = "52:54:00:0d:0e:0f"
VIPS = ("10.9.9.10", "10.9.9.11")
MARKS = ("1313341561", "1313341562")
PORT = 8080

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nft", "curl", "sysctl")),
    reason="needs root, ip, nft (Debian's nftables), curl and sysctl: runs in network namespaces",
)


def sh(*args: str, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout)


class Net:
    def __init__(self, tag: str, files: Path):
        self.lb, self.peer, self.client = (f"nha-lvs-{x}-{tag}" for x in ("lb", "peer", "cl"))
        self.files = files
        self.params = {
            "LVS_VIPS": " ".join(VIPS),
            "LVS_MARKS": " ".join(MARKS),
            "LVS_PORT": str(PORT),
            "LVS_PEER_MACS": PEER_MAC,
            "SYSCTL_FILE": str(files / "sysctl.d/90-nginx-ha-lvs.conf"),
            "NFT_FILE": str(files / "nginx-ha/lvs.nft"),
            "UNIT_PATH": str(files / "systemd/nginx-ha-lvs.service"),
        }

    def run(self, ns: str, *cmd: str, check: bool = True, timeout: float = 10):
        return sh("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)

    def script(self, action: str, **extra: str) -> subprocess.CompletedProcess[str]:
        params = {**self.params, **extra, "ACTION": action}
        return self.run(self.lb, "bash", "-c", script_text(script("lvs_realserver.sh"), params))

    def counters(self) -> dict[str, int]:
        """Packets counted by each rule of the table: 'return' and one per VIP."""
        text = self.run(self.lb, "nft", "list", "table", "ip", "nginx_ha_lvs").stdout
        out = {}
        for line in text.splitlines():
            m = re.search(r"counter packets (\d+)", line)
            if not m:
                continue
            vip = re.search(r"ip daddr (\S+)", line)
            out[vip.group(1) if vip else "return"] = int(m.group(1))
        return out

    def curl(self, ns: str, vip: str) -> subprocess.CompletedProcess[str]:
        return self.run(ns, "curl", "-s", "-m", "1.5", f"http://{vip}:{PORT}/", check=False)

    def sysctl(self, name: str) -> str:
        return self.run(self.lb, "sysctl", "-n", name).stdout.strip()

    def lo_addresses(self) -> list[str]:
        text = self.run(self.lb, "ip", "-4", "-o", "addr", "show", "dev", "lo").stdout
        return re.findall(r"inet (\S+)", text)


@pytest.fixture
def net(tmp_path) -> Iterator[Net]:
    n = Net(uuid.uuid4().hex[:6], tmp_path / "etc")
    server = None
    try:
        for ns in (n.lb, n.peer, n.client):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        # lb:eth0 <-> peer:eth0 (10.9.0.0/24), lb:eth1 <-> client:eth0 (10.9.1.0/24)
        for lb_if, other, mac, subnet in (
            ("eth0", n.peer, PEER_MAC, "10.9.0"),
            ("eth1", n.client, CLIENT_MAC, "10.9.1"),
        ):
            sh("ip", "-n", n.lb, "link", "add", lb_if, "type", "veth", "peer", "name", "eth0",
               "netns", other)  # fmt: skip
            sh("ip", "-n", other, "link", "set", "eth0", "address", mac)
            sh("ip", "-n", n.lb, "addr", "add", f"{subnet}.1/24", "dev", lb_if)
            sh("ip", "-n", other, "addr", "add", f"{subnet}.2/24", "dev", "eth0")
            sh("ip", "-n", n.lb, "link", "set", lb_if, "up")
            sh("ip", "-n", other, "link", "set", "eth0", "up")
            # the other director forwards to the VIP through the load balancer's MAC
            sh("ip", "-n", other, "route", "add", f"{VIPS[0]}/32", "via", f"{subnet}.1")
        # the client asks for the second VIP on the link (ARP), as a router would
        sh("ip", "-n", n.client, "route", "add", f"{VIPS[1]}/32", "dev", "eth0")
        server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                n.lb,
                "python3",
                "-m",
                "http.server",
                str(PORT),
                "--bind",
                "0.0.0.0",  # noqa: S104 - inside the test's own namespace
                "--directory",
                str(ROOT / "tests"),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ss = n.run(n.lb, "ss", "-ltn", check=False).stdout
            if f":{PORT} " in ss:
                break
            time.sleep(0.1)
        yield n
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        for ns in (n.lb, n.peer, n.client):
            sh("ip", "netns", "del", ns, check=False)


def test_up_puts_the_vips_on_lo_sets_the_sysctls_and_writes_the_boot_unit(net):
    assert net.sysctl("net.ipv4.conf.all.arp_ignore") == "0"
    assert net.curl(net.peer, VIPS[0]).returncode != 0  # no VIP here yet: not accepted
    first = net.script("up")
    assert "up: VIPs 10.9.9.10 10.9.9.11 on lo" in first.stdout
    again = net.script("up")  # idempotent
    assert again.returncode == 0
    assert net.lo_addresses() == ["127.0.0.1/8", "10.9.9.10/32", "10.9.9.11/32"]
    assert net.sysctl("net.ipv4.conf.all.arp_ignore") == "1"
    assert net.sysctl("net.ipv4.conf.all.arp_announce") == "2"
    sysctl_file = Path(net.params["SYSCTL_FILE"]).read_text()
    assert "net.ipv4.conf.all.arp_ignore = 1" in sysctl_file
    unit = Path(net.params["UNIT_PATH"]).read_text()
    assert f"-f {net.params['NFT_FILE']}" in unit
    assert unit.count("address replace 10.9.9.1") == 2 and "Before=keepalived.service" in unit
    # IPVS's expire_nodest_conn: set where the kernel has IPVS (the sandbox VM's run
    # checks it on every director: tests/sandbox/test_lvs_vm.py), said where it has not
    # (this machine's); at boot the unit loads ip_vs and sets it, failures ignored.
    if Path("/proc/sys/net/ipv4/vs").exists():
        assert net.sysctl("net.ipv4.vs.expire_nodest_conn") == "1"
        assert "expire_nodest_conn=1" in first.stdout
    else:
        assert "no IPVS in this kernel, expire_nodest_conn not set" in first.stdout
    if shutil.which("modprobe"):  # a host without it has no modules to load
        assert re.search(r"^ExecStart=-/\S*modprobe ip_vs$", unit, re.M), unit
    assert re.search(r"^ExecStart=-/\S*sysctl -q -w net.ipv4.vs.expire_nodest_conn=1$", unit, re.M)
    if systemd_verify.available():  # the unit as the script wrote it, as systemd reads it
        assert systemd_verify.verify({"nginx-ha-lvs.service": unit}) == []
    # A packet the active director forwards (IP header unchanged: to the VIP) is
    # accepted and served by the local server.
    assert "Directory listing" in net.curl(net.peer, VIPS[0]).stdout


def test_the_fwmark_rule_marks_clients_and_passes_over_the_other_director(net):
    net.script("up")
    assert net.counters() == {"return": 0, VIPS[0]: 0, VIPS[1]: 0}
    assert net.curl(net.client, VIPS[0]).returncode == 0
    from_client = net.counters()
    assert from_client["return"] == 0 and from_client[VIPS[0]] > 0
    assert net.curl(net.peer, VIPS[0]).returncode == 0
    from_peer = net.counters()
    assert from_peer["return"] > 0
    assert from_peer[VIPS[0]] == from_client[VIPS[0]]  # not marked: not balanced again


def test_a_vip_only_on_lo_gets_no_arp_answer(net):
    """arp_ignore=1: the node answers ARP only for addresses of the asking interface,
    so only the VRRP holder (VIP on its LAN interface) answers for a VIP."""
    net.run(net.lb, "ip", "addr", "add", f"{VIPS[1]}/32", "dev", "lo")
    assert net.curl(net.client, VIPS[1]).returncode == 0  # kernel default: lo's VIP answers ARP
    net.run(net.lb, "ip", "addr", "del", f"{VIPS[1]}/32", "dev", "lo")
    net.run(net.client, "ip", "neigh", "flush", "dev", "eth0")
    net.script("up")
    assert net.curl(net.client, VIPS[1]).returncode != 0
    neigh = net.run(net.client, "ip", "neigh", "show", VIPS[1]).stdout
    assert "lladdr" not in neigh


def test_down_removes_everything_up_did_and_a_second_down_is_harmless(net):
    net.script("up")
    out = net.script("down").stdout
    assert "LVS real-server setup removed" in out
    assert net.lo_addresses() == ["127.0.0.1/8"]
    assert net.sysctl("net.ipv4.conf.all.arp_ignore") == "0"
    assert net.sysctl("net.ipv4.conf.all.arp_announce") == "0"
    gone = net.run(net.lb, "nft", "list", "table", "ip", "nginx_ha_lvs", check=False)
    assert gone.returncode != 0
    for key in ("SYSCTL_FILE", "NFT_FILE", "UNIT_PATH"):
        assert not Path(net.params[key]).exists()
    assert net.script("down").returncode == 0


def test_a_vip_dropped_from_the_stack_leaves_lo_on_the_next_up(net):
    net.script("up")
    net.script("up", LVS_VIPS=VIPS[0], LVS_MARKS=MARKS[0])
    assert net.lo_addresses() == ["127.0.0.1/8", "10.9.9.10/32"]
    assert set(net.counters()) == {"return", VIPS[0]}


def test_bad_parameters_change_nothing(net):
    bad = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            net.lb,
            "bash",
            "-c",
            "ACTION=up LVS_VIPS=10.9.9.10 LVS_MARKS='1 2' bash -s",
        ],  # fmt: skip
        input=script("lvs_realserver.sh"),
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert bad.returncode != 0 and "one mark per VIP" in bad.stderr
    assert net.lo_addresses() == ["127.0.0.1/8"]
    assert net.sysctl("net.ipv4.conf.all.arp_ignore") == "0"
    assert net.sysctl("net.ipv4.conf.all.arp_announce") == "0"
    table = net.run(net.lb, "nft", "list", "table", "ip", "nginx_ha_lvs", check=False)
    assert table.returncode != 0


def test_the_program_passes_the_other_directors_mac_and_one_mark_per_vip():
    s = parse_settings(
        stacks.raw_config(
            "dev", vip=None, vips=["192.168.159.110", "192.168.159.111"], lvs={"enabled": True}
        )  # fmt: skip
    )
    topo = build_topology(s)
    master, backup = topo.node("nginx-master"), topo.node("nginx-backup")
    params = lvs_params(topo, master, vm_layout(topo), "up")
    assert params["LVS_PEER_MACS"] == backup.mac
    assert params["LVS_VIPS"] == "192.168.159.110 192.168.159.111"
    assert params["LVS_MARKS"] == "1313341561 1313341562" and params["LVS_PORT"] == "80"
    assert lvs_params(topo, backup, vm_layout(topo), "down")["LVS_PEER_MACS"] == master.mac


def test_the_boot_unit_is_enabled_only_where_systemd_is_the_nodes(net, tmp_path):
    """SYSTEMD=no (the lab: its nodes are namespaces of a host, or of a VM, whose systemd
    is not theirs) writes the unit and never calls systemctl; found when the lab first
    ran in a VM with systemd: `systemctl enable` of a unit outside systemd's folders
    failed ("Unit file nginx-ha-lvs.service does not exist"). SYSTEMD=yes enables it."""
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "systemctl.log"
    (fake / "systemctl").write_text(f'#!/bin/sh\necho "$*" >>{log}\n')
    (fake / "systemctl").chmod(0o755)
    path = f"{fake}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    r = net.script("up", SYSTEMD="no", PATH=path)
    assert r.returncode == 0, r.stderr
    assert Path(net.params["UNIT_PATH"]).exists()
    assert not log.exists()
    r = net.script("up", SYSTEMD="yes", PATH=path)
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines() == ["daemon-reload", "enable --quiet nginx-ha-lvs.service"]
    with pytest.raises(subprocess.CalledProcessError) as refused:
        net.script("up", SYSTEMD="maybe", PATH=path)
    assert "SYSTEMD must be auto, yes or no" in refused.value.stderr


def test_the_lab_runs_the_real_server_step_without_systemd(tmp_path, monkeypatch):
    from lab import steps
    from lab.lab import Lab

    monkeypatch.setattr(
        "lab.daemons.keepalived_binary", lambda: ("/usr/sbin/keepalived", (2, 2, 7))
    )
    monkeypatch.setattr("lab.daemons.keepalived_has_ipvs", lambda binary: True)
    lab = Lab("dev", "lvs", run_root=tmp_path, instance="lvs-params")
    for lb in lab.lbs:
        p = steps.lvs_realserver_params(lb, lab.topo)
        assert p["SYSTEMD"] == "no"
        assert p["UNIT_PATH"].startswith(str(tmp_path))
