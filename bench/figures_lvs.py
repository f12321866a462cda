"""The LVS figures (``bench.lvs``, a sandbox VM with IPVS): the share, fault and
persistence tables its runs print, the README's summary sentence, the comparison with
the kernel's default expire_nodest_conn, and the docs' block with the run's phases."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench.figures_files import duration, load


def _lvs_median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" if values else "never"


def _lvs_count(values: list[int]) -> str:
    return f"{statistics.median(values):g}"


def _lvs_tally(values: list[str]) -> str:
    seen: dict[str, int] = {}
    for v in values:
        seen[v] = seen.get(v, 0) + 1
    return ", ".join(f"{k} ({n}/{len(values)})" for k, n in sorted(seen.items()))


def _lvs_group(results: list[dict], scenario: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in results:
        if r["scenario"] == scenario:
            out.setdefault(r["vip"], []).append(r)
    return out


LVS_NODES = ("nginx-master", "nginx-backup")


def lvs_share_table(results: list[dict], scenario: str = "share") -> str:
    rows = [
        "| VIP | director | requests | answered by nginx-master | answered by nginx-backup "
        "| failed |",
        "|---|---|---|---|---|---|",
    ]
    for vip, rs in _lvs_group(results, scenario).items():
        rows.append(
            f"| {vip} | {_lvs_tally([', '.join(r['director_after']) for r in rs])} "
            f"| {_lvs_count([r['requests'] for r in rs])} "
            + "".join(f"| {_lvs_count([r['counts'].get(n, 0) for r in rs])} " for n in LVS_NODES)
            + f"| {_lvs_count([r['failed'] for r in rs])} |"
        )
    return "\n".join(rows)


LVS_FAULTS = {
    "nginx-dead": "nginx dead on {victim}",
    "director-dies": "host of {victim} cut off",
}


LVS_ERROR_NAMES = {
    "ConnectionRefusedError": "refused",
    "ConnectionResetError": "reset",
    "timeout": "no answer in 2 s",
    "HTTP 0": "closed without an answer",
}


def _lvs_how(rs: list[dict]) -> str:
    """How the requests failed, over every run, most frequent first."""
    total: dict[str, int] = {}
    for r in rs:
        for k, n in r["errors"].items():
            name = LVS_ERROR_NAMES.get(k) or str(k)
            total[name] = total.get(name, 0) + n
    return ", ".join(k for k, _ in sorted(total.items(), key=lambda kv: -kv[1])) or "-"


def _lvs_when(rs: list[dict], key: str, absent: str = "-", missing: str = "not in") -> str:
    """The median of a per-run time; ``absent`` where no run has one (it did not
    happen), and how many runs had none beside it."""
    values = [r[key] for r in rs if r.get(key) is not None]
    if not values:
        return absent
    left = len(rs) - len(values)
    return _lvs_median(values) + (f" ({missing} {left})" if left else "")


def lvs_fault_table(results: list[dict]) -> str:
    rows = [
        "| fault | VIP | director before -> after | survivor MASTER after | victim out of "
        "the survivor's IPVS after | answers after the fault (victim / survivor) | only "
        "the survivor answers after | failed requests | how they failed | worst latency |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, title in LVS_FAULTS.items():
        for vip, rs in _lvs_group(results, scenario).items():
            survivor = rs[0]["survivor"]
            victim = next(n for n in LVS_NODES if n != survivor)
            after = _lvs_tally([", ".join(r["director_after"]) or "nobody" for r in rs])
            rows.append(
                f"| {title.format(victim=victim)} | {vip} | {rs[0]['director_before']} -> "
                f"{after} | {_lvs_when(rs, 'director_moved_at')} "
                f"| {_lvs_when(rs, 'removed_at')} "
                f"| {_lvs_count([r['counts_after_fault'].get(victim, 0) for r in rs])} / "
                f"{_lvs_count([r['counts_after_fault'].get(survivor, 0) for r in rs])} "
                f"| {_lvs_when(rs, 'recovered_at', 'never', 'never in')} "
                f"| {_lvs_count([r['failed'] for r in rs])} | {_lvs_how(rs)} "
                f"| {_lvs_median([r['worst_latency'] for r in rs])} |"
            )
    return "\n".join(rows)


def lvs_report(results: list[dict], runs: int) -> str:
    """The tables of ``python -m bench.lvs``: medians over the runs."""
    parts = [
        f"LVS share (profile lvs, rr; one request every 20 ms per VIP; median of {runs}):",
        "",
        lvs_share_table(results),
        "",
        f"LVS faults (one request every 20 ms per VIP; median of {runs}):",
        "",
        lvs_fault_table(results),
    ]
    if any(r["scenario"] == "persistence" for r in results):
        parts += [
            "",
            f"LVS persistence (profile lvs-persistence, persistence_timeout; median of {runs}):",
            "",
            lvs_share_table(results, "persistence"),
        ]
    return "\n".join(parts)


def lvs_summary(d: dict[str, Any]) -> str:
    """One sentence for the README and the benchmark table: the share, and a dead
    director (the VIP it directed: takeover, recovery, failed requests)."""
    res = d["results"]
    share = [r for r in res if r["scenario"] == "share"]
    per_node = [n for r in share for n in r["counts"].values()]
    requests = sorted({r["requests"] for r in share})
    moved = [r for r in res if r["scenario"] == "director-dies" and r["director_moved_at"]]
    failed = statistics.median([r["failed"] for r in moved]) if moved else 0
    return (
        f"the LVS layer in a sandbox VM (Debian's kernel, IPVS; 2 emulated vCPUs; VRRP "
        f"advert {res[0]['advert']:g} s, check every {res[0]['check']:g} s): each nginx node "
        f"answered {min(per_node)} to {max(per_node)} of a VIP's "
        f"{' or '.join(map(str, requests))} requests, {sum(r['failed'] for r in share)} "
        f"failed; the active director's host dies: the "
        f"other node MASTER of its VIP after {_lvs_when(moved, 'director_moved_at')}, "
        f"only it answering after {_lvs_when(moved, 'recovered_at', 'never', 'never in')}, {failed:g} "
        f"failed requests at one every 20 ms (median of {d['runs']}; {d['measured']})"
    )


def _lvs_after_removal(r: dict) -> int:
    """Requests that failed although they started once the survivor directed the VIP
    with the victim out of its virtual service (half-second buckets wholly after both
    the takeover, where the VIP moved, and the removal)."""
    if r.get("removed_at") is None:
        return 0
    since = max(r["removed_at"], r.get("director_moved_at") or 0.0)
    return sum(
        n for t, what, n in r["bad_after_fault"] if t >= since and not what.startswith("answered")
    )


def lvs_expire_table(ours: dict, default: dict) -> list[str]:
    """The faults with IPVS's expire_nodest_conn at the kernel's default (0) and as
    lvs_realserver.sh sets it (1): medians of each saved run."""
    rows = [
        f"`sudo venv/bin/python -m bench.lvs --runs {default['runs']} --expire-nodest-conn 0 "
        f"--save` ({default['measured']}) against the run above ({ours['measured']}); "
        "medians, 0 -> 1:",
        "",
        "| fault | VIP | failed requests | failed although started once the survivor "
        "directed the VIP without the victim (all runs) | only the survivor answers after |",
        "|---|---|---|---|---|",
    ]
    for scenario, title in LVS_FAULTS.items():
        before = _lvs_group(default["results"], scenario)
        after = _lvs_group(ours["results"], scenario)
        for vip, rs in after.items():
            old = before.get(vip, [])
            victim = next(n for n in LVS_NODES if n != rs[0]["survivor"])

            def both(f: Callable[[list[dict]], str], old=old, rs=rs) -> str:
                return f"{f(old) if old else 'not measured'} -> {f(rs)}"

            rows.append(
                f"| {title.format(victim=victim)} | {vip} "
                f"| {both(lambda x: _lvs_count([r['failed'] for r in x]))} "
                f"| {both(lambda x: str(sum(_lvs_after_removal(r) for r in x)))} "
                f"| {both(lambda x: _lvs_when(x, 'recovered_at', 'never', 'never in'))} |"
            )
    return rows


# The phases bench.lvs records, as the docs name them (the VM's boot has its parts).
LVS_PHASES = {
    "keepalived build": "keepalived build (cached)",
    "sandbox up": "sandbox up",
    "VM payload": "payload",
    "VM boot": "VM boot (SSH and cloud-init)",
    "VM copy_in": "copy in",
    "VM setup": "VM setup (packages)",
    "scenarios in the VM": "lab and scenarios",
    "sandbox down": "sandbox down",
}


def lvs_block() -> list[str]:
    d = load("lvs")
    phases = []
    for key, name in LVS_PHASES.items():
        if key in d["phases"]:
            v = d["phases"][key]
            phases.append(name if name.endswith("(cached)") and v < 1 else f"{name} {duration(v)}")
    return [
        f"`sudo venv/bin/python -m bench.lvs --runs {d['runs']} --save` ({d['measured']}, "
        f"{d['machine']}; the run took {duration(d['total_s'])}: " + ", ".join(phases) + "):",
        "",
        *lvs_report(d["results"], d["runs"]).splitlines(),
    ]
