"""The exact remote commands the program builds for a load balancer and a backend
(taken from the real __main__.py under mocks), run in order on this machine as if it
were the node: the upload is written where CopyToRemote would put it, every other step
runs its `create` command (`sudo bash -c '...'`) unchanged.

The "node" is a network namespace plus a private mount namespace in which /etc,
/var/log, /var/lib, /opt and /usr/local are overlays whose writes land in a scratch folder, and
/run and /var/tmp are scratch folders: the machine's own files stay untouched and
nothing listens in the root namespace. Needs root and a Debian machine with nginx and
Tomcat installed (.ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from support import netns, stacks
from support.mocks import run_program

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="runs the node steps as root"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("ip", "unshare", "nsenter", "curl", "sudo", "nginx")),
        reason="needs iproute2, util-linux, curl, sudo and nginx",
    ),
    pytest.mark.skipif(
        not Path("/usr/share/tomcat10").exists(),
        reason="tomcat10 not installed (.ci/run installs it)",
    ),
]

OVERLAYS = ("/etc", "/var/log", "/var/lib", "/opt", "/usr/local")
SCRATCH = ("/run", "/var/tmp")


class EmulatedNode(netns.Holder):
    """A network namespace plus one private mount namespace (a holder): /etc, /var/log
    and /var/lib/tomcat10 overlaid with writes into ``scratch``, /run and /var/tmp
    scratch folders, and ``addresses`` on lo."""

    def __init__(self, scratch: Path, addresses: list[str]):
        self.scratch = scratch
        mounts = []
        for d in OVERLAYS:
            up, work = scratch / "upper" / d.strip("/"), scratch / "work" / d.strip("/")
            up.mkdir(parents=True)
            work.mkdir(parents=True)
            mounts.append(
                ["mount", "-t", "overlay", "overlay", "-o",
                 f"lowerdir={d},upperdir={up},workdir={work}", d]
            )  # fmt: skip
        for d in SCRATCH:
            s = scratch / "tmp" / d.strip("/")
            s.mkdir(parents=True)
            s.chmod(0o1777)
            mounts.append(["mount", "--bind", str(s), d])
        # the node's own and its peers' addresses, on lo here
        super().__init__("nhnode-", mounts=mounts, addresses=[f"{a}/32" for a in addresses])

    def sh(self, command: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return self.run("sh", "-c", command, timeout=timeout)

    def curl(self, url: str, *extra: str) -> subprocess.CompletedProcess:
        return self.sh(f"curl -sS -m 3 -i {' '.join(extra)} {url}", timeout=20)

    def close(self) -> None:
        for pidfile, sig in (
            ("nginx.pid", signal.SIGQUIT),
            ("nginx-ha-tomcat.pid", signal.SIGTERM),
        ):
            self.stop(self.scratch / "tmp" / "run" / pidfile, sig)
        super().close()


@pytest.fixture(scope="module")
def program():
    return run_program(stacks.raw_config("dev"), stack="dev")


@pytest.fixture
def scratch():
    d = Path(tempfile.mkdtemp(prefix="nginx-ha-node-", dir="/var/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_steps(node: EmulatedNode, program, names: list[str]) -> dict[str, str]:
    out = {}
    for name in names:
        res = program.named(name)
        if res.typ == "command:remote:CopyToRemote":
            target = node.path(res.inputs["remotePath"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(res.inputs["source"].text)
            continue
        done = node.sh(res.inputs["create"])
        assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
        out[name] = done.stdout
    return out


def steps(node: str, *roles: str) -> list[str]:
    return [f"{node}-{role}-{part}" for role in roles for part in ("upload", "stage")]


def test_load_balancer_steps(program, scratch):
    node = EmulatedNode(scratch, ["192.168.159.129"])
    try:
        before = node.path("/etc/nginx/nginx.conf").read_text()
        out = run_steps(
            node,
            program,
            ["nginx-master-nginx-install", *steps("nginx-master", "http-firewall", "nginx-conf")],
        )
        # Staged: validated by nginx -t into the release folder, the live file untouched.
        assert "nginx: ok" in out["nginx-master-nginx-conf-stage"]
        assert "bash: ok" in out["nginx-master-http-firewall-stage"]
        staged = next(node.path("/var/lib/nginx-ha/releases").glob("*/nginx.conf"))
        assert "X-Served-By nginx-master" in staged.read_text()
        assert node.path("/etc/nginx/nginx.conf").read_text() == before
        # The node's activation, the exact command: keepalived's files are not staged
        # here (no build), so it refuses before it changes anything.
        activate = program.named("nginx-master-activate").inputs["create"]
        done = node.sh(activate)
        assert done.returncode != 0
        assert "is not staged: run `pulumi up` again" in done.stderr
        assert node.path("/etc/nginx/nginx.conf").read_text() == before
        # The machine's own nginx.conf is untouched (the writes went to the overlay).
        assert "X-Served-By" not in Path("/etc/nginx/nginx.conf").read_text()
    finally:
        node.close()


def test_backend_steps(program, scratch):
    node = EmulatedNode(scratch, ["192.168.159.131", "192.168.159.129", "192.168.159.77"])
    try:
        out = run_steps(
            node,
            program,
            [
                "tomcat-primary-tomcat-install",
                *steps("tomcat-primary", "tomcat-firewall", "tomcat-port", "tomcat-page"),
                "tomcat-primary-activate",
            ],
        )
        # The activation applied the firewall, the port and the page, and its gate saw
        # Tomcat serve this node's page.
        activated = out["tomcat-primary-activate"]
        assert "activating: firewall-tomcat tomcat-port index.html" in activated
        assert "the page names tomcat-primary" in activated
        page = node.curl("http://192.168.159.131:8080/", "--interface", "192.168.159.129")
        assert page.stdout.startswith("HTTP/1.1 200"), page.stderr
        assert "nginx-ha-backend=tomcat-primary role=primary" in page.stdout
        # From an address that is no load balancer: dropped.
        other = node.curl("http://192.168.159.131:8080/", "--interface", "192.168.159.77")
        assert other.returncode != 0
        # The rules are kept for the next boot (nftables here; .ci/run installs it).
        if shutil.which("nft"):
            kept = node.path("/etc/nginx-ha/nftables/tomcat.nft").read_text()
            assert (
                "ip saddr { 192.168.159.129, 192.168.159.130, 192.168.159.110, 127.0.0.1 }" in kept
            )
            assert (
                'include "/etc/nginx-ha/nftables/*.nft"'
                in node.path("/etc/nftables.conf").read_text()
            )
        # A second activation finds nothing to change and passes its gate again.
        again = node.sh(program.named("tomcat-primary-activate").inputs["create"])
        assert again.returncode == 0, again.stderr
        assert "nothing to change" in again.stdout
    finally:
        node.close()
