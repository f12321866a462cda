"""The end-to-end figures (``bench.e2e --pulumi``, docs/figures/e2e.json): a real
``pulumi up`` in the sandbox, phase by phase, its total, and the benchmark table's
sentence."""

from __future__ import annotations

from typing import Any

from bench.figures_files import duration, load


def e2e_summary(d: dict[str, Any]) -> str:
    total = next(p["seconds"] for p in d["phases"] if p["phase"] == "e2e total")
    up = next(p["seconds"] for p in d["phases"] if p["phase"] == "pulumi up total")
    return (
        f"the phases of a real `pulumi up` in the sandbox: `up` {duration(up)}, the whole run "
        f"{duration(total)} (four VMs under emulation, {d['machine']}; {d['measured']})"
    )


def e2e_total() -> list[str]:
    d = load("e2e")
    total = next(p["seconds"] for p in d["phases"] if p["phase"] == "e2e total")
    return [f"{duration(total)} ({d['measured']}, {d['machine']})"]


def e2e_phases() -> list[str]:
    d = load("e2e")
    out = ["| phase | time | notes |", "|---|---|---|"]
    for p in d["phases"]:
        out.append(
            f"| {p['phase']} | {p.get('text') or duration(p['seconds'])} | {p.get('notes', '')} |"
        )
    return out
