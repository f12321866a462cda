"""The lab's network: namespaces wired to one bridge, and their teardown.

A switch namespace holds the bridge; every member (a node, the client) is a namespace
of its own, IPv6 off, with one veth whose peer is a port of the bridge. Nothing is
added to the root namespace. The ``pids`` file records every process the lab started
with its namespace's (device, inode): a process whose namespace has lost its name is
still found, and killed only if it is still in that namespace.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from support import netns

BRIDGE = "br0"
IFACE = "eth0"


@dataclass(frozen=True)
class Member:
    ns: str
    port: str  # the peer of its IFACE: a port of the bridge, in the switch namespace
    address: str  # A.B.C.D/N on its IFACE
    mac: str


def wire(switch: str, members: Iterable[Member]) -> None:
    netns.add(switch, ipv6=False)
    # No STP (ports forward at once) and no multicast snooping (tutorial VRRP
    # multicast reaches every port); short ageing not needed: GARPs update the FDB.
    netns.add_bridge(switch, BRIDGE, options=("stp_state", "0", "mcast_snooping", "0"))
    for m in members:
        netns.add(m.ns, ipv6=False)
        netns.add_veth(m.ns, IFACE, switch, m.port, mac=m.mac, address=m.address, master=BRIDGE)


def port_up(switch: str, port: str) -> bool:
    return netns.link_up(switch, port)


def set_port(switch: str, port: str, up: bool) -> None:
    netns.ip("link", "set", port, "up" if up else "down", ns=switch)


def holds(ns: str, address: str) -> bool:
    """The member ``ns`` has ``address`` on its IFACE (an address on lo does not count)."""
    return netns.exists(ns) and netns.has_address(ns, IFACE, address)


def record(pids_file: Path, ns: str, pid: int, what: str) -> None:
    """Add a started process to the ``pids`` file, with its namespace's (device, inode)."""
    nid = netns.ns_id(ns)
    with open(pids_file, "a") as f:
        f.write(f"{pid} {nid[0] if nid else 0} {nid[1] if nid else 0} {ns} {what}\n")


def teardown(namespaces: Iterable[str], pids_file: Path) -> set[int]:
    """End every process in the namespaces and every recorded one still in the
    namespace it was started in, then delete the namespaces; the pids ended."""
    namespaces = sorted(namespaces)
    removed = set(netns.kill_all_in(namespaces).found)
    # Recorded pids whose namespace no longer has a name: still killed only if
    # /proc/PID/ns/net is the namespace they were started in.
    if pids_file.exists():
        for line in pids_file.read_text().splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            pid, dev, ino = int(parts[0]), int(parts[1]), int(parts[2])
            if ino and netns.signal_in((dev, ino), pid, signal.SIGKILL):
                removed.add(pid)
    for ns in namespaces:
        netns.delete(ns)
    left = [ns for ns in namespaces if netns.exists(ns)]
    if left:
        raise LabError(f"namespaces still present after down: {', '.join(left)}")
    return removed
