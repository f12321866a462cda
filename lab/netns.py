"""Network-namespace plumbing: namespaces, veth pairs, a bridge, processes inside.

Everything lives in namespaces the lab names; nothing is added to the root
namespace. Processes are found and killed by pid, and only after checking that the
pid's network namespace is one of the lab's (the PID namespace is shared: `ps -C`
and `killall` would see every lab node's and the host's daemons).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

NETNS_DIR = Path("/run/netns")


class LabError(RuntimeError):
    """A lab operation failed; the message says what and what to do."""


def run(cmd: Sequence[str], *, check: bool = True, timeout: float = 30) -> str:
    """Run a command; on failure raise LabError with its output."""
    res = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise LabError(
            f"`{' '.join(cmd)}` failed (exit {res.returncode}): {(res.stderr or res.stdout).strip()}"
        )
    return res.stdout


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    return run(["ip", *(["-n", ns] if ns else []), *args], check=check)


def in_ns(ns: str, *cmd: str) -> list[str]:
    """The argv that runs ``cmd`` inside namespace ``ns``."""
    return ["ip", "netns", "exec", ns, *cmd]


def exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def listed(prefix: str) -> list[str]:
    """Namespaces whose name starts with ``prefix``."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def add(ns: str) -> None:
    """Create a namespace with loopback up and IPv6 off (no router adverts, DAD)."""
    ip("netns", "add", ns)
    ip("link", "set", "lo", "up", ns=ns)
    run(
        in_ns(
            ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        )
    )


def delete(ns: str) -> None:
    ip("netns", "delete", ns, check=False)


def ns_id(ns: str) -> tuple[int, int] | None:
    """(device, inode) of a named namespace, as /proc/PID/ns/net reports it."""
    try:
        st = os.stat(NETNS_DIR / ns)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pid_ns_id(pid: int) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in(namespaces: Iterable[str]) -> dict[int, str]:
    """Every process whose network namespace is one of ``namespaces`` (pid -> ns)."""
    wanted = {i: ns for ns in namespaces if (i := ns_id(ns)) is not None}
    out: dict[int, str] = {}
    if not wanted:
        return out
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        i = pid_ns_id(pid)
        if i in wanted:
            out[pid] = wanted[i]
    return out


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def signal_in(ns: str, pid: int, sig: int) -> bool:
    """Send ``sig`` to ``pid`` if it runs in namespace ``ns``; False if it does not."""
    want = ns_id(ns)
    if want is None or pid_ns_id(pid) != want:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def kill_all_in(namespaces: Sequence[str], grace: float = 3.0) -> list[int]:
    """SIGCONT+SIGTERM every process in the namespaces, SIGKILL what is left after
    ``grace`` seconds. Returns the pids found."""
    found = pids_in(namespaces)
    for pid, ns in found.items():
        signal_in(ns, pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        signal_in(ns, pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in found):
        time.sleep(0.05)
    for pid, ns in pids_in(namespaces).items():
        signal_in(ns, pid, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and pids_in(namespaces):
        time.sleep(0.05)
    return sorted(found)


def spawn(ns: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in namespace ``ns`` in its own session, output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            in_ns(ns, *argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    return proc.pid
