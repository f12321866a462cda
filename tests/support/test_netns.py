"""support.netns: processes found, signalled and ended by network namespace.

The namespace tests need root (they create namespaces named ``nhsup-...``, deleted at
the end); the rest run anywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from support import netns


def needs_root(test):
    """Marked like the other root tests; skipped, with the reason, when not root."""
    test = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces")(
        test
    )
    return pytest.mark.slow(pytest.mark.root(test))


def _wait_for(cond, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def make_ns():
    """A factory of fresh namespaces; every one made is emptied and deleted after."""
    made: list[str] = []

    def make() -> str:
        ns = f"nhsup-{uuid.uuid4().hex[:8]}"
        netns.add(ns)
        made.append(ns)
        return ns

    yield make
    netns.kill_all_in(made, grace=0.5)
    for ns in made:
        netns.delete(ns)


@pytest.fixture
def outside():
    """A process in the root namespace (the test's own)."""
    p = subprocess.Popen(["sleep", "300"])
    yield p
    p.kill()
    p.wait()


def _spawn(ns: str, tmp_path: Path, *argv: str, comm: str = "sleep") -> int:
    """Spawn in ``ns``; return once the process runs ``comm``."""
    pid = netns.spawn(ns, list(argv), tmp_path / "spawn.log")
    assert _wait_for(lambda: netns.comm(pid) == comm), f"{argv} did not start"
    return pid


# ---------------------------------------------------------------- no root needed


def test_read_pid(tmp_path):
    f = tmp_path / "x.pid"
    assert netns.read_pid(f) is None
    f.write_text("1234\n")
    assert netns.read_pid(f) == 1234
    f.write_text("not a pid\n")
    assert netns.read_pid(f) is None
    f.write_text("")
    assert netns.read_pid(f) is None


def test_a_zombie_is_not_alive_nor_in_any_namespace():
    child = subprocess.Popen(["true"])
    try:
        assert _wait_for(lambda: netns.pid_state(child.pid) == "Z")
        assert not netns.pid_alive(child.pid)
        assert netns.pid_ns_id(child.pid) is None
        ours = netns.pid_ns_id(os.getpid())
        assert ours is not None
        assert not netns.pid_in(child.pid, ours)
        assert child.pid not in netns.pids_in([ours])
    finally:
        child.wait()
    assert netns.pid_state(child.pid) is None
    assert not netns.pid_alive(child.pid)


def test_a_process_is_alive_in_its_own_namespace(outside):
    own = netns.pid_ns_id(os.getpid())
    assert own is not None
    assert netns.pid_alive(outside.pid)
    assert netns.pid_in(outside.pid, own)
    assert netns.ns_id(own) == own  # a (device, inode) stands for itself
    assert netns.ns_id(f"nhsup-missing-{uuid.uuid4().hex}") is None
    assert not netns.pid_in(outside.pid, f"nhsup-missing-{uuid.uuid4().hex}")
    assert not netns.pid_in(None, own)


# ------------------------------------------------------------------- root needed


@needs_root
def test_a_process_spawned_in_a_namespace_is_found_there_only(make_ns, tmp_path, outside):
    a, b = make_ns(), make_ns()
    assert netns.exists(a) and a in netns.listed("nhsup-")
    pid = _spawn(a, tmp_path, "sleep", "300")
    assert netns.pid_ns_id(pid) == netns.ns_id(a) != netns.ns_id(b)
    assert netns.pid_ns_id(pid) != netns.pid_ns_id(os.getpid())
    assert netns.pids_in([a]) == {pid: a}
    assert netns.pids_in([b]) == {}
    assert netns.pids_in([a, b]) == {pid: a}
    assert outside.pid not in netns.pids_in([a, b])
    assert netns.pid_in(pid, a) and not netns.pid_in(pid, b)
    assert netns.processes(a) == [(pid, "sleep", "S")]
    # The namespace's name deleted: still found by its (device, inode).
    ident = netns.ns_id(a)
    assert ident is not None
    netns.delete(a)
    assert not netns.exists(a)
    assert netns.pids_in([a]) == {}
    assert netns.pids_in([ident]) == {pid: ident}
    assert netns.kill_all_in([ident], grace=1).found == [pid]
    assert netns.pids_in([ident]) == {}
    # ended, not just out of the namespace (a dying process leaves it before it is a zombie)
    assert not netns.pid_alive(pid)


@needs_root
def test_signal_refused_for_a_pid_outside_the_namespace(make_ns, tmp_path, outside):
    a, b = make_ns(), make_ns()
    inside_b = _spawn(b, tmp_path, "sleep", "300")
    assert netns.signal_in(a, outside.pid, signal.SIGTERM) is False
    assert netns.signal_in(a, inside_b, signal.SIGTERM) is False
    assert netns.signal_in("nhsup-no-such-namespace", outside.pid, signal.SIGTERM) is False
    assert netns.terminate(a, [outside.pid, inside_b], grace=0.2) == []
    time.sleep(0.2)
    assert outside.poll() is None, "a process outside the namespace was signalled"
    assert netns.pid_alive(inside_b), "a process of another namespace was signalled"
    assert netns.signal_in(b, inside_b, signal.SIGTERM) is True
    assert _wait_for(lambda: not netns.pid_in(inside_b, b))


@needs_root
def test_terminate_kills_what_ignores_sigterm_after_the_grace(make_ns, tmp_path):
    ns = make_ns()
    # An ignored signal stays ignored across exec: this sleep ignores SIGTERM.
    stubborn = _spawn(ns, tmp_path, "sh", "-c", "trap '' TERM; exec sleep 300")
    polite = _spawn(ns, tmp_path, "sleep", "301")
    t0 = time.monotonic()
    killed = netns.terminate(ns, [stubborn, polite], grace=1.0)
    took = time.monotonic() - t0
    assert killed == [stubborn]
    assert took >= 1.0
    assert not netns.pid_in(stubborn, ns) and not netns.pid_in(polite, ns)
    assert netns.pids_in([ns]) == {}


@needs_root
def test_kill_all_in_ends_stopped_and_stubborn_processes_and_only_those(make_ns, tmp_path, outside):
    a, b = make_ns(), make_ns()
    stopped = _spawn(a, tmp_path, "sleep", "300")
    os.kill(stopped, signal.SIGSTOP)
    assert _wait_for(lambda: netns.pid_state(stopped) == "T")
    stubborn = _spawn(a, tmp_path, "sh", "-c", "trap '' TERM; exec sleep 301")
    other = _spawn(b, tmp_path, "sleep", "302")
    ended = netns.kill_all_in([a], grace=0.5)
    assert ended.found == sorted([stopped, stubborn])
    assert ended.killed == [stubborn]
    assert netns.pids_in([a]) == {}
    assert netns.pid_in(other, b)
    assert outside.poll() is None


@needs_root
def test_network_helpers_wire_a_bridge_and_a_veth(make_ns):
    switch, node = make_ns(), make_ns()
    netns.add_bridge(switch, "br0", options=("stp_state", "0"))
    netns.add_veth(
        node, "eth0", switch, "p0", mac="52:54:00:00:00:01", address="10.9.8.2/24", master="br0"
    )
    netns.add_bridge(switch, "br1", address="10.9.8.1/24")
    assert netns.link_up(switch, "p0") and netns.link_up(node, "eth0")
    assert netns.has_address(node, "eth0", "10.9.8.2")
    assert not netns.has_address(node, "eth0", "10.9.8.1")
    assert "master br0" in netns.ip("-o", "link", "show", "p0", ns=switch)
    assert "52:54:00:00:00:01" in netns.ip("-o", "link", "show", "eth0", ns=node)
    netns.ip("link", "set", "p0", "down", ns=switch)
    assert not netns.link_up(switch, "p0")
    with pytest.raises(netns.NetnsError, match="failed"):
        netns.ip("link", "show", "no-such-link", ns=node)


@needs_root
def test_holder_mounts_stay_private_and_close_ends_everything(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "marker").write_text("inside\n")
    target = tmp_path / "target"
    target.mkdir()
    holder = netns.Holder(
        "nhsup-",
        mounts=[["mount", "--bind", str(scratch), str(target)]],
        addresses=["10.9.7.1/32"],
    )
    ns, ident = holder.ns, netns.ns_id(holder.ns)
    assert ident is not None
    try:
        assert netns.pid_in(holder.pid, ns)
        assert netns.pid_ns_id(holder.pid) != netns.pid_ns_id(os.getpid())
        seen = holder.run("cat", str(target / "marker"))
        assert seen.returncode == 0 and seen.stdout == "inside\n"
        assert holder.path(str(target / "marker")).read_text() == "inside\n"
        assert not (target / "marker").exists(), "the mount leaked into the host"
        assert netns.has_address(ns, "lo", "10.9.7.1")
        pidfile = tmp_path / "x.pid"
        daemon = _spawn(ns, tmp_path, "sleep", "303")
        pidfile.write_text(f"{daemon}\n")
        holder.stop(pidfile)
        assert not netns.pid_in(daemon, ns) and not pidfile.exists()
        left = _spawn(ns, tmp_path, "sleep", "304")  # left for close
    finally:
        holder.close()
    assert not netns.exists(ns)
    assert holder.proc is not None and holder.proc.poll() is not None
    assert _wait_for(lambda: not netns.pid_alive(left))
    assert netns.pids_in([ident]) == {}
