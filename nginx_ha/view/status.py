"""The live view of a stack (pure): what each node reports, who holds each VIP.

Used by ``python -m nginx_ha status`` (over SSH, nginx_ha/ops/status.py) and by the
lab's ``status`` (from its nodes' files): both hand the text they read to the parsers
here and print :func:`format_status` (or :func:`status_json`).

What a load balancer keeps about VRRP (``templates/keepalived/vrrp_state.sh``, run by
keepalived on every transition), under ``Layout.vrrp_state_dir``:

- ``all``: one line per instance, ``INSTANCE STATE SINCE PRIORITY``;
- ``transitions``: the last lines of ``EPOCH INSTANCE STATE PRIORITY``, newest last;

and the health watcher's verdict in ``Layout.health_file`` (0 healthy, 1 down). A node
reports those, its units' states and its IPv4 addresses through
``templates/scripts/status.sh`` (:func:`probe_script`), one ``== section`` each.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from nginx_ha.render.params import script_text, status_params
from nginx_ha.render.templates import script
from nginx_ha.topology import Layout, NodeKind
from nginx_ha.topology.kinds import KEEPALIVED_UNIT, NGINX_UNIT, TOMCAT_UNIT, WATCH_UNIT
from nginx_ha.topology.plans import VRRP_INSTANCE_NAME, TlsPlan
from nginx_ha.view.certificates import (
    ServedCertificate,
    certificate_rows,
    certificate_warnings,
    parse_certificate,
)

PROBE_SCRIPT = "status.sh"
# Column titles of the units, in the table's order.
UNIT_TITLES = {
    KEEPALIVED_UNIT: "keepalived",
    NGINX_UNIT: "nginx",
    WATCH_UNIT: "watcher",
    TOMCAT_UNIT: "tomcat",
}
TRANSITIONS_SHOWN = 10  # the newest transitions of the whole stack in the table


# ------------------------------------------------------------------- the probe


def probe_script(
    kind: NodeKind,
    layout: Layout,
    transitions: int = TRANSITIONS_SHOWN,
    systemctl: str = "systemctl",
    tls: TlsPlan | None = None,
    app_descriptor: str | None = None,
) -> str:
    """The read-only script a node of ``kind`` runs for ``status`` (the preamble, its
    parameters, the script)."""
    return script_text(
        script(PROBE_SCRIPT),
        status_params(kind, layout, transitions, systemctl, tls, app_descriptor),
    )


# ----------------------------------------------------------------- the parsers


@dataclass(frozen=True)
class InstanceState:
    """keepalived's live state of one VRRP instance on one node."""

    instance: str
    state: str  # MASTER, BACKUP, FAULT, STOP (keepalived's words)
    since: float | None  # seconds since the epoch, on the node's clock
    priority: int | None


@dataclass(frozen=True)
class Transition:
    at: float  # seconds since the epoch, on the node's clock
    instance: str
    state: str
    priority: int | None
    node: str = ""


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_vrrp_all(text: str) -> dict[str, InstanceState]:
    """The ``all`` file: ``INSTANCE STATE SINCE PRIORITY`` per line (malformed lines
    are skipped: the file is rewritten whole on each transition)."""
    out: dict[str, InstanceState] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        since = _float(parts[2]) if len(parts) > 2 else None
        priority = _int(parts[3]) if len(parts) > 3 else None
        out[parts[0]] = InstanceState(parts[0], parts[1], since, priority)
    return out


def parse_vrrp_instance(instance: str, text: str) -> InstanceState | None:
    """One instance's file: ``STATE SINCE PRIORITY``."""
    parts = text.split()
    if not parts:
        return None
    return InstanceState(
        instance,
        parts[0],
        _float(parts[1]) if len(parts) > 1 else None,
        _int(parts[2]) if len(parts) > 2 else None,
    )


