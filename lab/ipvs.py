"""The lab's IPVS state: each director's table (``/proc/net/ip_vs``, per network
namespace; read cheaply through keepalived's ``/proc/PID/net`` while a scenario runs),
each VIP's fwmark and directors, and IPVS's ``expire_nodest_conn`` on every director."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lab.actions import keepalived_pid
from lab.lab import Lab
from lab.nodes import LabNode
from nginx_ha.render.keepalived import lvs_fwmark
from support import netns

EXPIRE_NODEST_CONN = "/proc/sys/net/ipv4/vs/expire_nodest_conn"


def ipvs_table(lab: Lab, lb: LabNode) -> dict[int, list[str]]:
    """The IPVS table of ``lb``'s namespace: fwmark -> its real servers' addresses
    (``/proc/net/ip_vs`` is per network namespace)."""
    text = netns.run(netns.in_ns(lb.ns, "cat", "/proc/net/ip_vs"))
    return parse_ipvs(text)


def ipvs_reader(lab: Lab, lb: LabNode) -> Callable[[], dict[int, list[str]]]:
    """A cheap repeated read of ``lb``'s IPVS table while a scenario runs: through its
    keepalived's ``/proc/PID/net`` (that process's network namespace), without starting
    a process per read on an emulated CPU the requests share; ``ipvs_table`` when
    keepalived is not running."""
    pid = keepalived_pid(lab, lb)
    if pid is None:
        return lambda: ipvs_table(lab, lb)
    path = Path(f"/proc/{pid}/net/ip_vs")

    def read() -> dict[int, list[str]]:
        try:
            return parse_ipvs(path.read_text())
        except OSError:  # keepalived gone: the namespace's table through ip netns
            return ipvs_table(lab, lb)

    return read


def parse_ipvs(text: str) -> dict[int, list[str]]:
    """``/proc/net/ip_vs`` as fwmark -> real server addresses (hex in the file)."""
    out: dict[int, list[str]] = {}
    current: int | None = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "FWM":
            current = int(parts[1], 16)
            out[current] = []
        elif len(parts) >= 2 and parts[0] == "->" and current is not None and ":" in parts[1]:
            addr = parts[1].split(":")[0]
            if len(addr) == 8:
                out[current].append(".".join(str(int(addr[i : i + 2], 16)) for i in (0, 2, 4, 6)))
        elif parts and parts[0] in ("TCP", "UDP", "SCTP"):
            current = None
    return out


def set_expire_nodest_conn(lab: Lab, value: int) -> None:
    """Every director's IPVS ``expire_nodest_conn`` (a comparison run: lvs_realserver.sh
    sets 1, the kernel's default is 0)."""
    for lb in lab.lbs:
        netns.run(
            netns.in_ns(lb.ns, "sysctl", "-q", "-w", f"net.ipv4.vs.expire_nodest_conn={value}")
        )


def ipvs_sysctls(lab: Lab) -> dict[str, str]:
    """Every load balancer's IPVS ``expire_nodest_conn`` (lvs_realserver.sh sets 1 in
    its namespace; "missing" where ip_vs is not loaded)."""
    out: dict[str, str] = {}
    for lb in lab.lbs:
        text = netns.run(netns.in_ns(lb.ns, "cat", EXPIRE_NODEST_CONN), check=False)
        out[lb.node.name] = text.strip() or "missing"
    return out


def fwmarks(lab: Lab) -> dict[str, int]:
    """VIP -> the fwmark of its virtual service (the rendered config's)."""
    return {str(i.vip): lvs_fwmark(i.vrid) for i in lab.topo.instances}


def directors(lab: Lab) -> dict[str, list[str]]:
    """VIP -> the load balancers holding it on their LAN interface (the directors)."""
    return {vip: lab.vip_holders(vip) for vip in lab.vips}


def tables(lab: Lab) -> dict[str, dict[str, list[str]]]:
    """Every load balancer's IPVS table, VIP -> real servers (for the report)."""
    marks = fwmarks(lab)
    out: dict[str, dict[str, list[str]]] = {}
    for lb in lab.lbs:
        t = ipvs_table(lab, lb)
        out[lb.node.name] = {vip: sorted(t.get(m, [])) for vip, m in marks.items()}
    return out


def director_tables(lab: Lab) -> dict[str, list[str]]:
    """VIP -> the real servers in its current director's virtual service."""
    marks = fwmarks(lab)
    out: dict[str, list[str]] = {}
    for vip, holders in directors(lab).items():
        if len(holders) == 1 and lab.port_up(lab.nodes[holders[0]]):
            out[vip] = sorted(ipvs_table(lab, lab.nodes[holders[0]]).get(marks[vip], []))
    return out
