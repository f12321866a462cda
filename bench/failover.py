"""Failover measured in the network-namespace lab, printed as markdown tables.

    sudo venv/bin/python bench/failover.py [--stack dev] [--profiles ours,tutorial,fast]
                                           [--scenarios a,b] [--runs N] [--seed S]

For each profile: lab up (time from nothing to the VIP serving), every scenario
(one request every 20 ms from the client namespace, each bounded by 2 s, for at most
20 s; the fault injected at a random moment), lab down (time back to nothing). With
--runs N each figure is the median of N runs. Profiles with several VIPs
(active-active) add a table: nginx dead for good on each load balancer in turn, one
request loop per VIP, each VIP's outcome (lab/active_active.py). The lvs profile runs
only where the kernel has IPVS; elsewhere it is skipped with the reason. Needs root; prints why when it cannot
run. The lab is always taken down, also on errors.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab import active_active, scenarios  # noqa: E402
from lab.config import PROFILES  # noqa: E402
from lab.daemons import keepalived_binary  # noqa: E402
from lab.lab import Lab  # noqa: E402
from support.netns import NetnsError  # noqa: E402


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _fmt(values: list[float | None]) -> str:
    if any(v is None for v in values):
        got = [v for v in values if v is not None]
        return "never" if not got else f"never in {len(values) - len(got)} of {len(values)}"
    return f"{_median([v for v in values if v is not None]):.2f} s"


def measure_active_active(lab: Lab, runs: int, seed: int | None) -> list[str]:
    """nginx dead for good on each load balancer in turn: one row per VIP (median of
    the runs; the VIPs' holders after, counted over the runs)."""
    rows = []
    for victim in lab.lbs:
        per_vip: dict[str, list[active_active.VipObservation]] = {}
        for i in range(runs):
            seen = active_active.nginx_dead(lab, victim, None if seed is None else seed + i)
            for v in seen:
                print(f"  {v.obs.describe()}", file=sys.stderr)
                per_vip.setdefault(v.vip, []).append(v)
        for vip, vs in per_vip.items():
            first = vs[0]
            obs = [v.obs for v in vs]
            ends: dict[str, int] = {}
            for o in obs:
                k = ", ".join(o.holders_after) or "nobody"
                ends[k] = ends.get(k, 0) + 1
            rec = _fmt([o.recovered_at for o in obs]) if first.moves else "-"
            rows.append(
                f"| {lab.profile_name} | nginx dead on {victim.node.name} | {vip} | "
                f"{first.obs.expected_lb} (VIP {'moves' if first.moves else 'stays'}) | "
                f"{rec} | {_median([len(o.failed) for o in obs]):g} of "
                f"{_median([len(o.requests) for o in obs]):g} | "
                f"{_median([o.worst_latency for o in obs]):.2f} s | "
                + ", ".join(f"{k} ({n}/{len(obs)})" for k, n in sorted(ends.items()))
                + " |"
            )
    return rows


def measure(
    stack: str,
    profile: str,
    names: list[str],
    runs: int,
    seed: int | None,
    aa_rows: list[str] | None = None,
) -> tuple[list[str], float, float, tuple[str, ...]]:
    lab = Lab(stack, profile, instance=f"bench-{stack}")
    rows: list[str] = []
    notes = lab.cfg.notes
    t_up = lab.up(log=lambda m: print(f"  {m}", file=sys.stderr))
    try:
        for name in names:
            sc = scenarios.SCENARIOS[name]
            obs = []
            for i in range(runs):
                o = scenarios.run(lab, sc, seed=None if seed is None else seed + i)
                print(f"  {o.describe()}", file=sys.stderr)
                obs.append(o)
            first = obs[0]
            recovery = [o.recovered_at for o in obs]
            if all(o.recovery_text == "no outage" for o in obs):
                rec = "no outage"
            else:
                rec = _fmt(recovery)
            ends: dict[str, int] = {}
            for o in obs:
                ends[o.vip_after_text] = ends.get(o.vip_after_text, 0) + 1
            rows.append(
                f"| {profile} | {sc.title} | {first.expected_text} | {rec} | "
                f"{_median([len(o.failed) for o in obs]):g} of "
                f"{_median([len(o.requests) for o in obs]):g} | "
                f"{_median([o.worst_latency for o in obs]):.2f} s | "
                + ", ".join(f"{k} ({n}/{len(obs)})" for k, n in sorted(ends.items()))
                + " |"
            )
        if PROFILES[profile].vips > 1 and aa_rows is not None:
            aa_rows += measure_active_active(lab, runs, seed)
    finally:
        t0 = time.monotonic()
        lab.down(log=lambda m: None)
        t_down = time.monotonic() - t0
    return rows, t_up, t_down, notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench/failover.py", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--stack", default="dev")
    p.add_argument("--profiles", default="ours,tutorial,fast,fast-check,active-active,lvs")
    p.add_argument("--scenarios", default=",".join(scenarios.SCENARIOS))
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/failover.py needs root (network namespaces): run it with sudo")
        return 2
    profiles = [x for x in a.profiles.split(",") if x]
    names = [x for x in a.scenarios.split(",") if x]
    for x in profiles:
        if x not in PROFILES:
            p.error(f"unknown profile {x}; choose from {', '.join(PROFILES)}")
    for x in names:
        if x not in scenarios.SCENARIOS:
            p.error(f"unknown scenario {x}; choose from {', '.join(scenarios.SCENARIOS)}")

    ka_bin, ka_version = keepalived_binary()
    if "fast-check" in profiles and ka_version < (2, 3, 2):
        # keepalived before 2.3.2 takes whole-second check intervals only (the renderer
        # rounds 0.3 s up to 1 s): the row would repeat ours.
        print(
            f"profile fast-check skipped: keepalived {'.'.join(map(str, ka_version))} "
            "has whole-second check intervals only (2.3.2 or newer needed)",
            file=sys.stderr,
        )
        profiles.remove("fast-check")
    if "lvs" in profiles:
        why = Lab(a.stack, "lvs", instance=f"bench-{a.stack}").lvs_unavailable()
        if why:
            print(f"profile lvs skipped: {why}", file=sys.stderr)
            profiles.remove("lvs")
    all_rows: list[str] = []
    aa_rows: list[str] = []
    ups: list[str] = []
    all_notes: dict[str, None] = {}
    for prof in profiles:
        print(f"profile {prof}: {PROFILES[prof].description}", file=sys.stderr)
        try:
            rows, t_up, t_down, notes = measure(a.stack, prof, names, a.runs, a.seed, aa_rows)
        except NetnsError as e:  # a LabError, or a namespace command that failed
            print(f"profile {prof}: {e}", file=sys.stderr)
            return 1
        all_rows += rows
        all_notes.update(dict.fromkeys(notes))
        ups.append(f"| {prof} | {t_up:.2f} s | {t_down:.2f} s |")

    print(
        f"Failover through the VIP ({a.stack} stack; one request every "
        f"{scenarios.INTERVAL * 1000:.0f} ms, failed = no 200 within "
        f"{scenarios.REQUEST_TIMEOUT:.0f} s; {a.runs} run(s), median; keepalived "
        f"{'.'.join(map(str, ka_version))} {ka_bin})\n"
    )
    print(
        "MASTER: the load balancer holding the VIP when the fault is injected (with "
        "the tutorial's equal priorities, whoever won). Time to answer: from the fault "
        "to the first answer from the expected nodes to a request started after the "
        "last one that failed or was answered by another node.\n"
    )
    print(scenarios.HEAD)
    print("\n".join(all_rows))
    if aa_rows:
        print(
            "\nActive-active: nginx killed on one load balancer with its restart failing; "
            "one request loop per VIP. A VIP that load balancer held moves to the other; "
            "the other VIP stays and should lose nothing.\n"
        )
        print(active_active.HEAD)
        print("\n".join(aa_rows))
    print("\nLab up (nothing to the VIP serving, real Tomcat) and down (back to nothing)\n")
    print("| profile | up to serving | down |\n|---|---|---|")
    print("\n".join(ups))
    print("\nProfiles:")
    for prof in profiles:
        print(f"- {prof}: {PROFILES[prof].description}")
    for note in all_notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
