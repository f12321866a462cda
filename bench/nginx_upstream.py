"""The Tomcat tier alone: the rendered nginx.conf (stack defaults: 1 s timeouts,
max_fails 1, fail_timeout 10 s) in front of a primary and a backup on loopback in a
network namespace, printed as a markdown table.

    sudo venv/bin/python -m bench.nginx_upstream [--runs 3] [--seed 1] [--save]
    venv/bin/python -m bench.nginx_upstream --rows   # the README's row (saved figures)

Per scenario and run: a client inside the namespace sends one GET every 20 ms (each
bounded by 3 s); the fault is injected at a random moment 0.5-1.5 s in.
- primary stopped: failed requests, the slowest request, time to the first answer
  from the backup;
- primary hung (its process frozen: connections accepted, never answered): same;
- primary back (restarted after being stopped): time until it serves again.
Each figure is the median of the runs. Needs root; prints why when it cannot run.
Everything it starts is stopped at the end, also on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import figures_files, figures_parts  # noqa: E402
from support import live_nginx as live  # noqa: E402

# Runs in the namespace: one GET every PERIOD s for DURATION s; a JSON line each.
CLIENT = r"""
import http.client, json, re, sys, time
url_host, port, duration, period = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
end = time.monotonic() + duration
while time.monotonic() < end:
    t0 = time.monotonic()
    status, backend = 0, "none"
    try:
        c = http.client.HTTPConnection(url_host, port, timeout=3)
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        status = r.status
        m = re.search(r"nginx-ha-backend=([a-z0-9-]+) ", body)
        backend = m.group(1) if m else "none"
        c.close()
    except Exception as e:
        backend = type(e).__name__
    t1 = time.monotonic()
    print(json.dumps({"t": t0, "ms": (t1 - t0) * 1000, "status": status, "backend": backend}), flush=True)
    time.sleep(max(0.0, period - (t1 - t0)))
