"""Network namespaces and the processes in them, for the lab, the sandbox and the tests.

Namespaces are the named ones of ``ip netns`` (``/run/netns/NAME``). A namespace is
told apart by the (device, inode) of its nsfs file, as ``/proc/PID/ns/net`` reports it;
a namespace whose name is gone (deleted while processes still hold it) can still be
given by that pair. Wherever a namespace is expected, its name or its pair will do.

Processes are found and signalled by pid, and only after checking that the pid's
network namespace is the one meant: the PID namespace is shared, so ``ps -C`` and
``killall`` would see every namespace's and the host's daemons. A zombie is not
alive (it has exited; its parent has not collected it yet).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

NETNS_DIR = Path("/run/netns")

NsId = tuple[int, int]  # (st_dev, st_ino) of the namespace's nsfs file
Where = str | NsId  # a namespace: its name, or its (device, inode)


class NetnsError(RuntimeError):
    """A namespace or process operation failed; the message says what and what to do."""


# ------------------------------------------------------------------------ commands


def run(cmd: Sequence[str], *, check: bool = True, timeout: float = 30) -> str:
    """Run a command, return its output; on failure raise NetnsError with its output."""
    res = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise NetnsError(
            f"`{' '.join(cmd)}` failed (exit {res.returncode}): {(res.stderr or res.stdout).strip()}"
        )
    return res.stdout


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    """``ip [-n NS] ARGS``: its output."""
    return run(["ip", *(["-n", ns] if ns else []), *args], check=check)


def in_ns(ns: str, *cmd: str) -> list[str]:
    """The argv that runs ``cmd`` inside namespace ``ns``."""
    return ["ip", "netns", "exec", ns, *cmd]


# ---------------------------------------------------------------------- namespaces


def path(ns: str) -> Path:
    return NETNS_DIR / ns


def exists(ns: str) -> bool:
    return path(ns).exists()


def listed(prefix: str) -> list[str]:
    """Namespaces whose name starts with ``prefix``."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def add(ns: str, *, ipv6: bool = True) -> None:
    """Create a namespace with loopback up. ``ipv6=False`` turns IPv6 off in it (no
    router adverts, no duplicate address detection on its links)."""
    ip("netns", "add", ns)
    ip("link", "set", "lo", "up", ns=ns)
    if not ipv6:
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
    """Delete a namespace's name (no error if there is none)."""
    ip("netns", "delete", ns, check=False)


def add_bridge(
    ns: str, name: str, *, address: str | None = None, options: Sequence[str] = ()
) -> None:
    """A bridge in ``ns``, up, with ``options`` (``ip link set NAME type bridge ...``)
    and optionally an address (``A.B.C.D/N``)."""
    ip("link", "add", name, "type", "bridge", ns=ns)
    if options:
        ip("link", "set", name, "type", "bridge", *options, ns=ns)
    if address:
        ip("addr", "add", address, "dev", name, ns=ns)
    ip("link", "set", name, "up", ns=ns)


def add_veth(
    ns: str,
    name: str,
    peer_ns: str,
    peer: str,
    *,
    mac: str | None = None,
    address: str | None = None,
    master: str | None = None,
) -> None:
    """A veth pair: ``name`` in ``ns`` (with ``mac`` and ``address`` when given), its
    ``peer`` in ``peer_ns`` (enslaved to bridge ``master`` there when given); both up."""
    ip("link", "add", name, "netns", ns, *(["address", mac] if mac else []), "type", "veth",
       "peer", "name", peer, "netns", peer_ns)  # fmt: skip
    ip("link", "set", peer, *(["master", master] if master else []), "up", ns=peer_ns)
    if address:
        ip("addr", "add", address, "dev", name, ns=ns)
    ip("link", "set", name, "up", ns=ns)


def link_up(ns: str, name: str) -> bool:
    """The link ``name`` in ``ns`` is administratively up."""
    out = ip("-o", "link", "show", name, ns=ns, check=False)
    return "state UP" in out or ",UP" in out.split(">")[0]


def has_address(ns: str, dev: str, address: str) -> bool:
    """``dev`` in ``ns`` carries the IPv4 ``address`` (any prefix length)."""
    out = ip("-4", "-o", "addr", "show", "dev", dev, ns=ns, check=False)
    return f"inet {address}/" in out


# ------------------------------------------------------------------ identification


