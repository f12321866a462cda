"""The LVS layer carrying traffic: the lab's ``lvs`` profile inside one sandbox VM.

    sudo venv/bin/python -m bench.lvs [--runs 3] [--seed 1] [--json FILE]
    venv/bin/python -m bench.lvs --report FILE     # the tables of a saved run again

This machine's kernel has no IPVS; the sandbox's VMs boot Debian's stock kernel, which
has. One command: keepalived built with IPVS by the project's install script (on this
machine, from Debian's source tarball; cached), the sandbox brought up where it is not
(and down again), one VM booted, the checkout and what the lab needs carried in
(``sandbox.labvm``), ``python -m lab.lvs`` run in it (profiles ``lvs`` and
``lvs-persistence``: every scenario ``--runs`` times), its JSON brought back, tables
printed (medians over the runs), the VM destroyed, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

from nginx_ha.components.keepalived import build_params
from nginx_ha.config.models import Keepalived
from sandbox import daemons
from sandbox.labvm import LabVm, sandbox_paths
from support import debian_keepalived

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".run" / "lab-vm"
RESULTS_IN_VM = "/opt/nginx-ha/.run/lvs.json"


def keepalived_build(out=print) -> tuple[Path, str]:
    """keepalived with IPVS, built here by install_keepalived.sh with the parameters the
    program passes for an LVS stack (``--enable-lvs``) into a folder of its own; a
    second call finds the build's stamp and does nothing."""
    path, sha, version = debian_keepalived.orig_tarball()
    source = Keepalived(version=version, path=str(path), sha256=sha)
    base = CACHE / f"keepalived-{version}-lvs"
    params = build_params(source, True, str(base / "prefix"), uploaded=str(path)) | {
        "WORK_DIR": str(base / "work"),
        "LOG_DIR": str(base / "log"),
    }
    t = time.monotonic()
    r = debian_keepalived.run_install_script(params)
    if r.returncode != 0:
        raise SystemExit(f"install_keepalived.sh failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    if "nothing to do" not in r.stdout:
        out(f"  keepalived {version} built with IPVS in {time.monotonic() - t:.0f} s")
    return base / "prefix", version


# ---------------------------------------------------------------------------- tables


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" if values else "never"


def _count(values: list[int]) -> str:
    return f"{statistics.median(values):g}"


def _tally(values: list[str]) -> str:
    seen: dict[str, int] = {}
    for v in values:
        seen[v] = seen.get(v, 0) + 1
    return ", ".join(f"{k} ({n}/{len(values)})" for k, n in sorted(seen.items()))


def _group(results: list[dict], scenario: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in results:
        if r["scenario"] == scenario:
            out.setdefault(r["vip"], []).append(r)
    return out


NODES = ("nginx-master", "nginx-backup")


def share_table(results: list[dict], scenario: str = "share") -> str:
    rows = [
        "| VIP | director | requests | answered by nginx-master | answered by nginx-backup "
        "| failed |",
        "|---|---|---|---|---|---|",
    ]
    for vip, rs in _group(results, scenario).items():
        rows.append(
            f"| {vip} | {_tally([', '.join(r['director_after']) for r in rs])} "
            f"| {_count([r['requests'] for r in rs])} "
            + "".join(f"| {_count([r['counts'].get(n, 0) for r in rs])} " for n in NODES)
            + f"| {_count([r['failed'] for r in rs])} |"
        )
    return "\n".join(rows)


FAULTS = {
    "nginx-dead": "nginx dead on {victim}",
    "director-dies": "host of {victim} cut off",
}


ERROR_NAMES = {
    "ConnectionRefusedError": "refused",
    "ConnectionResetError": "reset",
    "timeout": "no answer in 2 s",
    "HTTP 0": "closed without an answer",
}


def _how(rs: list[dict]) -> str:
    """How the requests failed, over every run, most frequent first."""
    total: dict[str, int] = {}
    for r in rs:
        for k, n in r["errors"].items():
            name = ERROR_NAMES.get(k) or str(k)
            total[name] = total.get(name, 0) + n
    return ", ".join(k for k, _ in sorted(total.items(), key=lambda kv: -kv[1])) or "-"


def fault_table(results: list[dict]) -> str:
    rows = [
        "| fault | VIP | director before -> after | answers after the fault "
        "(victim / survivor) | only the survivor answers after | failed requests | "
        "how they failed | worst latency |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, title in FAULTS.items():
        for vip, rs in _group(results, scenario).items():
            survivor = rs[0]["survivor"]
            victim = next(n for n in NODES if n != survivor)
            rec = [r["recovered_at"] for r in rs if r["recovered_at"] is not None]
            never = len(rs) - len(rec)
            after = _tally([", ".join(r["director_after"]) or "nobody" for r in rs])
            rows.append(
                f"| {title.format(victim=victim)} | {vip} | {rs[0]['director_before']} -> "
                f"{after} "
                f"| {_count([r['counts_after_fault'].get(victim, 0) for r in rs])} / "
                f"{_count([r['counts_after_fault'].get(survivor, 0) for r in rs])} "
                f"| {_median(rec)}{f' (never in {never})' if never else ''} "
                f"| {_count([r['failed'] for r in rs])} | {_how(rs)} "
                f"| {_median([r['worst_latency'] for r in rs])} |"
            )
    return "\n".join(rows)


def report(results: list[dict], runs: int) -> str:
    parts = [
        f"LVS share (profile lvs, rr; one request every 20 ms per VIP; median of {runs}):",
        share_table(results),
        "",
        f"LVS faults (one request every 20 ms per VIP; median of {runs}):",
        fault_table(results),
    ]
    if any(r["scenario"] == "persistence" for r in results):
        parts += [
            "",
            f"LVS persistence (profile lvs-persistence, persistence_timeout; median of {runs}):",
            share_table(results, "persistence"),
        ]
    return "\n".join(parts)


# ------------------------------------------------------------------------------ main


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.lvs", description=str(__doc__).splitlines()[0]
    )
    p.add_argument("--runs", type=int, default=1, help="every scenario this many times")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, help="also write every observation here")
    p.add_argument(
        "--profiles", default="lvs,lvs-persistence", help="lab profiles, comma-separated"
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="print the tables of a saved run (--json of an earlier one) and stop",
    )
    a = p.parse_args(argv)
    if a.report:
        saved = json.loads(a.report.read_text())
        print(report(saved, max(r["run"] for r in saved)))
        return 0
    if os.geteuid() != 0:
        print("bench.lvs needs root (the sandbox's namespace and libvirtd)", file=sys.stderr)
        return 2
    missing = daemons.missing_tools()
    if missing:
        print(f"bench.lvs: missing tools: {missing} (scripts/sandbox-prereqs.sh)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    t0 = time.monotonic()
    phases: dict[str, float] = {}
    CACHE.mkdir(parents=True, exist_ok=True)
    print("keepalived with IPVS (install_keepalived.sh, --enable-lvs)")
    t = time.monotonic()
    prefix, _version = keepalived_build()
    phases["keepalived build"] = time.monotonic() - t
    t = time.monotonic()
    paths, brought_up = sandbox_paths()
    phases["sandbox up"] = time.monotonic() - t
    try:
        with LabVm(paths, prefix, ROOT, CACHE) as vm:
            print("lab VM: boot, carry in, set up")
            vm.start()
            phases |= {f"VM {k}": v for k, v in vm.seconds.items()}
            t = time.monotonic()
            argv_in = ["-m", "lab.lvs", "--runs", str(a.runs), "--seed", str(a.seed)]
            argv_in += ["--profiles", a.profiles, "--json", RESULTS_IN_VM, "--emulated"]
            r = vm.run(argv_in, timeout=600 + 600 * a.runs)
            phases["scenarios in the VM"] = time.monotonic() - t
            if r.returncode != 0:
                print(f"python -m lab.lvs failed in the VM (exit {r.returncode})", file=sys.stderr)
                return 1
            results = json.loads(vm.vm.get(RESULTS_IN_VM))
    finally:
        if brought_up:
            t = time.monotonic()
            daemons.down(paths)
            phases["sandbox down"] = time.monotonic() - t
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(report(results, a.runs))
    print()
    print("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()))
    print(f"total: {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
