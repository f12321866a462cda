"""install_nginx.sh and install_tomcat.sh run for real on this Debian machine (as root),
twice each, then the program's config step (ValidatedFile's script) with the rendered
nginx.conf and Tomcat page, and the service steps.

Everything runs inside a network namespace of the test's own (the daemons listen
there, not in the root namespace) and one private mount namespace in which copies of
/etc/nginx, /etc/tomcat10 and Tomcat's ROOT folder are mounted over the real ones, so
the machine's own files stay untouched. PID 1 here is not systemd, so the scripts take
their "start the service directly" path. Waits are bounded; the daemons are stopped
at the end.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from nginx_ha import render
from nginx_ha.config import parse_settings
from nginx_ha.render import script
from nginx_ha.render.artefacts import Artefact, Item, stage_params
from nginx_ha.render.params import script_text
from nginx_ha.render.rollout import activation_body, activation_params, manifest_text
from nginx_ha.topology import build_topology, vm_layout
from support import netns, stacks

pytestmark = [
    pytest.mark.slow,
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="installs packages and starts daemons: needs root"
    ),
    pytest.mark.skipif(
        shutil.which("apt-get") is None,
        reason="needs a Debian machine (apt-get) for the real install",
    ),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("ip", "unshare", "nsenter", "curl")),
        reason="needs iproute2, util-linux (unshare, nsenter) and curl",
    ),
]

# /run inside the test's mount namespace is a scratch folder (see Node): the pid
# files the scripts write never meet another nginx's or Tomcat's.
TOMCAT_PID = "nginx-ha-tomcat.pid"
NGINX_PID = "nginx.pid"


def installed(pkg: str) -> bool:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}", pkg], capture_output=True, text=True, check=False
    )
    return "install ok installed" in out.stdout


class Node(netns.Holder):
    """A network namespace plus one private mount namespace (a holder) in which
    ``binds`` (and a scratch /run) are bound over the machine's folders."""

    def __init__(self, scratch: Path, binds: dict[str, Path]):
        self.run_dir = scratch / "run"
        self.run_dir.mkdir()
        binds = {**binds, "/run": self.run_dir}
        super().__init__(
            "nhinst-", mounts=[["mount", "--bind", str(src), dst] for dst, src in binds.items()]
        )
        self.scratch = scratch

    def sh(
        self, text: str, params: Mapping[str, str | int], timeout: float = 180
    ) -> subprocess.CompletedProcess:
        """Run a script as the program does: parameters set at the top."""
        return self.run("bash", "-c", script_text(text, params), timeout=timeout)

    def curl(self, url: str) -> subprocess.CompletedProcess:
        return self.run("curl", "-sS", "-m", "5", "-i", url, timeout=15)


