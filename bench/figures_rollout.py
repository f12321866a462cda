"""The rollout figures (``bench.rollout``, docs/figures/rollout.json): per change the
requests through the VIP, what failed, the VIP's holders and where a broken change
stopped, as a table and as the benchmark table's sentence."""

from __future__ import annotations

from typing import Any

from bench.figures_files import load

# The rows of the user's application (docs/application.md).
APP_CHANGES = ("app-first", "app-deploy", "app-deploy-cold", "broken-app")


def _holders(holders: list[list[Any]]) -> str:
    return " → ".join(f"{h} {t:g} s" for t, h in holders)


def rollout_summary(d: dict[str, Any]) -> str:
    good = [c for c in d["changes"] if c["succeeds"] and not c.get("shows_loss")]
    bad = [c for c in d["changes"] if not c["succeeds"]]
    shown = [c for c in d["changes"] if c.get("shows_loss")]
    parts = [
        f"{sum(c['failed'] for c in good)} failed of {sum(c['requests'] for c in good)} "
        f"requests through the VIP over {len(good)} changes"
    ]
    parts += [f"{c['change']} {c['stopped']}, {c['failed']} failed" for c in bad]
    parts += [f"{c['change']} ({c['what']}) {c['failed']} failed" for c in shown]
    return f"rollouts in the lab, the program's own steps: {'; '.join(parts)} ({d['measured']})"


def activations_line(only: tuple[str, ...]) -> list[str]:
    """Each change's activations: node, seconds after the start, how long."""
    d = load("rollout")
    out = []
    for c in d["changes"]:
        if c["change"] in only and c.get("activations"):
            acts = ", ".join(f"{n} at {at:g} s for {s:.1f} s" for n, at, s in c["activations"])
            out.append(f"- {c['change']}: {acts}")
    return out


def rollout_table(only: tuple[str, ...] | None = None) -> list[str]:
    """The table of every change (or of the changes named in ``only``)."""
    d = load("rollout")
    if only is not None:
        d = {**d, "changes": [c for c in d["changes"] if c["change"] in only]}
    out = [
        f"`sudo venv/bin/python -m bench.rollout --save` ({d['measured']}, {d['machine']}; "
        f"stack {d['stack']}; one request through the VIP every 20 ms, each bounded by 2 s, "
        "GETs, and with the application every fourth a POST with a 1 KB form body"
        + (f"; {d['note']}" if d.get("note") else "")
        + "):",
        "",
        "| change | expected | requests | failed | slowest request | longest wait "
        "| VIP holder (s after the start) | rollout |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in d["changes"]:
        expected = "succeeds" if c["succeeds"] else "stops after the first node"
        if c.get("shows_loss"):
            expected = "succeeds, losing requests (the safeguard off)"
        out.append(
            f"| {c['what']} | {expected} | {c['requests']}"
            + (f" ({c['posts']} POST)" if c.get("posts") else "")
            + f" | {c['failed']}"
            + (f" ({c['failed_posts']} POST)" if c.get("failed_posts") else "")
            + " "
            f"| {c['worst_latency']:.2f} s | {c['longest_gap']:.2f} s "
            f"| {_holders(c['holders'])} | {c['stopped']} |"
        )
    for c in d["changes"]:
        if c["report"]:
            out += ["", f"What `up` reported for {c['change']}: {c['report']}"]
    return out
