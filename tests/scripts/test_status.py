"""``python -m nginx_ha status`` for real: every node of the dev stack is a network
namespace on one bridge with a real sshd presenting the node's derived host key; the
load balancers' VRRP state files are written by the rendered ``vrrp_state.sh`` itself,
as keepalived would run it, and the VIP is on the holder's interface. The status
command runs ssh from a client namespace with the pinned keys only, and

- shows the VIP held by the MASTER, then, after a failover (the MASTER in FAULT, the
  BACKUP MASTER, the VIP moved), by the BACKUP, with the transitions and their times;
- refuses a node whose sshd presents another key (nothing is asked of it), reporting
  the node and the reason, while the others answer;
- prints the same as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from lab import network
from nginx_ha import render
from nginx_ha.components.stack import _node_output, vip_outputs
from nginx_ha.config import parse_settings
from nginx_ha.ops import status as ops_status
from nginx_ha.ops.ssh import HOST_KEY_REFUSED
from nginx_ha.ops.stackinfo import StackView
from nginx_ha.topology import LOAD_BALANCER, Layout, build_topology
from nginx_ha.topology.hostkeys import host_key
from nginx_ha.view import status as view
from support import netns, stacks

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(
        not (os.access(SSHD, os.X_OK) and shutil.which("ssh")),
        reason="needs OpenSSH's sshd and ssh (Debian: openssh-server, openssh-client)",
    ),
]

SYSTEMCTL = """\
#!/bin/sh
# A node's units for the test: the file units/UNIT holds its state.
[ "$1" = is-active ] || exit 3
if [ -f {dir}/units/"$2" ]; then cat {dir}/units/"$2"; else echo inactive; exit 3; fi
"""


class Stack:
    """The dev stack's nodes as namespaces with sshd, files and a client namespace."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        raw = stacks.raw_config("dev")
        self.config = raw
        self.topo = build_topology(parse_settings(raw, stack="dev", secret_keys=stacks.SECRET_KEYS))
        self.prefix = f"nhst{uuid.uuid4().hex[:6]}-"
        self.switch = self.prefix + "sw"
        self.client = self.prefix + "client"
        self.ns = {
            n.name: self.prefix + n.name.split("-")[1][:6] + n.name[0] for n in self.topo.nodes
        }
        self.layouts = {
            n.name: Layout(
                interface=network.IFACE,
                vrrp_state_dir=str(tmp / n.name / "vrrp"),
                health_file=str(tmp / n.name / "health"),
                drain_dir=str(tmp / n.name / "drain"),
            )
            for n in self.topo.nodes
        }
        members = [
            network.Member(self.ns[n.name], f"p{i}", f"{n.ip}/24", n.mac)
            for i, n in enumerate(self.topo.nodes)
        ]
        members.append(network.Member(self.client, "pc", "192.168.159.2/24", "52:54:00:ff:ff:01"))
        network.wire(self.switch, members)
        (tmp / "authorized_keys").write_text(stacks.TEST_PUBLIC_KEY + "\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        for n in self.topo.nodes:
            d = tmp / n.name
            (d / "units").mkdir(parents=True)
            for unit in n.kind.units:
                (d / "units" / unit).write_text("active\n")
            (d / "systemctl").write_text(SYSTEMCTL.format(dir=d))
            os.chmod(d / "systemctl", 0o755)  # noqa: S103 - run by the test sshd's session
            key = host_key(stacks.TEST_HOST_KEY_SEED, self.topo.project, "dev", n.name)
            self.sshd(n.name, key.private_openssh)

    def sshd(self, node: str, private_key: str) -> None:
        d = self.tmp / node
        key = d / "host_key"
        key.write_text(private_key)
        os.chmod(key, 0o600)
        ip = self.topo.node(node).ip
        (d / "sshd_config").write_text(
            textwrap.dedent(
                f"""\
                ListenAddress {ip}:22
                HostKey {key}
                AuthorizedKeysFile {self.tmp}/authorized_keys
                PermitRootLogin prohibit-password
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                PidFile none
                """
            )
        )
        netns.spawn(self.ns[node], [SSHD, "-D", "-e", "-f", str(d / "sshd_config")], d / "sshd.log")
        probe = f"exec 3<>/dev/tcp/{ip}/22"
        for _ in range(100):
            probed = subprocess.run(
                netns.in_ns(self.client, "bash", "-c", probe), stderr=subprocess.DEVNULL
            )
            if probed.returncode == 0:
                return
            subprocess.run(["sleep", "0.05"])
        raise AssertionError(f"sshd of {node} did not start: {(d / 'sshd.log').read_text()}")

    def restart_sshd(self, node: str, private_key: str) -> None:
        netns.kill_all_in([self.ns[node]])
        self.sshd(node, private_key)

    def transition(self, node: str, state: str) -> None:
        """What keepalived does on a transition: run vrrp_state.sh; move the VIP."""
        n = self.topo.node(node)
        inst = self.topo.instances[0]
        priority = inst.peers[node].priority
        script = self.tmp / node / "vrrp_state.sh"
        script.write_text(render.vrrp_state_script(self.topo, n, self.layouts[node]))
        netns.run(
            netns.in_ns(
                self.ns[node], "bash", str(script), "INSTANCE", inst.name, state, str(priority)
            )
        )
        vip = f"{inst.vip}/24"
        verb = "add" if state == "MASTER" else "del"
        netns.ip("addr", verb, vip, "dev", network.IFACE, ns=self.ns[node], check=False)

    def health(self, node: str, verdict: str) -> None:
        Path(self.layouts[node].health_file).write_text(verdict + "\n")

    def view(self) -> StackView:
        outputs = {
            "vips": vip_outputs(self.topo),
            "nodes": {n.name: _node_output(n) for n in self.topo.nodes},
        }
        return StackView("dev", outputs, self.config, set(stacks.SECRET_KEYS))

    def status(self) -> view.StackStatus:
        return ops_status.collect(
            self.view(),
            netns=self.client,
            layout_of=self.layouts.__getitem__,
            systemctl_of=lambda n: str(self.tmp / n / "systemctl"),
            user="root",
        )

    def close(self) -> None:
        network.teardown([self.switch, self.client, *self.ns.values()], self.tmp / "pids")


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.close()


def test_status_shows_the_live_holder_before_and_after_a_failover(stack):
    stack.transition("nginx-master", "MASTER")
    stack.transition("nginx-backup", "BACKUP")
    for lb in ("nginx-master", "nginx-backup"):
        stack.health(lb, "0")
    before = stack.status()
    (vip,) = before.vips
    assert vip.holders == ("nginx-master",) and vip.masters == ("nginx-master",)
    assert vip.verdict == "as configured"
    assert before.healthy, view.format_status(before)
    master = next(n for n in before.nodes if n.name == "nginx-master")
    assert master.units == dict.fromkeys(LOAD_BALANCER.units, "active")
    assert set(master.units) == {"keepalived", "nginx", "nginx-ha-watch"}
    assert master.health == "healthy"
    assert master.keepalived  # `keepalived --version` on PATH, or "not on PATH"
    tomcat = next(n for n in before.nodes if n.name == "tomcat-primary")
    assert tomcat.units == {"tomcat10": "active"} and not tomcat.vrrp

    # nginx dies on the MASTER: its watcher says down, keepalived goes FAULT and the
    # BACKUP takes the VIP.
    stack.health("nginx-master", "1")
    (stack.tmp / "nginx-master/units/nginx").write_text("failed\n")
    stack.transition("nginx-master", "FAULT")
    stack.transition("nginx-backup", "MASTER")
    after = stack.status()
    (vip,) = after.vips
    assert vip.holders == ("nginx-backup",) and vip.verdict == "failed over"
    assert not after.healthy
    states = [(t.node, t.state) for t in after.transitions]
    assert states[-2:] == [("nginx-master", "FAULT"), ("nginx-backup", "MASTER")]
    text = view.format_status(after)
    print(text)
    assert "192.168.159.110" in text and "failed over" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("nginx-master"))
    assert "FAULT 150" in row and "failed" in row and "down" in row
    data: Any = json.loads(json.dumps(view.status_json(after)))
    assert data["vips"][0]["heldBy"] == ["nginx-backup"]
    assert data["nodes"]["nginx-master"]["vrrp"]["VI_121"]["state"] == "FAULT"
    assert data["nodes"]["nginx-master"]["units"]["nginx"] == "failed"


def test_status_refuses_a_node_presenting_another_host_key(stack):
    stack.transition("nginx-master", "MASTER")
    stack.transition("nginx-backup", "BACKUP")
    impostor = stack.tmp / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    stack.restart_sshd("nginx-backup", impostor.read_text())
    result = stack.status()
    backup = next(n for n in result.nodes if n.name == "nginx-backup")
    assert backup.error == HOST_KEY_REFUSED
    assert not backup.units and not backup.vrrp  # nothing was asked of it
    master = next(n for n in result.nodes if n.name == "nginx-master")
    assert master.reachable and master.vrrp["VI_121"].state == "MASTER"
    assert not result.healthy
    assert f"unreachable: {HOST_KEY_REFUSED}" in view.format_status(result)