def ns_id(ns: Where) -> NsId | None:
    """(device, inode) of a namespace given by name (None: no such name), or the pair
    itself."""
    if not isinstance(ns, str):
        return ns
    try:
        st = os.stat(path(ns))
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pid_ns_id(pid: int) -> NsId | None:
    """(device, inode) of the process's network namespace (None: no such process, or
    a zombie: it has left its namespaces)."""
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pid_state(pid: int) -> str | None:
    """The process's state letter (R, S, D, T, Z, ...), None if there is no such pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    state = pid_state(pid)
    return state is not None and state != "Z"


def pid_in(pid: int | None, ns: Where | None) -> bool:
    """``pid`` is a live process in namespace ``ns``."""
    if pid is None or ns is None:
        return False
    want = ns_id(ns)
    return want is not None and pid_ns_id(pid) == want and pid_alive(pid)


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def read_pid(pidfile: Path) -> int | None:
    """The pid a pid file names (None: no file, or not a pid)."""
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pids_in(namespaces: Iterable[Where]) -> dict[int, Where]:
    """Every process whose network namespace is one of ``namespaces`` (pid -> the
    namespace as given)."""
    wanted = {i: ns for ns in namespaces if (i := ns_id(ns)) is not None}
    out: dict[int, Where] = {}
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


def processes(ns: Where) -> list[tuple[int, str, str]]:
    """(pid, command, state letter) of every process in ``ns``, by pid."""
    out = []
    for pid in sorted(pids_in([ns])):
        state = pid_state(pid)
        if state is not None:
            out.append((pid, comm(pid), state))
    return out


# ------------------------------------------------------------------------- control


def signal_in(ns: Where, pid: int, sig: int) -> bool:
    """Send ``sig`` to ``pid`` if it runs in namespace ``ns``; False if it does not."""
    want = ns_id(ns)
    if want is None or pid_ns_id(pid) != want:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _ending(pid: int, ns: Where) -> bool:
    """``pid`` is alive in ``ns``, or alive and on its way out: a dying process leaves
    its namespaces before it becomes a zombie."""
    return pid_alive(pid) and pid_ns_id(pid) in (ns_id(ns), None)


def _wait_ended(pids: Mapping[int, Where], timeout: float, *namespaces: Where) -> list[int]:
    """Wait up to ``timeout`` seconds for ``pids`` to end (and ``namespaces`` to be
    empty); the pids not ended."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p, ns in pids.items() if _ending(p, ns)]
        if not (left or pids_in(namespaces)) or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def terminate(
    ns: Where, pids: Iterable[int], grace: float = 3.0, sig: int = signal.SIGTERM
) -> list[int]:
    """End ``pids`` that run in ``ns``: SIGCONT (a stopped process cannot handle a
    signal) and ``sig``, then after ``grace`` seconds SIGKILL to those still there, and
    wait (up to 2 s) for them to end. Pids outside ``ns`` are left alone. Returns the
    pids that needed SIGKILL."""
    targets = {p: ns for p in pids if pid_in(p, ns)}
    for pid in targets:
        signal_in(ns, pid, signal.SIGCONT)
        signal_in(ns, pid, sig)
    killed = [p for p in _wait_ended(targets, grace) if signal_in(ns, p, signal.SIGKILL)]
    _wait_ended(targets, 2.0)
    return killed


@dataclass
class Ended:
    """What :func:`kill_all_in` found in the namespaces and what needed SIGKILL."""

    found: list[int] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)


def kill_all_in(namespaces: Sequence[Where], grace: float = 3.0) -> Ended:
    """SIGCONT+SIGTERM every process in the namespaces, SIGKILL whatever is in them
    after ``grace`` seconds (also what started meanwhile), then wait (up to 2 s) for
    them to end and the namespaces to be empty."""
    found = pids_in(namespaces)
    for pid, ns in found.items():
        signal_in(ns, pid, signal.SIGCONT)
        signal_in(ns, pid, signal.SIGTERM)
    _wait_ended(found, grace)
    rest = pids_in(namespaces)
    killed = [pid for pid, ns in rest.items() if signal_in(ns, pid, signal.SIGKILL)]
    _wait_ended(found | rest, 2.0, *namespaces)
    return Ended(sorted(found), sorted(killed))


def spawn(ns: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in namespace ``ns`` in its own session, output to ``log``; its pid
    (``ip netns exec`` execs the command: the pid is the command's)."""
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


# -------------------------------------------------------------------------- holder


class Holder:
    """A fresh network namespace plus one private mount namespace, held open by a
    sleeping process; commands run in both (``nsenter``), so mounts made there stay
    out of the host's mount namespace and nothing listens in the root network one.

    ``mounts``: argv of mount commands run in the holder's mount namespace, in order;
    ``addresses``: ``A.B.C.D/N`` put on its ``lo``. ``close`` ends every process in
    the namespace and deletes it."""

    def __init__(
        self,
        prefix: str,
        *,
        mounts: Sequence[Sequence[str]] = (),
        addresses: Sequence[str] = (),
        lifetime: int = 900,
    ):
        self.ns = f"{prefix}{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen | None = None
        add(self.ns)
        try:
            for a in addresses:
                ip("addr", "add", a, "dev", "lo", ns=self.ns)
            self.proc = subprocess.Popen(
                in_ns(self.ns, "unshare", "-m", "--propagation", "private", "sleep", f"{lifetime}"),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            # ip netns exec and unshare exec in turn: the pid becomes the sleeper's
            # once its mount namespace is made.
            deadline = time.monotonic() + 10
            while comm(self.proc.pid) != "sleep" or not pid_in(self.proc.pid, self.ns):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise NetnsError(f"the holder of {self.ns} did not start")
                time.sleep(0.01)
            for m in mounts:
                run(self.argv(*m))
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def argv(self, *cmd: str) -> list[str]:
        """The argv that runs ``cmd`` in the holder's network and mount namespaces."""
        return ["nsenter", "-t", str(self.pid), "-m", "-n", *cmd]

    def run(
        self, *cmd: str, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside; output captured as text, no exception on failure."""
        return subprocess.run(
            self.argv(*cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )

    def path(self, inside: str) -> Path:
        """A file as the holder's mount namespace sees it."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

    def stop(self, pidfile: Path, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        """End the process a pid file names, if it runs in this namespace (``sig``,
        then SIGKILL after ``grace`` seconds); the pid file is removed."""
        pid = read_pid(pidfile)
        if pid is not None:
            terminate(self.ns, [pid], grace=grace, sig=sig)
        pidfile.unlink(missing_ok=True)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        kill_all_in([self.ns], grace=3.0)
        delete(self.ns)