def parse_transitions(text: str, node: str = "") -> list[Transition]:
    """The ``transitions`` file: ``EPOCH INSTANCE STATE PRIORITY`` per line, oldest first."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or (at := _float(parts[0])) is None:
            continue
        priority = _int(parts[3]) if len(parts) > 3 else None
        out.append(Transition(at, parts[1], parts[2], priority, node))
    return out


def parse_health(text: str | None) -> str:
    """The watcher's verdict file: ``healthy`` (0), ``down`` (1), else ``unknown``."""
    value = (text or "").strip()
    return {"0": "healthy", "1": "down"}.get(value, "unknown")


def parse_sections(text: str) -> dict[str, str]:
    """status.sh's output: ``== name`` headers, each followed by its lines."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


# ---------------------------------------------------------------- the reports


@dataclass
class NodeReport:
    """What one node says about itself (or why it could not say it)."""

    name: str
    role: str  # MASTER/BACKUP for load balancers (configured), primary/backup for backends
    ip: str
    in_vrrp: bool  # the node takes part in VRRP (its kind's): it reports VRRP state
    error: str = ""  # why the node could not be asked (unreachable, host key refused...)
    now: float | None = None
    units: dict[str, str] = field(default_factory=dict)
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (interface, addr/len)
    vrrp: dict[str, InstanceState] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    health: str = "unknown"
    keepalived: str = ""
    # nginx-ha:tls: what its nginx serves (None: no TLS here, or nothing served)
    certificate: ServedCertificate | None = None
    tls: bool = False  # the node is meant to serve TLS (it reported a certificate section)
    # nginx-ha:app: the release its Tomcat serves (None: no app here, or none deployed)
    app: AppRelease | None = None
    reported: frozenset[str] = frozenset()  # the sections it answered

    @property
    def reachable(self) -> bool:
        return not self.error

    def holds(self, vip: str) -> bool | None:
        """Whether ``vip`` is on one of the node's interfaces (lo excluded); None
        when the node gave no addresses."""
        if not self.reachable:
            return None
        return any(addr.split("/")[0] == vip for _, addr in self.addresses)


def parse_probe(
    name: str, role: str, ip: str, in_vrrp: bool, text: str, error: str = ""
) -> NodeReport:
    """A NodeReport from status.sh's output (an incomplete output is an error: the
    node stopped answering half way)."""
    report = NodeReport(name, role, ip, in_vrrp, error=error)
    if error:
        return report
    sections = parse_sections(text)
    if "end" not in sections:
        report.error = "incomplete answer (no end section): " + (text.strip()[-200:] or "empty")
        return report
    report.now = _float(sections.get("now", "").strip())
    for line in sections.get("units", "").splitlines():
        unit, _, state = line.partition(" ")
        if unit:
            report.units[unit] = state.strip() or "unknown"
    for line in sections.get("addresses", "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            report.addresses.append((parts[0], parts[1]))
    if in_vrrp:
        report.vrrp = parse_vrrp_all(sections.get("vrrp", ""))
        report.transitions = parse_transitions(sections.get("transitions", ""), name)
        report.health = parse_health(sections.get("health"))
        report.keepalived = sections.get("keepalived", "").strip()
    if "certificate" in sections:
        report.tls = True
        report.certificate = parse_certificate(sections["certificate"])
    report.reported = frozenset(sections)
    if "app" in sections:
        report.app = parse_app(sections["app"])
    return report


@dataclass(frozen=True)
class AppRelease:
    """The application release a backend's Tomcat serves (status.sh's app section)."""

    release: str
    sha256: str | None
    version: str | None


def parse_app(text: str) -> AppRelease | None:
    parts = text.split()
    if len(parts) != 3:
        return None
    release, sha, version = parts
    return AppRelease(release, None if sha == "-" else sha, None if version == "-" else version)


# --------------------------------------------------------------- the stack view


@dataclass(frozen=True)
class VipView:
    vip: str
    vrid: int
    instance: str
    configured: str  # the load balancer meant to hold it
    holders: tuple[str, ...]  # whose interface has it (a VIP on two nodes: split brain)
    masters: tuple[str, ...]  # who says MASTER for its instance

    @property
    def verdict(self) -> str:
        if len(self.holders) > 1 or len(self.masters) > 1:
            return "SPLIT BRAIN"
        if not self.holders and not self.masters:
            return "nobody holds it"
        if self.holders and self.masters and self.holders != self.masters:
            return "state and address disagree"
        holder = next(iter(self.holders or self.masters))
        return "as configured" if holder == self.configured else "failed over"


@dataclass
class StackStatus:
    stack: str
    vips: list[VipView]
    nodes: list[NodeReport]
    now: float

    @property
    def transitions(self) -> list[Transition]:
        """Every load balancer's transitions, oldest first."""
        return sorted((t for n in self.nodes for t in n.transitions), key=lambda t: t.at)

    @property
    def certificate_warnings(self) -> list[str]:
        """nginx-ha:tls: what needs attention in the certificates the nodes serve."""
        return certificate_warnings(self.nodes, self.now)

    @property
    def healthy(self) -> bool:
        """Every node answered, every unit is active, every watcher says healthy, every
        VIP has exactly one holder, and (TLS) every load balancer serves the same
        certificate, far from its end."""
        return (
            all(n.reachable for n in self.nodes)
            and all(s == "active" for n in self.nodes for s in n.units.values())
            and all(n.health == "healthy" for n in self.nodes if n.in_vrrp)
            and all(len(v.holders or v.masters) == 1 for v in self.vips)
            and not self.certificate_warnings
        )