"""
PERIOD = 0.02


def client(ns: live.Netns, duration: float) -> subprocess.Popen:
    return subprocess.Popen(
        ns.cmd(sys.executable, "-c", CLIENT, live.VIP, str(live.PORT), str(duration), str(PERIOD)),
        stdout=subprocess.PIPE,
        text=True,
    )


def samples(proc: subprocess.Popen) -> list[dict]:
    out, _ = proc.communicate(timeout=120)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def fault_run(ns: live.Netns, kind: str, rng: random.Random) -> dict:
    proc = client(ns, duration=4.0)
    time.sleep(rng.uniform(0.5, 1.5))
    t_fault = time.monotonic()
    primary = ns.procs[live.PRIMARY].pid
    if kind == "hung":
        # Frozen: the kernel still accepts connections, nothing answers them.
        os.killpg(primary, signal.SIGSTOP)
    else:
        ns.stop(live.PRIMARY)
    got = samples(proc)
    if kind == "hung":
        os.killpg(primary, signal.SIGCONT)
    after = [s for s in got if s["t"] >= t_fault]
    first_backup = next((s for s in after if s["backend"] == live.BACKUP), None)
    return {
        "requests": len(got),
        "failed": sum(1 for s in got if s["status"] != 200),
        "slowest_ms": max(s["ms"] for s in got),
        "to_backup_ms": (first_backup["t"] + first_backup["ms"] / 1000 - t_fault) * 1000
        if first_backup
        else None,
    }


def back_run(ns: live.Netns, rng: random.Random) -> dict:
    ns.stop(live.PRIMARY)
    proc = client(ns, duration=14.0)
    time.sleep(rng.uniform(0.5, 1.5))
    t_back = time.monotonic()
    ns.start_backend(live.PRIMARY, live.PRIMARY_ADDR)  # type: ignore[attr-defined]
    got = samples(proc)
    first = next((s for s in got if s["t"] >= t_back and s["backend"] == live.PRIMARY), None)
    return {
        "requests": len(got),
        "failed": sum(1 for s in got if s["status"] != 200),
        "back_s": (first["t"] - t_back) if first else None,
    }


def med(values: list[float | None], fmt: str) -> str:
    got = [v for v in values if v is not None]
    if len(got) < len(values):
        return f"never in {len(values) - len(got)} of {len(values)}"
    return fmt.format(statistics.median(got))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.nginx_upstream", description=__doc__)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--save", action="store_true", help="write docs/figures/nginx_upstream.json")
    p.add_argument("--rows", action="store_true", help="print the README's row and exit")
    args = p.parse_args(argv)
    if args.rows:
        print(figures_parts.nginx_upstream_summary(figures_files.load("nginx_upstream")))
        return 0
    if os.geteuid() != 0:
        print("bench.nginx_upstream: needs root (network namespace)")
        return 0
    if shutil.which("nginx") is None or shutil.which("ip") is None:
        print("bench.nginx_upstream: needs nginx and iproute2")
        return 0
    rng = random.Random(args.seed)  # noqa: S311 (when to inject a fault, not a secret)
    fail_timeout = live.settings(fail_timeout=10).nginx.fail_timeout
    rows = {"stopped": [], "hung": [], "back": []}
    for _ in range(args.runs):
        for kind in ("stopped", "hung"):
            with (
                tempfile.TemporaryDirectory() as tmp,
                live.live_nginx(Path(tmp), fail_timeout) as ns,
            ):
                rows[kind].append(fault_run(ns, kind, rng))
                print(f"  {kind}: {rows[kind][-1]}", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp, live.live_nginx(Path(tmp), fail_timeout) as ns:
            rows["back"].append(back_run(ns, rng))
            print(f"  back: {rows['back'][-1]}", file=sys.stderr)

    print(
        f"nginx upstream tier, rendered defaults (timeouts 1 s, max_fails 1, fail_timeout {fail_timeout} s), "
        f"one GET every {PERIOD * 1000:.0f} ms, median of {args.runs} runs\n"
    )
    print(
        "| scenario | requests | failed | slowest request | first backup answer after fault | primary serves again after restart |"
    )
    print("|---|---|---|---|---|---|")
    for kind, title in (("stopped", "primary stopped"), ("hung", "primary hung")):
        r = rows[kind]
        print(
            f"| {title} | {med([x['requests'] for x in r], '{:.0f}')} | {med([x['failed'] for x in r], '{:.0f}')} "
            f"| {med([x['slowest_ms'] for x in r], '{:.0f} ms')} | {med([x['to_backup_ms'] for x in r], '{:.0f} ms')} | - |"
        )
    r = rows["back"]
    print(
        f"| primary back | {med([x['requests'] for x in r], '{:.0f}')} | {med([x['failed'] for x in r], '{:.0f}')} "
        f"| - | - | {med([x['back_s'] for x in r], '{:.1f} s')} |"
    )
    if args.save:

        def median(kind: str, key: str) -> float | None:
            got = [x[key] for x in rows[kind] if x.get(key) is not None]
            return round(statistics.median(got), 1) if got else None

        saved = [
            {
                "scenario": name,
                "title": title,
                "requests": median(kind, "requests"),
                "failed": median(kind, "failed"),
                "slowest_ms": median(kind, "slowest_ms") if kind != "back" else None,
                "to_backup_ms": median(kind, "to_backup_ms") if kind != "back" else None,
                "back_s": median(kind, "back_s") if kind == "back" else None,
            }
            for kind, name, title in (
                ("stopped", "stops", "primary stopped"),
                ("hung", "hangs", "primary hung"),
                ("back", "comes back", "primary back"),
            )
        ]
        figures_files.save("nginx_upstream", {"runs": args.runs, "seed": args.seed, "rows": saved})
        print(figures_parts.nginx_upstream_summary(figures_files.load("nginx_upstream")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
