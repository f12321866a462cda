"""The LVS layer carrying traffic: the lab's ``lvs`` profile inside one sandbox VM.

    sudo venv/bin/python -m bench.lvs [--runs 3] [--seed 1] [--json FILE] [--save]
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
import sys
import time
from pathlib import Path

from bench import figures_files
from bench.figures_lvs import lvs_report as report
from nginx_ha.config.models import Keepalived
from nginx_ha.render.params import keepalived_build_params
from sandbox import daemons
from sandbox.labvm import LabVm, sandbox_paths
from support import debian_keepalived

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".run" / "lab-vm"
RESULTS_IN_VM = "/opt/nginx-ha/.run/lvs.json"
LOGS = CACHE / "logs"  # the lab's run folders of the last run, brought back from the VM


def keepalived_build(out=print) -> tuple[Path, str]:
    """keepalived with IPVS, built here by install_keepalived.sh with the parameters the
    program passes for an LVS stack (``--enable-lvs``) into a folder of its own; a
    second call finds the build's stamp and does nothing."""
    path, sha, version = debian_keepalived.orig_tarball()
    source = Keepalived(version=version, path=str(path), sha256=sha)
    base = CACHE / f"keepalived-{version}-lvs"
    params = keepalived_build_params(source, True, str(base / "prefix"), uploaded=str(path)) | {
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


def _fetch_logs(vm: LabVm) -> None:
    """The lab's logs out of the VM before it goes, also after a failure (a failure
    while fetching them is reported, it does not hide the run's own)."""
    try:
        where = vm.fetch_logs(LOGS)
    except Exception as e:  # noqa: BLE001 - the run's outcome matters more than its logs
        print(f"the lab's logs could not be brought back: {e}", file=sys.stderr)
        return
    print(f"the lab's logs (every node's keepalived, watcher, nginx, Tomcat): {where}")


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
        "--save",
        action="store_true",
        help="write docs/figures/lvs.json (every observation, the phases) for the docs",
    )
    p.add_argument(
        "--profiles", default="lvs,lvs-persistence", help="lab profiles, comma-separated"
    )
    p.add_argument(
        "--expire-nodest-conn",
        type=int,
        choices=(0, 1),
        default=1,
        help="IPVS's expire_nodest_conn on the directors: 1 as lvs_realserver.sh sets it, "
        "0 the kernel's default (for comparison; --save then writes "
        "docs/figures/lvs-kernel-default.json)",
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
        if isinstance(saved, dict):  # docs/figures/lvs.json
            saved = saved["results"]
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
            argv_in += ["--expire-nodest-conn", str(a.expire_nodest_conn)]
            try:
                r = vm.run(argv_in, timeout=600 + 600 * a.runs)
            finally:
                phases["scenarios in the VM"] = time.monotonic() - t
                _fetch_logs(vm)
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
    total = time.monotonic() - t0
    print(f"total: {total:.0f} s")
    if a.save:
        figures = {"runs": a.runs, "seed": a.seed, "results": results}
        figures |= {"phases": {k: round(v, 1) for k, v in phases.items()}}
        name = "lvs" if a.expire_nodest_conn == 1 else "lvs-kernel-default"
        print(f"saved {figures_files.save(name, figures | {'total_s': round(total)})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
