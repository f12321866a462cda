"""Commands on a node over SSH, with the node's host key pinned.

Each node's ed25519 host key is derived from the stack's secret ``sshHostKeySeed``
(nginx_ha/topology/hostkeys.py), so it is known before any connection: the client gets
a known_hosts file holding exactly those keys, ``StrictHostKeyChecking yes``, no global
known_hosts and only ed25519 host keys. Whoever else answers at a node's address is
refused before anything is sent (OpenSSH: "REMOTE HOST IDENTIFICATION HAS CHANGED").
The private key travels to a 0600 file in a 0700 folder that is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HOST_KEY_REFUSED = "host key mismatch: refused (the node's pinned key was not presented)"


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    user: str
    host_key: str  # "ssh-ed25519 AAAA..." (no comment needed)
    port: int = 22

    @property
    def known_hosts_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str
    error: str = ""  # empty: the command ran (whatever its exit status)


class PinnedSsh:
    """A context with the client key and the pinned known_hosts written out."""

    def __init__(
        self,
        private_key: str,
        targets: Sequence[Target],
        netns: str | None = None,
        connect_timeout: int = 5,
        timeout: float = 60,
    ):
        self.private_key = private_key
        self.targets = list(targets)
        self.netns = netns
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.dir: Path | None = None

    def __enter__(self) -> PinnedSsh:
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-ha-ssh-"))
        os.chmod(self.dir, 0o700)
        key = self.dir / "key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.private_key.rstrip("\n") + "\n")
        (self.dir / "known_hosts").write_text(
            "".join(f"{t.known_hosts_name} {_key_only(t.host_key)}\n" for t in self.targets)
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def command(self, target: Target, remote: str) -> list[str]:
        assert self.dir is not None, "use PinnedSsh as a context manager"
        cmd = [
            "ssh",
            "-F",
            "/dev/null",
            "-p",
            str(target.port),
            "-i",
            str(self.dir / "key"),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.dir / 'known_hosts'}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "HostKeyAlgorithms=ssh-ed25519",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
            "-o",
            "LogLevel=ERROR",
            f"{target.user}@{target.host}",
            remote,
        ]
        return ["ip", "netns", "exec", self.netns, *cmd] if self.netns else cmd

    def run(self, target: Target, script: str) -> Result:
        """Run ``script`` with bash on ``target`` (the script on stdin)."""
        try:
            p = subprocess.run(
                self.command(target, "bash -s"),
                input=script,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Result(-1, "", "", f"no answer within {self.timeout:.0f} s")
        except FileNotFoundError as e:
            return Result(-1, "", "", f"{e.filename} is not installed")
        if p.returncode == 255:  # ssh's own failure: the command did not run
            return Result(p.returncode, p.stdout, p.stderr, ssh_error(p.stderr))
        return Result(p.returncode, p.stdout, p.stderr)


def ssh_error(stderr: str) -> str:
    """What went wrong, in a few words, from OpenSSH's messages."""
    if (
        "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr
        or "Host key verification failed" in stderr
    ):
        return HOST_KEY_REFUSED
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("@")]
    return lines[-1] if lines else "ssh failed"


def _key_only(key: str) -> str:
    parts = key.split()
    return " ".join(parts[:2])
