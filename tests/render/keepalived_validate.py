"""Run the real `keepalived -t` on rendered files as the node sees them.

In a throwaway network namespace that has the node's interface (a veth: this kernel
has no dummy links) and a private mount namespace in which the rendered files are
bind-mounted over the folders they belong to (LAB_NOTES, "Validating rendered files
as the node sees them"). Nothing is added to the root namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

DEBIAN_KEEPALIVED = "/usr/sbin/keepalived"
BUILT_KEEPALIVED = "/usr/local/keepalived/sbin/keepalived"


def keepalived_version(binary: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    text = out.stdout + out.stderr
    for word in text.split():
        if word.startswith("v") and word[1:2].isdigit():
            parts = word[1:].split(".")
            if len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
                return (int(parts[0]), int(parts[1]), int(parts[2]))
    return None


def keepalived_binaries(major_minor: tuple[int, int]) -> list[str]:
    """The keepalived binaries on this machine of that release line."""
    candidates = [BUILT_KEEPALIVED, DEBIAN_KEEPALIVED]
    extra = os.environ.get("NGINX_HA_KEEPALIVED_BINS", "")
    candidates += [b for b in extra.split(":") if b]
    out = []
    for b in candidates:
        v = keepalived_version(b) if os.access(b, os.X_OK) else None
        if v is not None and v[:2] == major_minor and b not in out:
            out.append(b)
    return out


def namespaces_unavailable() -> str | None:
    """Why the netns validation cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def keepalived_test(
    binary: str, files: dict[str, tuple[str, str]], conf: str, interfaces: list[str]
) -> subprocess.CompletedProcess[str]:
    """`binary -t -f conf` with ``files`` ({path: (text, mode)}) mounted at their paths
    and ``interfaces`` present. Every folder holding a file must exist on this host;
    it is covered (inside the private mount namespace only) by a copy holding just the
    rendered files."""
    return in_namespace(files, interfaces, f"exec {binary} -t -f {conf}\n")


# Runs keepalived for a moment with a private /tmp, asks its VRRP process for a data
# dump (SIGUSR1 writes /tmp/keepalived.data), prints the dump, stops keepalived.
_DUMP = """mount --bind "$RUN" /tmp
{binary} --dont-fork --log-console --vrrp --use-file={conf} --pid=/tmp/k.pid \\
  --vrrp_pid=/tmp/v.pid >/tmp/log 2>&1 &
for _ in $(seq 50); do [ -s /tmp/v.pid ] && break; sleep 0.1; done
sleep 0.3
kill -USR1 "$(cat /tmp/v.pid)"
for _ in $(seq 50); do [ -s /tmp/keepalived.data ] && break; sleep 0.1; done
sleep 0.2
cat /tmp/keepalived.data || cat /tmp/log >&2
kill "$(cat /tmp/k.pid)"
wait
"""


def keepalived_data_dump(
    binary: str, files: dict[str, tuple[str, str]], conf: str, interfaces: list[str]
) -> str:
    """What a running keepalived parsed from ``files`` (its SIGUSR1 data dump)."""
    result = in_namespace(files, interfaces, _DUMP.format(binary=binary, conf=conf))
    return result.stdout


def in_namespace(
    files: dict[str, tuple[str, str]], interfaces: list[str], command: str
) -> subprocess.CompletedProcess[str]:
    """Run bash ``command`` as root in a throwaway network namespace with
    ``interfaces`` (veths, up) and a private mount namespace with ``files`` mounted
    at their paths; ``$RUN`` is an empty private folder. Cleans up after itself."""
    ns = f"nha-kt-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="nha-kt-"))
    try:
        dirs: dict[str, Path] = {}
        for path, (text, mode) in files.items():
            parent = os.path.dirname(path)
            stage = dirs.setdefault(parent, tmp / f"d{len(dirs)}")
            stage.mkdir(mode=0o755, exist_ok=True)
            os.chmod(stage, 0o755)  # noqa: S103 - root-owned folder, as /etc/keepalived
            target = stage / os.path.basename(path)
            target.write_text(text)
            os.chmod(target, int(mode, 8))
        mounts = "".join(f"mount --bind {src} {dst}\n" for dst, src in dirs.items())
        subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
        taken = set(interfaces)
        peers = (f"p{i}" for i in range(10**6) if f"p{i}" not in taken)
        for name, peer in zip(interfaces, peers, strict=False):
            subprocess.run(
                # "name"/"dev" keywords: ip reads a bare "a" or "mtu" as a keyword.
                ["ip", "-n", ns, "link", "add", "name", name, "type", "veth", "peer", "name", peer],
                check=True,
                timeout=10,
            )
            subprocess.run(
                ["ip", "-n", ns, "link", "set", "dev", name, "up"], check=True, timeout=10
            )
        run_dir = tmp / "run"
        run_dir.mkdir(mode=0o700)
        script = f"set -e\nRUN={run_dir}\n{mounts}{command}"
        return subprocess.run(
            ["ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private"]
            + ["bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
