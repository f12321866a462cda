"""Failover measured in the network-namespace lab, printed as markdown tables.

    sudo venv/bin/python bench/failover.py [--stack dev] [--profiles ours,tutorial,fast]
                                           [--scenarios a,b] [--runs N] [--seed S]
                                           [--out DIR] [--figures FILE] [--docs]

For each profile: lab up (time from nothing to the VIP serving), every scenario
(one request every 20 ms from the client namespace, each bounded by 2 s, for at most
20 s; the fault injected at a random moment), lab down (time back to nothing). With
--runs N each figure is the median of N runs. Profiles with several VIPs
(active-active) add a table: nginx dead for good on each load balancer in turn, one
request loop per VIP, each VIP's outcome (lab/active_active.py). The lvs profile runs
only where the kernel has IPVS; elsewhere it is skipped with the reason. Needs root; prints why when it cannot
run. The lab is always taken down, also on errors.

Every run of every scenario leaves its timeline in --out (default
.run/bench/failover/): ``<profile>/<scenario>-run<N>.json`` (the raw requests, the
VRRP transitions and the watcher's verdicts) and the same drawn as ``.png`` and
``.svg`` (lab/timeline.py). --figures FILE writes the medians as JSON (the one source
of the README's and docs/lab.md's tables, docs/figures/failover.json); --docs then
rewrites those tables from it (bench/docfigures.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import docfigures  # noqa: E402
from lab import active_active, failover, observation, scenarios  # noqa: E402
from lab.config import PROFILES  # noqa: E402
from lab.daemons import keepalived_binary  # noqa: E402
from lab.lab import Lab  # noqa: E402
from nginx_ha.config import capabilities  # noqa: E402
from support.netns import NetnsError  # noqa: E402

# Namespaces are machine-wide: the bench's lab carries a hash of the checkout, so two
# checkouts benchmarking at once do not meet (tests/lab/instances.py does the same).
CHECKOUT = hashlib.sha256(str(ROOT).encode()).hexdigest()[:6]
OUT = ROOT / ".run" / "bench" / "failover"


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


def figure_row(profile: str, obs: list[observation.Observation]) -> dict[str, object]:
    """One scenario's medians over its runs."""
    first = obs[0]
    if all(o.recovery_text == "no outage" for o in obs):
        rec = "no outage"
    else:
        rec = _fmt([o.recovered_at for o in obs])
    moved = [o.vip_moved_at for o in obs]
    ends: dict[str, int] = {}
    for o in obs:
        ends[o.vip_after_text] = ends.get(o.vip_after_text, 0) + 1
    return {
        "profile": profile,
        "scenario": first.scenario.name,
        "title": first.scenario.title,
        "expected": first.expected_text,
        "time_to_answer": rec,
        "vip_moved": "-" if all(m is None for m in moved) else _fmt(moved),
        "failed": f"{_median([len(o.failed) for o in obs]):g}",
        "failed_runs": [len(o.failed) for o in obs],
        "requests": f"{_median([len(o.requests) for o in obs]):g}",
        "worst_latency": f"{_median([o.worst_latency for o in obs]):.2f} s",
        "vip_ends": ", ".join(f"{k} ({n}/{len(obs)})" for k, n in sorted(ends.items())),
        **resumed_after(obs),
    }


def resumed_after(obs: list[observation.Observation]) -> dict[str, object]:
    """HTTPS: the requests answered after the fault whose TLS session was resumed (each
    connection offered the last one's), over every run; nothing for plain HTTP."""
    counts = [o.resumed_after for o in obs if o.resumed_after is not None]
    if not counts:
        return {}
    return {"resumed": [sum(r for r, _ in counts), sum(n for _, n in counts)]}


def measure(
    stack: str,
    profile: str,
    names: list[str],
    runs: int,
    seed: int | None,
    aa_rows: list[str] | None = None,
    out: Path = OUT,
) -> tuple[list[dict[str, object]], float, float, tuple[str, ...], str]:
    lab = Lab(stack, profile, instance=f"bench-{stack}-{CHECKOUT}")
    rows: list[dict[str, object]] = []
    notes = lab.cfg.notes
    auth = lab.topo.vrrp.auth
    auth_text = {"none": "off", "pass": "PASS", "hmac": "auth_hmac"}.get(auth, auth)
    auth_text = f"{auth_text} (VRRPv{lab.topo.vrrp.version})"
    t_up = lab.up(log=lambda m: print(f"  {m}", file=sys.stderr))
    try:
        for name in names:
            sc = scenarios.SCENARIOS[name]
            obs = []
            for i in range(runs):
                o = failover.run(lab, sc, seed=None if seed is None else seed + i)
                print(f"  {o.describe()}", file=sys.stderr)
                o.write_timeline(out / profile / f"{name}-run{i + 1}")
                obs.append(o)
            rows.append(figure_row(profile, obs))
        if PROFILES[profile].vips > 1 and aa_rows is not None:
            aa_rows += measure_active_active(lab, runs, seed)
    finally:
        t0 = time.monotonic()
        lab.down(log=lambda m: None)
        t_down = time.monotonic() - t0
    return rows, t_up, t_down, notes, auth_text


