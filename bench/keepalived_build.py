"""How long templates/scripts/install_keepalived.sh takes on this machine.

    sudo venv/bin/python -m bench.keepalived_build [--repeat 2] [--jobs N] [--save]
    venv/bin/python -m bench.keepalived_build --rows   # the README's row (saved figures)

Builds keepalived from Debian's copy of the upstream tarball (no internet) into a
throwaway prefix (the installed /usr/local/keepalived is left alone), with the
parameters the program passes, and prints the script's own per-phase timings
(dependencies, source, configure, make, install), the whole first run, and the second
run (which must find nothing to do). Median of the repeats.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import figures_files, figures_parts
from nginx_ha.config.models import Keepalived
from nginx_ha.render.params import keepalived_build_params, script_text
from support import debian_keepalived

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "nginx_ha/templates/scripts/install_keepalived.sh"
PHASES = ("deps", "source", "configure", "make", "install")


def run(params: dict[str, str]) -> tuple[float, str]:
    start = time.monotonic()
    out = subprocess.run(
        ["bash", "-c", script_text(SCRIPT.read_text(), params)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        sys.exit(f"install_keepalived.sh failed:\n{out.stdout}\n{out.stderr}")
    return elapsed, out.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=str(__doc__).splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--save", action="store_true", help="write docs/figures/keepalived_build.json"
    )
    parser.add_argument("--rows", action="store_true", help="print the README's row and exit")
    args = parser.parse_args()
    if args.rows:
        print(figures_parts.keepalived_summary(figures_files.load("keepalived_build")))
        return 0
    if os.geteuid() != 0:
        sys.exit("needs root: the script installs build dependencies")
    path, sha, version = debian_keepalived.orig_tarball()
    source = Keepalived(version=version, path=str(path), sha256=sha)
    base = keepalived_build_params(source, False, "/usr/local/keepalived", str(path))

    rows: dict[str, list[float]] = {name: [] for name in (*PHASES, "first run", "second run")}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="nha-bench-") as tmp:
            params = dict(
                base,
                PREFIX=f"{tmp}/prefix",
                UNIT_PATH=f"{tmp}/keepalived.service",
                WORK_DIR=f"{tmp}/work",
                LOG_DIR=f"{tmp}/log",
                JOBS=str(args.jobs),
            )
            total, out = run(params)
            phases = dict(re.findall(r"^phase (\w+) ([0-9.]+)$", out, re.M))
            for name in PHASES:
                rows[name].append(float(phases[name]))
            rows["first run"].append(total)
            again, out2 = run(params)
            if "nothing to do" not in out2:
                sys.exit(f"the second run was not a no-op:\n{out2}")
            rows["second run"].append(again)

    print(
        f"install_keepalived.sh: keepalived {version} from {path.name}, "
        f"make -j{args.jobs}, {os.cpu_count()} CPUs, median of {args.repeat}"
    )
    print(f"| {'phase':<11} | {'seconds':>8} |")
    print(f"|{'-' * 13}|{'-' * 10}|")
    for name, values in rows.items():
        print(f"| {name:<11} | {statistics.median(values):>8.2f} |")
    if args.save:
        med = {name: round(statistics.median(v), 2) for name, v in rows.items()}
        figures_files.save(
            "keepalived_build",
            {
                "version": version,
                "jobs": args.jobs,
                "repeat": args.repeat,
                "phases": {name: med[name] for name in PHASES},
                "first_run_s": med["first run"],
                "second_run_s": med["second run"],
            },
        )
        print(figures_parts.keepalived_summary(figures_files.load("keepalived_build")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