def instance_name(vrid: int) -> str:
    return VRRP_INSTANCE_NAME.format(vrid=vrid)


def build_status(
    stack: str,
    vips: Sequence[Mapping[str, object]],
    reports: Iterable[NodeReport],
    now: float | None = None,
) -> StackStatus:
    """The stack's view from its ``vips`` output (``[{vip, vrid, master}]``) and what
    each node reported."""
    nodes = list(reports)
    views = []
    for v in vips:
        vip, vrid = str(v["vip"]), int(str(v["vrid"]))
        inst = instance_name(vrid)
        holders = tuple(n.name for n in nodes if n.in_vrrp and n.holds(vip))
        masters = tuple(
            n.name
            for n in nodes
            if n.in_vrrp and n.vrrp.get(inst) and n.vrrp[inst].state == "MASTER"
        )
        views.append(VipView(vip, vrid, inst, str(v.get("master", "")), holders, masters))
    return StackStatus(stack, views, nodes, time.time() if now is None else now)


# ------------------------------------------------------------------ the output


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _version(text: str) -> str:
    """``Keepalived v2.2.7 (01/16,2022)`` → ``keepalived v2.2.7``; else as it is."""
    m = re.search(r"\bv\d+(\.\d+)+", text)
    return f"keepalived {m.group(0)}" if m else (text or "?")


def _clock(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) + f".{int(at * 100) % 100:02d}"


def _table(rows: list[list[str]]) -> list[str]:
    """Aligned columns; a shorter row (an unreachable node) runs on in its last cell."""
    n = len(rows[0])
    widths = [max(len(r[i]) for r in rows if len(r) > i and len(r) == n) for i in range(n)]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows
    ]