def merge_figures(old: dict, new: dict) -> dict:
    """``new``'s profiles replace the same profiles in ``old``; the others stay, and so
    do the commands and machine notes that measured them."""
    mine = set(new["vrrp_auth"])
    keep = [r for r in old["rows"] if r["profile"] not in mine]
    return new | {
        "command": f"{old['command']}, then {new['command']} for {', '.join(sorted(mine))}",
        "runs": min(old["runs"], new["runs"]),
        "vrrp_auth": {k: v for k, v in old["vrrp_auth"].items() if k not in mine}
        | new["vrrp_auth"],
        "machine": f"{old['machine']}; then {new['machine']}",
        "rows": keep + new["rows"],
        "up": [u for u in old["up"] if u["profile"] not in mine] + new["up"],
        "profiles": {k: v for k, v in old["profiles"].items() if k not in mine} | new["profiles"],
        "notes": list(dict.fromkeys(old["notes"] + new["notes"])),
    }


def table_row(r: dict[str, object]) -> str:
    return (
        f"| {r['profile']} | {r['title']} | {r['expected']} | {r['time_to_answer']} | "
        f"{r['vip_moved']} | {r['failed']} of {r['requests']} | {r['worst_latency']} | "
        f"{r['vip_ends']} |"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench/failover.py", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--stack", default="dev")
    p.add_argument("--profiles", default="ours,tutorial,fast,fast-check,active-active,lvs")
    p.add_argument("--scenarios", default=",".join(scenarios.SCENARIOS))
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", type=Path, default=OUT, help="folder of the timelines")
    p.add_argument(
        "--figures",
        type=Path,
        help="write the medians as JSON here (docs/figures/failover.json: the docs' source)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="with --figures: keep the other profiles' rows already in the file",
    )
    p.add_argument(
        "--docs",
        action="store_true",
        help="rewrite the tables of README.md and docs/lab.md from --figures",
    )
    a = p.parse_args(argv)
    if a.docs and a.figures is None:
        p.error("--docs needs --figures")
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
    if "fast-check" in profiles and not capabilities.supports(ka_version, "fractional_check"):
        # an older keepalived takes whole-second check intervals only (the renderer
        # rounds 0.3 s up to 1 s): the row would repeat ours.
        print(
            f"profile fast-check skipped: keepalived {capabilities.version_text(ka_version)} "
            "has whole-second check intervals only "
            f"({capabilities.since('fractional_check')} or newer needed)",
            file=sys.stderr,
        )
        profiles.remove("fast-check")
    if "lvs" in profiles:
        why = Lab(a.stack, "lvs", instance=f"bench-{a.stack}").lvs_unavailable()
        if why:
            print(f"profile lvs skipped: {why}", file=sys.stderr)
            profiles.remove("lvs")
    all_rows: list[dict[str, object]] = []
    aa_rows: list[str] = []
    ups: list[dict[str, str]] = []
    auths: dict[str, str] = {}
    all_notes: dict[str, None] = {}
    load_before = os.getloadavg()
    for prof in profiles:
        print(f"profile {prof}: {PROFILES[prof].description}", file=sys.stderr)
        try:
            rows, t_up, t_down, notes, auth = measure(
                a.stack, prof, names, a.runs, a.seed, aa_rows, a.out
            )
        except NetnsError as e:  # a LabError, or a namespace command that failed
            print(f"profile {prof}: {e}", file=sys.stderr)
            return 1
        all_rows += rows
        auths[prof] = auth
        all_notes.update(dict.fromkeys(notes))
        ups.append({"profile": prof, "up": f"{t_up:.2f} s", "down": f"{t_down:.2f} s"})
    load_after = os.getloadavg()

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
    print(
        "| profile | scenario | expected to answer | time to answer | VIP moved | failed "
        "requests | worst latency | VIP ends on |\n|---|---|---|---|---|---|---|---|"
    )
    print("\n".join(table_row(r) for r in all_rows))
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
    print("\n".join(f"| {u['profile']} | {u['up']} | {u['down']} |" for u in ups))
    print("\nProfiles:")
    for prof in profiles:
        print(f"- {prof}: {PROFILES[prof].description}")
    for note in all_notes:
        print(f"- {note}")
    print(f"\nTimelines: {a.out}/<profile>/<scenario>-run<N>.{{json,png,svg}}")
    if a.figures is not None:
        fig = {
            "command": "`sudo venv/bin/python bench/failover.py "
            + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
            + "`",
            "runs": a.runs,
            "keepalived": f"{'.'.join(map(str, ka_version))} ({ka_bin})",
            "vrrp_auth": auths,
            "machine": (
                f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before and "
                f"{load_after[0]:.2f} after the run"
            ),
            "rows": all_rows,
            "up": ups,
            "profiles": {prof: PROFILES[prof].description for prof in profiles},
            "notes": list(all_notes),
        }
        if a.merge and a.figures.exists():
            fig = merge_figures(json.loads(a.figures.read_text()), fig)
        a.figures.write_text(json.dumps(fig, indent=1) + "\n")
        print(f"Figures: {a.figures}")
        if a.docs:
            docfigures.main(["--write"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
