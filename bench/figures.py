"""The failover figures' one source: ``docs/failover-figures.json``, written by
``bench/failover.py --figures``, rendered here into the tables README.md and
docs/lab.md show between their markers (``bench/failover.py --docs`` rewrites them;
tests/unit/test_figures.py checks that they match the JSON).

Standard library only: the unit test imports it without the lab.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "failover-figures.json"
DOCS = {"readme": ROOT / "README.md", "lab": ROOT / "docs" / "lab.md"}


def load(path: Path = FIGURES) -> dict:
    return json.loads(path.read_text())


def _row_key(row: dict) -> tuple[str, str]:
    return row["profile"], row["scenario"]


def conditions(fig: dict) -> str:
    """One sentence: how the figures were taken."""
    auth = "; ".join(f"{p}: {a}" for p, a in fig["vrrp_auth"].items())
    return (
        f"Median of {fig['runs']} run(s) ({fig['command']}), keepalived {fig['keepalived']}; "
        f"VRRP authentication: {auth}. Machine: {fig['machine']}."
    )


def lab_table(fig: dict) -> str:
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
            conditions(fig),
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


def readme_table(fig: dict) -> str:
    by = {_row_key(r): r for r in fig["rows"]}
    ours = [r for r in fig["rows"] if r["profile"] == "ours"]
    tight = any(r["profile"] == "tight" for r in fig["rows"])
    lines = [
        conditions(fig),
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


RENDER = {"readme": readme_table, "lab": lab_table}


def markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- failover-figures:{name} (bench/failover.py --docs writes this from "
        "docs/failover-figures.json) -->",
        f"<!-- /failover-figures:{name} -->",
    )


def section(text: str, name: str) -> str | None:
    begin, end = markers(name)
    m = re.search(re.escape(begin) + r"\n(.*?)\n" + re.escape(end), text, re.S)
    return m.group(1) if m else None


def update_docs(fig: dict, docs: dict[str, Path] = DOCS) -> list[Path]:
    """Rewrite each document's marked section from ``fig``; returns what changed."""
    changed = []
    for name, path in docs.items():
        text = path.read_text()
        begin, end = markers(name)
        if section(text, name) is None:
            raise ValueError(f"{path} has no {begin} ... {end} section")
        block = f"{begin}\n{RENDER[name](fig)}\n{end}"
        new = re.sub(
            re.escape(begin) + r"\n.*?\n" + re.escape(end),
            lambda _m, block=block: block,
            text,
            flags=re.S,
        )
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