def format_status(status: StackStatus) -> str:
    """The table ``status`` prints: the VIPs and their holders, each node's VRRP state
    per VIP, its units and its watcher's verdict, then the last transitions."""
    out = [f"stack {status.stack}: " + ("healthy" if status.healthy else "NEEDS ATTENTION")]
    rows = [["VIP", "vrid", "held by", "meant for", ""]]
    for v in status.vips:
        held = ", ".join(v.holders or v.masters) or "nobody"
        rows.append([v.vip, str(v.vrid), held, v.configured, v.verdict])
    out += ["", *_table(rows)]

    order = list(UNIT_TITLES)
    units = sorted(
        dict.fromkeys(u for n in status.nodes for u in n.units),
        key=lambda u: order.index(u) if u in order else len(order),
    )
    head = ["node", "role", "address", *(v.instance for v in status.vips)]
    head += [UNIT_TITLES.get(u, u) for u in units] + ["health", "on PATH"]
    rows = [head]
    for n in status.nodes:
        row = [n.name, n.role, n.ip]
        if not n.reachable:
            rows.append(row + [f"unreachable: {n.error}"])
            continue
        for v in status.vips:
            st = n.vrrp.get(v.instance)
            if not n.in_vrrp:
                row.append("-")
            elif st is None:
                row.append("no state")
            else:
                age = _age((n.now or status.now) - st.since) if st.since else "?"
                row.append(f"{st.state} {st.priority if st.priority is not None else '?'} ({age})")
        row += [n.units.get(u, "-") for u in units]
        row += [
            n.health if n.in_vrrp else "-",
            _version(n.keepalived) if n.in_vrrp else "-",
        ]
        rows.append(row)
    out += ["", *_table(rows)]

    apps = [n for n in status.nodes if n.reachable and "app" in n.reported]
    if apps:
        rows = [["backend", "release", "version", "WAR sha256"]]
        for n in apps:
            r = n.app
            rows.append(
                [n.name, r.release, r.version or "-", r.sha256 or "-"] if r else [n.name, "none"]
            )
        out += ["", "application (what each backend's Tomcat serves):", *_table(rows)]
        releases = {(n.app.sha256 if n.app else None) for n in apps}
        if len(releases) > 1:
            out.append("  note: the backends serve different releases (a rollout stopped, or runs)")

    rows = certificate_rows(status.nodes, status.now)
    if rows:
        out += ["", "certificates (what each load balancer's nginx serves):", *_table(rows)]
        out += [f"  warning: {w}" for w in status.certificate_warnings]

    last = status.transitions[-TRANSITIONS_SHOWN:]
    out += ["", f"last transitions ({len(last)}, newest last):"]
    if not last:
        out.append("  none recorded")
    else:
        rows = [[_clock(t.at), t.node, t.instance, t.state, f"priority {t.priority}"] for t in last]
        out += _table(rows)
    return "\n".join(out)


def status_json(status: StackStatus) -> dict[str, object]:
    """The same view as plain data (``status --json``)."""
    return {
        "stack": status.stack,
        "healthy": status.healthy,
        "vips": [
            {
                "vip": v.vip,
                "vrid": v.vrid,
                "instance": v.instance,
                "meantFor": v.configured,
                "heldBy": list(v.holders or v.masters),
                "addressOn": list(v.holders),
                "masterState": list(v.masters),
                "verdict": v.verdict,
            }
            for v in status.vips
        ],
        "nodes": {
            n.name: {
                "role": n.role,
                "ip": n.ip,
                "reachable": n.reachable,
                "error": n.error or None,
                "units": n.units,
                "vrrp": {
                    k: {"state": s.state, "since": s.since, "priority": s.priority}
                    for k, s in n.vrrp.items()
                },
                "health": n.health if n.in_vrrp else None,
                "keepalived": n.keepalived or None,
                "app": (
                    {"release": n.app.release, "sha256": n.app.sha256, "version": n.app.version}
                    if n.app
                    else None
                ),
                "certificate": (
                    {
                        "subject": n.certificate.subject,
                        "sha256": n.certificate.sha256,
                        "notAfter": n.certificate.not_after,
                    }
                    if n.certificate
                    else None
                ),
            }
            for n in status.nodes
        },
        "certificateWarnings": status.certificate_warnings,
        "transitions": [
            {
                "at": t.at,
                "node": t.node,
                "instance": t.instance,
                "state": t.state,
                "priority": t.priority,
            }
            for t in status.transitions[-TRANSITIONS_SHOWN:]
        ],
    }
