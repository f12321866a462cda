"""LVS (IPVS) in the lab: traffic through keepalived's virtual servers (issue 16).

Runs where the kernel has IPVS (the lab's ``lvs`` profile refuses elsewhere); from this
project's machines that is inside a VM of the sandbox (``python -m bench.lvs``). Every
scenario sends one request every 20 ms (bounded) to each VIP from the client namespace
and counts who answered: the real server is nginx's ``X-Served-By``, the director is the
VRRP holder of the VIP (the node with the VIP on its LAN interface).

- ``share``: both nginx nodes take a share of every VIP (rr).
- ``nginx-dead``: one node's nginx dies for good (its restart fails, as the lab's
  ``nginx-dead``): its share moves to the other node on every VIP; the VIP it directed
  moves too (a failed check puts its instance in FAULT).
- ``director-dies``: the host of the first VIP's director is cut off (switch port down):
  the director role moves to the other node, and the dead node's share moves on every VIP.
- ``persistence`` (profile ``lvs-persistence``, ``lvs.persistenceTimeout`` set): one client
  stays on one real server for every request.

``python -m lab.lvs [--runs N] [--json FILE]`` (root) brings the lab up with each profile,
runs the scenarios and writes every observation as JSON: what ``bench.lvs`` brings back.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.active_active import intended_holders
from lab.errors import LabError
from lab.ipvs import ipvs_sysctls, set_expire_nodest_conn, tables
from lab.lab import Lab
from lab.lvs_scenarios import director_dies, nginx_dead, share
from support import netns

PROFILE = "lvs"
PERSISTENCE_PROFILE = "lvs-persistence"
# Timings for a lab under software emulation (``--emulated``; bench.lvs runs the lab in a
# TCG VM): its four nodes share two emulated CPUs, where one curl takes about 0.7 s and
# the default 0.25 s adverts, 0.8 s check timeout and 0.2 s watcher flap (measured: every
# instance went MASTER, then FAULT on "VRRP_Script(chk_nginx) timed_out"). The sandbox
# stack's VRRP timings (advert 1 s, check every 2 s), with 2 s for the check's timeout
# and the watcher. The LVS checker's timings are the rendered defaults either way.
EMULATED: dict[str, Any] = {
    "vrrp": {"advertInterval": 1, "check": {"interval": 2, "timeout": 2, "watchInterval": 2}}
}
START_TIMEOUT = 300.0  # seconds for each Tomcat, then the VIP, to answer at lab up


def run_profile(
    profile: str,
    runs: int,
    seed: int,
    log=print,
    overrides: dict[str, Any] | None = None,
    expire_nodest_conn: int | None = None,
) -> list[dict]:
    """Bring the lab up with ``profile`` (and ``overrides``), run its scenarios ``runs``
    times, bring it down. ``expire_nodest_conn``: set it on every director after the
    real-server step (which sets 1), to compare with the kernel's default 0."""
    # Under software emulation (a sandbox VM) a JVM takes far longer to start.
    lab = Lab(
        "dev",
        profile,
        instance="lvs-p" if profile == PERSISTENCE_PROFILE else "lvs",
        start_timeout=START_TIMEOUT,
        overrides=overrides,
    )
    why = lab.lvs_unavailable()
    if why:
        raise LabError(f"the LVS scenarios cannot run here: {why}")
    out: list[dict] = []
    t = time.monotonic()
    lab.up(log=log)
    log(f"lab up with profile {profile} in {time.monotonic() - t:.1f} s")
    try:
        if expire_nodest_conn is not None:
            set_expire_nodest_conn(lab, expire_nodest_conn)
        sysctls = ipvs_sysctls(lab)
        log(f"IPVS expire_nodest_conn per director: {sysctls}")
        for i in range(runs):
            v = lab.topo.vrrp
            tag = {
                "run": i + 1,
                "profile": profile,
                "advert": float(v.advert_interval),
                "check": float(v.check.interval),
                "expire_nodest_conn": sysctls,
            }
            if profile == PERSISTENCE_PROFILE:
                batches = [share(lab, "persistence")]
            else:
                batches = [
                    share(lab),
                    nginx_dead(lab, lab.nodes[intended_holders(lab)[lab.vips[0]]], seed + i),
                    director_dies(lab, seed + 100 + i),
                ]
            for batch in batches:
                for r in batch:
                    out.append(tag | r.as_json())
                    log(json.dumps(out[-1]))
    except BaseException:
        diagnose(lab, log)
        raise
    finally:
        lab.down(log=log, keep_logs=True)
    return out


def diagnose(lab: Lab, log=print, lines: int = 25) -> None:
    """What a failed run leaves to read (the VM goes with it): the live VRRP view, every
    director's IPVS table, and the end of each load balancer's keepalived and watcher
    logs."""
    try:
        log(lab.status())
        log(f"IPVS tables: {tables(lab)}")
    except Exception as e:  # noqa: BLE001 - a diagnosis never hides the failure
        log(f"(no live status: {e})")
    for lb in lab.lbs:
        ka = Path(lb.layout.keepalived_conf).parent
        for name in ("keepalived.log", "nginx_watch.log"):
            path = ka / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                log(f"--- {lb.node.name} {name} (last {len(tail)} lines)\n" + "\n".join(tail))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.lvs", description=__doc__)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the observations here (default: stdout)")
    p.add_argument("--profiles", default=f"{PROFILE},{PERSISTENCE_PROFILE}", help="comma-separated")
    p.add_argument(
        "--emulated",
        action="store_true",
        help="VRRP timings for a lab under software emulation (advert 1 s, checks 2 s)",
    )
    p.add_argument(
        "--expire-nodest-conn",
        type=int,
        choices=(0, 1),
        help="set IPVS's expire_nodest_conn on every director after the real-server step "
        "(which sets 1): 0 compares with the kernel's default",
    )
    a = p.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    # A SIGTERM (the VM runner giving up) unwinds like Ctrl-C: the lab comes down.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    results: list[dict] = []
    try:
        for profile in a.profiles.split(","):
            results += run_profile(
                profile,
                a.runs,
                a.seed,
                log,
                EMULATED if a.emulated else None,
                a.expire_nodest_conn,
            )
    except netns.NetnsError as e:
        log(f"lab.lvs: {e}")
        return 2
    text = json.dumps(results, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
