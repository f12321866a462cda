"""How long the program takes to build its resource graph under Pulumi mocks.

    venv/bin/python -m bench.program [--repeat 3] [--save]
    venv/bin/python -m bench.program --rows     # the README's row, from the saved figures

Prints a table for stacks of 4, 20 and 66 VMs (2 load balancers, the rest backends; 64
backends is the most a stack may have, pins.py): settings parsing and topology alone,
and the whole program (every resource registered with the mock engine), median of the
repeats. ``--save`` writes docs/figures/program.json, which the README's row is
generated from (bench/docfigures.py).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import statistics
import time

from bench import figures_files, figures_parts
from nginx_ha.config import parse_settings
from nginx_ha.topology import build_topology
from support import stacks
from support.mocks import run_program


def raw_for(vms: int) -> dict[str, str]:
    net = ipaddress.IPv4Network("10.40.0.0/16")
    hosts = list(net.hosts())
    lbs = [{"name": f"lb{i}", "ip": str(hosts[10 + i]), "priority": 200 - i} for i in range(2)]
    backends = [
        {"name": f"app{i}", "ip": str(hosts[100 + i]), "role": "primary" if i % 3 else "backup"}
        for i in range(vms - 2)
    ]
    backends[0]["role"] = "primary"
    return stacks.raw_config(
        "dev",
        network={"cidr": str(net), "mode": "nat"},
        vip=str(hosts[5]),
        loadBalancers=lbs,
        backends=backends,
    )


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    logging.disable(logging.WARNING)  # the program warns about shared hosts; not the point here
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="*", default=[4, 20, 66])
    ap.add_argument("--save", action="store_true", help="write docs/figures/program.json")
    ap.add_argument("--rows", action="store_true", help="print the README's row and exit")
    args = ap.parse_args()
    if args.rows:
        print(figures_parts.program_summary(figures_files.load("program")))
        return
    print("| VMs | resources | settings + topology (ms) | whole program under mocks (s) |")
    print("|---:|---:|---:|---:|")
    rows = []
    for n in args.sizes:
        raw = raw_for(n)
        pure = timed(
            lambda raw=raw: build_topology(parse_settings(raw, secret_keys=stacks.SECRET_KEYS)),
            args.repeat,
        )
        counts: list[int] = []

        def whole(raw=raw, counts=counts):
            counts.append(len(run_program(raw, stack="bench").resources))

        full = timed(whole, args.repeat)
        print(f"| {n} | {counts[-1]} | {pure * 1000:.1f} | {full:.2f} |", flush=True)
        rows.append(
            {
                "vms": n,
                "resources": counts[-1],
                "topology_ms": round(pure * 1000, 1),
                "program_s": round(full, 2),
            }
        )
    if args.save:
        path = figures_files.save("program", {"repeat": args.repeat, "rows": rows})
        print(
            f"saved {path.relative_to(figures_files.ROOT)}: {figures_parts.program_summary(figures_files.load('program'))}"
        )


if __name__ == "__main__":
    main()
