"""SSH host key pinning, for real: an sshd in a network namespace of the test's own
presents either the host key the program derived for a node (taken from that node's
rendered user-data, as cloud-init would install it) or another key, and

- a real OpenSSH client whose only known host is the pinned key
  (StrictHostKeyChecking yes) gets in to the first and is refused by the second;
- where the Pulumi toolchain is built (``scripts/pulumi-toolchain.sh``, or
  NGINX_HA_PULUMI_BIN naming its folder), a throwaway Pulumi program runs one
  ``remote.Command`` with the connection the program builds (``host_key=``) against
  each: the command provider refuses the impostor before sending the command.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from nginx_ha import render
from nginx_ha.config import parse_settings
from nginx_ha.topology import build_topology
from nginx_ha.topology.hostkeys import host_key
from support import stacks

ROOT = Path(__file__).resolve().parents[2]
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
PORT = 2222
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
    pytest.mark.skipif(
        not (os.access(SSHD, os.X_OK) and shutil.which("ssh") and shutil.which("ssh-keygen")),
        reason="needs OpenSSH's sshd, ssh and ssh-keygen (Debian: openssh-server, openssh-client)",
    ),
]


def pulumi_bin() -> Path | None:
    for folder in (
        os.environ.get("NGINX_HA_PULUMI_BIN", ""),
        str(ROOT / ".toolchain" / "bin"),
        str(ROOT.parent / "main" / ".toolchain" / "bin"),
    ):
        if folder and all(
            (Path(folder) / b).exists()
            for b in ("pulumi", "pulumi-language-python", "pulumi-resource-command")
        ):
            return Path(folder)
    return None


def pinned_node_key() -> tuple[str, str]:
    """(private key file text, pinned public key) of nginx-master, from its user-data."""
    s = parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)
    topo = build_topology(s)
    node = topo.node("nginx-master")
    key = host_key(stacks.TEST_HOST_KEY_SEED, topo.project, topo.stack, node.name)
    doc = yaml.safe_load(render.cloud_init_user_data(topo, node, key))
    return doc["ssh_keys"]["ed25519_private"], key.public_no_comment


@pytest.fixture
def lab(tmp_path):
    """A namespace with lo up; the client's key and its known_hosts (the pin only)."""
    ns = f"nhhk-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    private, public = pinned_node_key()
    (tmp_path / "pinned").write_text(private)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")],
        check=True,
    )
    client = tmp_path / "client"
    client.write_text(stacks.TEST_PRIVATE_KEY)
    (tmp_path / "authorized_keys").write_text(stacks.TEST_PUBLIC_KEY + "\n")
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{PORT} {public}\n")
    for f in ("pinned", "impostor", "client", "authorized_keys"):
        os.chmod(tmp_path / f, 0o600)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    try:
        yield ns, tmp_path, public
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


class Sshd:
    def __init__(self, ns: str, tmp: Path, host_key_file: Path):
        config = tmp / "sshd_config"
        config.write_text(
            textwrap.dedent(
                f"""\
                ListenAddress 127.0.0.1:{PORT}
                HostKey {host_key_file}
                AuthorizedKeysFile {tmp}/authorized_keys
                PermitRootLogin prohibit-password
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                StrictModes no
                PidFile none
                """
            )
        )
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        probe = f"exec 3<>/dev/tcp/127.0.0.1/{PORT}"
        for _ in range(100):
            probed = subprocess.run(
                ["ip", "netns", "exec", ns, "bash", "-c", probe], stderr=subprocess.DEVNULL
            )
            if probed.returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError("sshd did not start")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=5)


def ssh(ns: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, "ssh", "-p", str(PORT), "-i", str(tmp / "client")]
        + ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"]
        + ["-o", f"UserKnownHostsFile={tmp}/known_hosts", "-o", "GlobalKnownHostsFile=/dev/null"]
        + ["-o", "ConnectTimeout=5", "root@127.0.0.1", "echo pinned-ok"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_openssh_with_the_pin_gets_into_the_node_and_is_refused_by_an_impostor(lab):
    ns, tmp, _public = lab
    impostor = Sshd(ns, tmp, tmp / "impostor")
    try:
        out = ssh(ns, tmp)
    finally:
        impostor.stop()
    assert out.returncode != 0 and "pinned-ok" not in out.stdout
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in out.stderr, out.stderr

    node = Sshd(ns, tmp, tmp / "pinned")
    try:
        out = ssh(ns, tmp)
    finally:
        node.stop()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "pinned-ok"


PROGRAM = """\
import pulumi
from pulumi_command import remote

from nginx_ha.components.remote import connection

cfg = pulumi.Config()
conn = connection(
    "127.0.0.1", "root", pulumi.Output.secret(cfg.require("key")), cfg.require("hostKey")
)
conn.port = {port}
conn.dial_error_limit = 1
conn.per_dial_timeout = 5
cmd = remote.Command("probe", connection=conn, create="echo pinned-ok")
pulumi.export("out", cmd.stdout)
"""


def pulumi_up(ns: str, work: Path, bin_dir: Path, private_key: str, pinned: str):
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PULUMI_BACKEND_URL": f"file://{work}/state",
        "PULUMI_CONFIG_PASSPHRASE": "test-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_HOME": str(work / "home"),
        "PYTHONPATH": str(ROOT),
    }

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, str(bin_dir / "pulumi"), *args, "--non-interactive"],
            cwd=work,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    if not (work / "state").exists():
        (work / "state").mkdir()
        (work / "Pulumi.yaml").write_text(
            "name: pin-probe\nruntime:\n  name: python\n  options:\n"
            f"    virtualenv: {ROOT / 'venv'}\n"
        )
        (work / "__main__.py").write_text(PROGRAM.format(port=PORT))
        assert run("stack", "init", "probe").returncode == 0
        assert run("config", "set", "--secret", "key", stdin=private_key).returncode == 0
    assert run("config", "set", "hostKey", pinned).returncode == 0
    return run("up", "--yes", "--skip-preview", "--stack", "probe")


def test_the_command_provider_refuses_a_node_presenting_another_key(lab, tmp_path_factory):
    bin_dir = pulumi_bin()
    if bin_dir is None:
        pytest.skip(
            "no Pulumi toolchain (pulumi, pulumi-language-python, pulumi-resource-command): "
            "build it with scripts/pulumi-toolchain.sh or name its folder in NGINX_HA_PULUMI_BIN"
        )
    ns, tmp, pinned = lab
    work = tmp_path_factory.mktemp("pulumi-pin")
    impostor = Sshd(ns, tmp, tmp / "impostor")
    try:
        out = pulumi_up(ns, work, bin_dir, stacks.TEST_PRIVATE_KEY, pinned)
    finally:
        impostor.stop()
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "pinned-ok" not in text
    assert "host key mismatch" in text, text
    print(
        "provider refused the impostor:",
        [ln for ln in text.splitlines() if "handshake" in ln or "mismatch" in ln][:2],
    )

    node = Sshd(ns, tmp, tmp / "pinned")
    try:
        out = pulumi_up(ns, work, bin_dir, stacks.TEST_PRIVATE_KEY, pinned)
    finally:
        node.stop()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pinned-ok" in out.stdout
