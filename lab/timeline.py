"""A failover, drawn: every request of a scenario as a mark over time, with what the
nodes did meanwhile.

:func:`collect` reads what the nodes recorded during a scenario (each load balancer's
VRRP transitions, written by vrrp_state.sh, and its health watcher's verdicts and
holds, printed by nginx_watch.sh as "EPOCH WHAT" lines) into :class:`Event`s on the
scenario's clock (seconds from the fault). :func:`write` saves one scenario as JSON
(the raw requests and the events) and draws it as PNG and SVG with matplotlib
(imported there only: the rest of the lab does not need it).

Top panel: each request at its start time, at the height of its latency, coloured by
who answered (load balancer and Tomcat) or how it failed. Bottom panel: one lane per
load balancer with its live VRRP state for the watched VIP (MASTER = holds the VIP),
its watcher's verdicts and holds, and the fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.probe import Request


@dataclass(frozen=True)
class Event:
    t: float  # seconds from the fault
    node: str  # a load balancer's name, or "" for the fault itself
    kind: str  # "fault", "vrrp", "watch"
    what: str  # the state (MASTER, BACKUP, FAULT, STOP), the watcher's line, the fault


def vrrp_events(
    path: Path, node: str, instance: str, t_zero: float, since: float = float("-inf")
) -> list[Event]:
    """A node's VRRP transitions for ``instance`` ("EPOCH INSTANCE STATE PRIORITY"
    lines), relative to ``t_zero`` (the fault's wall-clock time): those from ``since``
    on, and the last one before it (the state the node was in then)."""
    out: list[Event] = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[1] == instance:
            try:
                out.append(Event(float(parts[0]) - t_zero, node, "vrrp", parts[2]))
            except ValueError:
                continue
    before = [e for e in out if e.t < since]
    return before[-1:] + [e for e in out if e.t >= since]


def watch_events(path: Path, node: str, t_zero: float, since: float) -> list[Event]:
    """The watcher's verdicts and holds ("EPOCH WHAT" lines) from ``since`` seconds
    (relative to the fault) on."""
    out = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        head, _, what = line.partition(" ")
        try:
            t = float(head) - t_zero
        except ValueError:
            continue
        if t >= since and (what.startswith("verdict") or what.startswith("hold")):
            out.append(Event(t, node, "watch", what))
    return out


def outcome(r: Request, master: str) -> str:
    """The colour class of a request: who answered, or how it failed."""
    if r.ok:
        role = "MASTER" if r.lb == master else "BACKUP"
        return f"{role} -> {r.backend}"
    if r.error == "timeout":
        return "failed: no answer in time"
    if r.error:
        return f"failed: {r.error}"
    return f"failed: HTTP {r.status}"


def record(
    *,
    scenario: str,
    title: str,
    profile: str,
    holder: str,
    primary: str,
    lbs: list[str],
    fault_at: float,
    requests: Iterable[Request],
    events: Iterable[Event],
    summary: dict[str, object],
) -> dict[str, object]:
    """One scenario as plain data (what the JSON file holds): times in seconds from
    the fault."""
    return {
        "scenario": scenario,
        "title": title,
        "profile": profile,
        "master": holder,
        "primary": primary,
        "load_balancers": lbs,
        "summary": summary,
        "requests": [
            {
                "t0": round(r.t0 - fault_at, 4),
                "t1": round(r.t1 - fault_at, 4),
                "status": r.status,
                "lb": r.lb,
                "backend": r.backend,
                "error": r.error,
                "outcome": outcome(r, holder),
            }
            for r in sorted(requests, key=lambda r: r.t0)
        ],
        "events": [asdict(e) for e in sorted(events, key=lambda e: e.t)],
    }


STATE_COLOURS = {"MASTER": "#2e7d32", "BACKUP": "#b0bec5", "FAULT": "#c62828", "STOP": "#424242"}
# Answers: (role of the load balancer, primary Tomcat or not) -> colour.
OK_COLOURS = {
    ("MASTER", True): "#1565c0",
    ("BACKUP", True): "#2e7d32",
    ("MASTER", False): "#64b5f6",
    ("BACKUP", False): "#9ccc65",
}
FAIL_COLOURS = {
    "failed: no answer in time": "#d50000",
    "failed: ConnectionRefusedError": "#ff6d00",
    "failed: ConnectionResetError": "#c51162",
}


def write(data: dict[str, object], base: Path) -> list[Path]:
    """``base``.json, ``base``.png and ``base``.svg; returns their paths."""
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".json")]
    paths[0].write_text(json.dumps(data, indent=1) + "\n")
    for suffix in (".png", ".svg"):
        paths.append(base.with_suffix(suffix))
    draw(data, paths[1:])
    return paths


def redraw(json_path: Path, *suffixes: str) -> list[Path]:
    """Draw a saved timeline again (``.png``, ``.svg`` beside it by default)."""
    data = json.loads(json_path.read_text())
    paths = [json_path.with_suffix(s) for s in (suffixes or (".png", ".svg"))]
    draw(data, paths)
    return paths


def draw(data: dict[str, object], paths: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    requests: list[dict] = data["requests"]  # type: ignore[assignment]
    events: list[dict] = data["events"]  # type: ignore[assignment]
    lbs: list[str] = data["load_balancers"]  # type: ignore[assignment]
    summary: dict = data["summary"]  # type: ignore[assignment]
    t_min = min([r["t0"] for r in requests] + [0.0]) - 0.1
    t_max = max([r["t1"] for r in requests] + [e["t"] for e in events if e["t"] < 60] + [1.0])
    t_max += 0.1

    fig, (ax, lanes) = plt.subplots(
        2,
        1,
        figsize=(9, 4.8),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1.3]},
        layout="constrained",
    )
    classes = sorted(
        {r["outcome"] for r in requests},
        key=lambda c: (c.startswith("failed"), not c.startswith("MASTER"), c),
    )
    for c in classes:
        rs = [r for r in requests if r["outcome"] == c]
        if c.startswith("failed"):
            colour, marker = FAIL_COLOURS.get(c, "#6d4c41"), "x"
        else:
            role = c.split()[0]
            colour = OK_COLOURS.get((role, rs[0]["backend"] == data["primary"]), "#ef6c00")
            marker = "o"
        ax.scatter(
            [r["t0"] for r in rs],
            [max(r["t1"] - r["t0"], 0.0005) for r in rs],
            s=14 if marker == "o" else 22,
            c=colour,
            marker=marker,
            linewidths=1.0 if marker == "x" else 0,
            label=f"{c} ({len(rs)})",
        )
    ax.set_yscale("log")
    ax.set_ylabel("latency (s)")
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(
        f"{data['profile']}: {data['title']}\n{summary.get('failed', 0)} failed of "
        f"{len(requests)}; time to answer: {summary.get('time_to_answer', '?')}; VIP moved: "
        f"{summary.get('vip_moved', '-')}; worst latency {summary.get('worst_latency', '?')}",
        fontsize=9,
    )

    # One lane per load balancer: VRRP state spans, watcher events, the fault.
    for i, lb in enumerate(lbs):
        y = len(lbs) - 1 - i
        states = [e for e in events if e["kind"] == "vrrp" and e["node"] == lb]
        before = [e for e in states if e["t"] <= t_min]
        spans = ([{"t": t_min, "what": before[-1]["what"]}] if before else []) + [
            e for e in states if e["t"] > t_min
        ]
        for j, e in enumerate(spans):
            end = spans[j + 1]["t"] if j + 1 < len(spans) else t_max
            lanes.barh(
                y,
                end - e["t"],
                left=e["t"],
                height=0.5,
                color=STATE_COLOURS.get(e["what"], "#9e9e9e"),
                edgecolor="white",
                linewidth=0.5,
            )
            if end - e["t"] > (t_max - t_min) * 0.06:
                label = "MASTER (VIP)" if e["what"] == "MASTER" else e["what"]
                lanes.text(
                    e["t"] + 0.02,
                    y,
                    label,
                    va="center",
                    fontsize=7,
                    color="white" if e["what"] in ("MASTER", "FAULT", "STOP") else "black",
                )
        for e in events:
            if e["kind"] != "watch" or e["node"] != lb or not (t_min <= e["t"] <= t_max):
                continue
            what = e["what"]
            marker = "v" if what.startswith("verdict down") else "^"
            if what.startswith("hold"):
                marker = "D" if what.startswith("hold on") else "d"
            lanes.scatter([e["t"]], [y + 0.38], marker=marker, s=22, c="black", zorder=3)
    lanes.set_yticks(range(len(lbs)), list(reversed(lbs)), fontsize=8)
    lanes.set_ylim(-0.6, len(lbs) - 0.1 + 0.4)
    lanes.axvline(0, color="black", linestyle="--", linewidth=1)
    fault = next((e["what"] for e in events if e["kind"] == "fault"), "fault")
    lanes.text(0.02, len(lbs) - 0.15, f"fault: {fault}", fontsize=7, va="bottom")
    lanes.set_xlabel(
        "seconds from the fault  (lanes: VRRP state of the VIP; ▼ watcher: down, ▲ up, "
        "◆ hold on, ◇ hold off)",
        fontsize=8,
    )
    lanes.set_xlim(t_min, t_max)
    for p in paths:
        fig.savefig(p, dpi=80, metadata={"Date": None} if p.suffix == ".svg" else None)
    plt.close(fig)
