"""The figures of the parts measured alone: the program's graph under mocks
(``bench.program``), the keepalived build (``bench.keepalived_build``) and nginx's
failover between backends (``bench.nginx_upstream``); each bench's sentence for the
benchmark table, and the docs' keepalived build line and nginx upstream table."""

from __future__ import annotations

from typing import Any

from bench.figures_files import duration, load


def program_summary(d: dict[str, Any]) -> str:
    sizes = ", ".join(f"{r['vms']} VMs {duration(r['program_s'])}" for r in d["rows"])
    pure = [r["topology_ms"] for r in d["rows"]]
    return (
        f"resource graph under mocks: {sizes} (settings + topology: "
        f"{min(pure):.1f}–{max(pure):.1f} ms; {d['rows'][-1]['vms']} VMs is the largest "
        f"stack the settings accept; {d['measured']})"
    )


def keepalived_summary(d: dict[str, Any]) -> str:
    phases = d["phases"]
    return (
        f"keepalived build phases: {duration(d['first_run_s'])} here (configure "
        f"{duration(phases['configure'])}, make {duration(phases['make'])}), a second run "
        f"{d['second_run_s']:.2f} s ({d['measured']})"
    )


def nginx_upstream_summary(d: dict[str, Any]) -> str:
    rows = {r["scenario"]: r for r in d["rows"]}
    parts = [
        f"{rows[k]['failed']} failed requests when the primary {k}"
        for k in ("stops", "hangs")
        if k in rows
    ]
    return f"nginx failover between backends: {', '.join(parts)} ({d['measured']})"


def _n(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    return f"{v:.0f}{unit}" if float(v).is_integer() or unit == " ms" else f"{v}{unit}"


def nginx_upstream_table() -> list[str]:
    d = load("nginx_upstream")
    out = [
        f"`sudo venv/bin/python -m bench.nginx_upstream --runs {d['runs']}"
        + (f" --seed {d['seed']}" if d.get("seed") is not None else "")
        + f"` ({d['measured']}, {d['machine']}; the Tomcat tier alone, rendered defaults, "
        f"loopback in a namespace, one sequential GET every 20 ms, median of {d['runs']} runs):",
        "",
        "| scenario | requests | failed | slowest request | first backup answer after fault "
        "| primary serves again after restart |",
        "|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        back = f"{r['back_s']} s" if r.get("back_s") is not None else "-"
        out.append(
            f"| {r['title']} | {_n(r['requests'])} | {_n(r['failed'])} | {_n(r['slowest_ms'], ' ms')} "
            f"| {_n(r['to_backup_ms'], ' ms')} | {back} |"
        )
    return out


def keepalived_build_line() -> list[str]:
    d = load("keepalived_build")
    p = d["phases"]
    return [
        f"configure {p['configure']} s, make {p['make']} s, install {p['install']} s, first run "
        f"{d['first_run_s']} s, second run {d['second_run_s']} s (median of {d['repeat']}; "
        f"{d['measured']}, {d['machine']}" + (f"; {d['note']}" if d.get("note") else "") + ")"
    ]