@pytest.fixture
def scratch():
    # Readable by the tomcat user (pytest's tmp_path is private to root).
    d = Path(tempfile.mkdtemp(prefix="nginx-ha-install-", dir="/var/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def dev():
    s = parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)
    topo = build_topology(s)
    return topo, vm_layout(topo)


def scratch_layout(layout, scratch: Path):
    """The VM's layout with uploads and releases in the test's scratch folder."""
    return dataclasses.replace(
        layout, upload_dir=str(scratch / "upload"), release_dir=str(scratch / "releases")
    )


def nginx_artefact(text: str) -> Artefact:
    return Artefact(
        "nginx-conf",
        "nginx",
        "file",
        "/etc/nginx/nginx.conf",
        text,
        "0644",
        "nginx",
        "nginx-reload",
        {"NGINX_BIN": "/usr/sbin/nginx"},
    )


def stage(node: Node, artefact: Artefact, layout) -> subprocess.CompletedProcess:
    """A StagedFile, as the program runs it: the upload, then the stage step."""
    uploaded = Path(artefact.uploaded(layout))
    uploaded.parent.mkdir(parents=True, exist_ok=True)
    uploaded.write_text(artefact.text)
    return node.sh(script("stage.sh"), stage_params(artefact, layout))


@pytest.mark.skipif(
    not installed("nginx"),
    reason="nginx not installed (.ci/run installs nginx-light); "
    "the script's apt path needs the network, which the test's namespace has not",
)
def test_install_nginx_then_stage_and_activate_its_conf(scratch):
    topo, layout = dev()
    etc = scratch / "etc-nginx"
    subprocess.run(["cp", "-a", "/etc/nginx", str(etc)], check=True)
    node = Node(scratch, {"/etc/nginx": etc})
    pidfile = node.run_dir / NGINX_PID
    install = script("install_nginx.sh")
    try:
        first = node.sh(install, {"ACTION": "install"})
        assert first.returncode == 0, first.stderr
        pid = pidfile.read_text().strip()
        second = node.sh(install, {"ACTION": "install"})
        assert second.returncode == 0, second.stderr
        assert "nginx already installed" in second.stdout
        assert pidfile.read_text().strip() == pid  # the same nginx: nothing restarted
        assert " 200 " in node.curl("http://127.0.0.1/").stdout.split("\n")[0]

        # The program's nginx-conf stage step, for real: a broken file is refused and
        # not staged; the rendered one is staged. Neither touches the live file.
        conf = render.nginx_conf(topo, topo.master, layout)
        before = (etc / "nginx.conf").read_text()
        lay = scratch_layout(layout, scratch)
        bad = stage(
            node, nginx_artefact(conf.replace("proxy_read_timeout", "proxy_reed_timeout")), lay
        )
        assert bad.returncode != 0
        assert 'unknown directive "proxy_reed_timeout"' in bad.stderr
        assert "not staged; the node runs what it ran" in bad.stderr
        good_artefact = nginx_artefact(conf)
        good = stage(node, good_artefact, lay)
        assert good.returncode == 0, good.stderr
        assert Path(good_artefact.staged(lay)).read_text() == conf
        assert (etc / "nginx.conf").read_text() == before

        # Its activation swaps it in and reloads nginx; no Tomcat answers here, so the
        # gate (a request through this nginx to a backend) fails, and the node goes
        # back to the file it ran before.
        items = [Item("file", layout.nginx_conf, good_artefact.staged(lay), "0644", "nginx-reload")]
        params = activation_params(
            topo, topo.master, lay, render.node_plan(topo, topo.master, lay).parts
        ) | {
            "MANIFEST": manifest_text(items),
            "GATE_URL": "http://127.0.0.1/",
            "GATE_TIMEOUT": "3",
            "KEEPALIVED_START": "true",  # no keepalived in this namespace: nginx alone
            "APPLIED_DIR": str(scratch / "applied"),
        }
        activated = node.sh(activation_body(), params, timeout=60)
        assert activated.returncode != 0
        assert "failed its gate: GET http://127.0.0.1/: 502" in activated.stderr
        assert "Rolled back" in activated.stderr
        assert (etc / "nginx.conf").read_text() == before

        service = node.sh(install, {"ACTION": "service"})
        assert service.returncode == 0, service.stderr
        assert " 200 " in node.curl("http://127.0.0.1/").stdout.split("\n")[0]
    finally:
        node.stop(pidfile, signal.SIGQUIT)
        node.close()


@pytest.mark.skipif(
    not installed("tomcat10"),
    reason="tomcat10 not installed (.ci/run installs it); "
    "the script's apt path needs the network, which the test's namespace has not",
)
def test_install_tomcat_then_activate_its_page_and_port(scratch):
    topo, layout = dev()
    backend = topo.node("tomcat-primary")
    etc = scratch / "etc-tomcat10"
    root = scratch / "ROOT"
    subprocess.run(["cp", "-a", "/etc/tomcat10", str(etc)], check=True)
    root.mkdir()
    root.chmod(0o755)
    webapps_root = str(Path(layout.tomcat_webapps) / "ROOT")
    node = Node(scratch, {"/etc/tomcat10": etc, webapps_root: root})
    pidfile = node.run_dir / TOMCAT_PID
    install = script("install_tomcat.sh")
    try:
        first = node.sh(install, {"ACTION": "install"})
        assert first.returncode == 0, first.stderr
        pid = pidfile.read_text().strip()
        second = node.sh(install, {"ACTION": "install"})
        assert second.returncode == 0, second.stderr
        assert "tomcat10 already installed" in second.stdout
        assert pidfile.read_text().strip() == pid  # still the first Tomcat

        # The program's stage steps (the page, checked for this node's marker; the port
        # script), then the node's activation: the port moves to 8081, Tomcat restarts
        # on it, the page is swapped in, and the gate asks Tomcat for the page.
        lay = scratch_layout(layout, scratch)
        moved_node = dataclasses.replace(backend, port=8081)
        plan = render.node_plan(topo, moved_node, lay)
        artefacts = plan.part("tomcat").artefacts
        for a in artefacts:
            if a.role == "tomcat-firewall":
                continue  # the firewall script has its own tests
            staged = stage(node, a, lay)
            assert staged.returncode == 0, staged.stderr
        items = [
            Item(a.kind, a.target, a.staged(lay), a.mode, a.action)
            for a in artefacts
            if a.role != "tomcat-firewall"
        ]
        params = activation_params(topo, moved_node, lay, plan.parts) | {
            "MANIFEST": manifest_text(items),
            "APPLIED_DIR": str(scratch / "applied"),
        }
        activated = node.sh(activation_body(), params, timeout=240)
        assert activated.returncode == 0, activated.stderr
        assert "the page names tomcat-primary" in activated.stdout
        assert '<Connector port="8081" protocol="HTTP/1.1"' in (etc / "server.xml").read_text()
        assert pidfile.read_text().strip() != pid
        body = node.curl("http://127.0.0.1:8081/").stdout
        assert (
            body.startswith("HTTP/1.1 200")
            and "nginx-ha-backend=tomcat-primary role=primary" in body
        )
        assert node.curl("http://127.0.0.1:8080/").returncode != 0  # nothing on 8080 now
    finally:
        node.stop(pidfile)
        node.close()
