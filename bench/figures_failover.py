"""The lab's failover figures (``bench/failover.py``, docs/figures/failover.json): the
README's table (the tutorial's settings against ours) and the lab doc's, each with how
the figures were taken."""

from __future__ import annotations


def _row_key(row: dict) -> tuple[str, str]:
    return row["profile"], row["scenario"]


def failover_conditions(fig: dict) -> str:
    """One sentence: how the figures were taken."""
    auth = "; ".join(f"{p}: {a}" for p, a in fig["vrrp_auth"].items())
    return (
        f"Median of {fig['runs']} run(s) ({fig['command']}), keepalived {fig['keepalived']}; "
        f"VRRP authentication: {auth}. Machine: {fig['machine']}."
    )


def failover_lab_table(fig: dict) -> str:
    head = (
        "| profile | scenario | expected to answer | time to answer | VIP moved | failed "
        "requests | worst latency | VIP ends on |\n|---|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r['profile']} | {r['title']} | {r['expected']} | {r['time_to_answer']} | "
        f"{r['vip_moved']} | {r['failed']} of {r['requests']} | {r['worst_latency']} | "
        f"{r['vip_ends']} |"
        for r in fig["rows"]
    ]
    up = ["| profile | up to serving | down |", "|---|---|---|"] + [
        f"| {u['profile']} | {u['up']} | {u['down']} |" for u in fig["up"]
    ]
    return "\n".join(
        [
            failover_conditions(fig),
            "",
            head,
            *rows,
            "",
            "Lab up (nothing to the VIP serving, real Tomcat) and down (back to nothing):",
            "",
            *up,
        ]
    )


def _cell(row: dict | None) -> str:
    if row is None:
        return "not measured"
    if row["time_to_answer"] == "never":
        return f"never fails over ({row['failed']} of {row['requests']} failed)"
    moved = f", VIP moved: {row['vip_moved']}" if row["vip_moved"] not in ("-", "") else ""
    return f"{row['time_to_answer']}, {row['failed']} failed, worst {row['worst_latency']}{moved}"


def failover_readme_table(fig: dict) -> str:
    by = {_row_key(r): r for r in fig["rows"]}
    ours = [r for r in fig["rows"] if r["profile"] == "ours"]
    tight = any(r["profile"] == "tight" for r in fig["rows"])
    lines = [
        failover_conditions(fig),
        "",
        "| event | tutorial's settings | ours (the defaults) |"
        + (" ours with tight timings (`tight`) |" if tight else ""),
        "|---|---|---|" + ("---|" if tight else ""),
    ]
    for r in ours:
        cells = [_cell(by.get(("tutorial", r["scenario"]))), _cell(r)]
        if tight:
            t = by.get(("tight", r["scenario"]))
            cells.append(_cell(t) if t else "–")
        lines.append(f"| {r['title']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failover_https_table(fig: dict) -> str:
    """HTTPS at the VIP (the https profile) beside plain HTTP (ours), per scenario: the
    same faults through the VIP, and how many TLS sessions resumed after the fault."""
    by = {_row_key(r): r for r in fig["rows"]}
    rows = [r for r in fig["rows"] if r["profile"] == "https"]
    if not rows:
        return "No HTTPS rows measured yet (`bench/failover.py --profiles https`)."
    lines = [
        failover_conditions(fig),
        "",
        "| scenario | HTTP (ours) | HTTPS (https) | full TLS handshakes after the fault |",
        "|---|---|---|---|",
    ]
    for r in rows:
        resumed = r.get("resumed")
        cell = f"{resumed[1] - resumed[0]} of {resumed[1]} answers" if resumed else "-"
        lines.append(
            f"| {r['title']} | {_cell(by.get(('ours', r['scenario'])))} | {_cell(r)} | {cell} |"
        )
    return "\n".join(lines)
