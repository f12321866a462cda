"""The test command's figures (``bench.tests``, docs/figures/tests.json): each step's
time and pytest's counts as a table, the default run and every layer, and their summary
sentence."""

from __future__ import annotations

from typing import Any

from bench.figures_files import duration, load


def tests_table(d: dict[str, Any]) -> list[str]:
    out = [
        "| step | time | passed | skipped | failed | slowest test |",
        "|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        slow = r.get("slowest") or []
        first = (
            f"{slow[0]['test'].rsplit('.', 1)[-1]} {slow[0]['s']:g} s"
            if slow and slow[0]["s"] > 0
            else ""
        )
        counts = [str(r.get(k, "")) for k in ("passed", "skipped", "failed")]
        out.append(
            f"| {r['step']} | {r['seconds']:.1f} s | " + " | ".join(counts) + f" | {first} |"
        )
    total = sum(r["seconds"] for r in d["rows"])
    out.append(f"| **total** | {total:.1f} s | | | | |")
    return out


def tests_summary(d: dict[str, Any]) -> str:
    parts = []
    default = d.get("default")
    if default:
        fast = next(r for r in default["rows"] if r["step"].startswith("fast layers"))
        total = sum(r["seconds"] for r in default["rows"])
        parts.append(
            f"the fast layers {duration(fast['seconds'])} ({fast.get('passed', 0)} passed), the "
            f"default run {duration(total)} (load {default['load_before']:g}; {default['measured']})"
        )
    every = d.get("all")
    if every:
        total = sum(r["seconds"] for r in every["rows"])
        ci = " under CI=true" if every["ci"] else ""
        parts.append(f"every layer but e2e{ci} {duration(total)} ({every['measured']})")
    return "the test command's steps: " + "; ".join(parts)


def tests_block() -> list[str]:
    d = load("tests")
    out: list[str] = []
    for kind, cmd in (
        ("default", "`venv/bin/python -m bench.tests --save`"),
        ("all", "`sudo CI=true venv/bin/python -m bench.tests --all --save`"),
    ):
        run = d.get(kind)
        if not run:
            continue
        if kind == "all" and not run["ci"]:
            cmd = "`sudo venv/bin/python -m bench.tests --all --save`"
        out += [
            f"{cmd} ({run['measured']}, {run['machine']}, load average "
            f"{run['load_before']:g} before the run):",
            "",
            *tests_table(run),
            "",
        ]
    return out[:-1]
