"""How long the tests take, layer by layer, as ``./scripts/test.sh`` runs them.

    venv/bin/python -m bench.tests                 # lint, the fast layers, the rest's default
    sudo venv/bin/python -m bench.tests --all      # every layer but e2e (NGINX_HA_TESTS=all)
    venv/bin/python -m bench.tests [--all] --save  # also docs/figures/tests.json
    CI=true venv/bin/python -m bench.tests --all   # as CI runs it: a skip is a failure

Each step runs the way the test command runs it (the fast layers together on every core,
the others one test at a time), with pytest's JUnit report read back for the counts and
the slowest tests. The table says what the machine was doing (its load before the run),
because the time of a layer is only comparable on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from bench import figures_files, figures_tests

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "venv" / "bin"
FAST = ["tests/unit", "tests/render", "tests/program"]


def _others() -> list[str]:
    return [
        f"tests/{d.name}"
        for d in sorted((ROOT / "tests").iterdir())
        if d.is_dir() and f"tests/{d.name}" not in FAST and any(d.glob("test_*.py"))
    ]


def _junit(path: Path) -> dict:
    """Counts and the slowest tests of a pytest JUnit report."""
    cases = list(ET.parse(path).getroot().iter("testcase"))  # noqa: S314 - pytest's own file
    counts = {"passed": 0, "skipped": 0, "failed": 0}
    timed = []
    for c in cases:
        kind = "passed"
        if c.find("skipped") is not None:
            kind = "skipped"
        elif c.find("failure") is not None or c.find("error") is not None:
            kind = "failed"
        counts[kind] += 1
        timed.append((float(c.get("time", 0)), f"{c.get('classname')}::{c.get('name')}"))
    timed.sort(reverse=True)
    return counts | {"slowest": [{"test": n, "s": round(t, 1)} for t, n in timed[:3]]}


def step(name: str, argv: list[str], env: dict[str, str], junit: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        cmd = argv + ([f"--junitxml={report}", "-q", "-p", "no:cacheprovider"] if junit else [])
        t = time.monotonic()
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        spent = time.monotonic() - t
        row = {"step": name, "seconds": round(spent, 1), "exit": r.returncode}
        if junit and report.exists():
            row |= _junit(report)
        if r.returncode != 0:
            tail = (r.stdout + r.stderr).strip().splitlines()[-5:]
            print(f"  {name}: exit {r.returncode}\n    " + "\n    ".join(tail), file=sys.stderr)
        return row


def plan(every: bool) -> list[tuple[str, list[str], bool]]:
    py = [str(VENV / "python"), "-m", "pytest"]
    steps: list[tuple[str, list[str], bool]] = [
        ("ruff check", [str(VENV / "ruff"), "check", "--quiet", "."], False),
        ("ruff format --check", [str(VENV / "ruff"), "format", "--check", "--quiet", "."], False),
        ("lint-imports", [str(VENV / "lint-imports"), "--no-cache"], False),
        ("pyright", [str(VENV / "pyright")], False),
        (
            "fast layers (" + ", ".join(FAST) + f"; -n {os.cpu_count()})",
            py + ["-n", str(os.cpu_count()), "--dist", "loadfile", *FAST],
            True,
        ),
    ]
    label = "" if every else " (default: pure parts)"
    steps += [(d + label, py + ["-p", "no:xdist", d], True) for d in _others()]
    return steps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tests", description=__doc__)
    p.add_argument("--all", action="store_true", help="every layer but e2e (root)")
    p.add_argument("--save", action="store_true", help="write docs/figures/tests.json")
    a = p.parse_args(argv)
    env = dict(os.environ)  # CI=true stays: then a skip for a missing tool fails
    if a.all:
        if os.geteuid() != 0:
            print("bench.tests --all needs root (the lab, the install scripts)", file=sys.stderr)
            return 2
        env["NGINX_HA_TESTS"] = "all"
    else:
        env.pop("NGINX_HA_TESTS", None)
    load = os.getloadavg()[0]
    rows = []
    for name, cmd, junit in plan(a.all):
        print(f"  {name} ...", file=sys.stderr, flush=True)
        rows.append(step(name, cmd, env, junit))
    ci = env.get("CI") == "true"
    d = {"ci": ci, "load_before": round(load, 2), "rows": rows}
    d |= {"measured": time.strftime("%Y-%m-%d"), "machine": figures_files.machine()}
    print(f"load average before the run: {load:.2f} ({figures_files.machine()})")
    print("\n".join(figures_tests.tests_table(d)))
    if a.save:
        # One file, two runs: the default one and every layer (--all), each kept until
        # measured again.
        kind = "all" if a.all else "default"
        saved = (
            figures_files.load("tests") if (figures_files.FIGURES / "tests.json").exists() else {}
        )
        saved = {k: v for k, v in saved.items() if k in ("default", "all")}
        print(f"saved {figures_files.save('tests', saved | {kind: d})}")
    return 1 if any(r["exit"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
