"""The LVS scenarios (lab/lvs.py runs them): the baseline with every nginx node in every
virtual service; ``share``, every VIP asked with nothing broken; a fault (``nginx_dead``,
``director_dies``) injected while every VIP is asked, observed until only the survivor
answers and its checker has the victim out; the load balancers' events around it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from lab import scenarios
from lab.actions import wait_for
from lab.active_active import baseline as aa_baseline
from lab.active_active import intended_holders
from lab.client import Probe
from lab.ipvs import director_tables, fwmarks, ipvs_reader, ipvs_table
from lab.lab import Lab
from lab.lvs_observation import VipRun
from lab.nodes import LabNode
from lab.observation import lb_events
from lab.scenarios import INTERVAL, MAX_WINDOW, REQUEST_TIMEOUT

SHARE_REQUESTS = 250  # 5 s at one request every 20 ms, per VIP
SETTLE = 2.0  # seconds of answers from the surviving node only, once the fault is handled


def baseline(lab: Lab, timeout: float = 180) -> None:
    """Every VIP on its MASTER and serving (active-active's baseline), and every
    director's virtual service has every nginx node as a real server again (keepalived's
    HTTP_GET adds a healed node back at its next check)."""
    aa_baseline(lab, timeout)
    want = sorted(str(lb.node.ip) for lb in lab.lbs)
    marks = fwmarks(lab)

    def complete() -> bool:
        for vip, holder in intended_holders(lab).items():
            if sorted(ipvs_table(lab, lab.nodes[holder]).get(marks[vip], [])) != want:
                return False
        return True

    wait_for(complete, timeout, f"every real server ({', '.join(want)}) in every virtual service")


# ------------------------------------------------------------------------- scenarios


def share(lab: Lab, name: str = "share", requests: int = SHARE_REQUESTS) -> list[VipRun]:
    """``requests`` requests to every VIP at once, nothing broken: who answers."""
    baseline(lab)
    duration = requests * INTERVAL
    runs = [VipRun(name, vip, holder, None) for vip, holder in intended_holders(lab).items()]
    before = director_tables(lab)
    probes = {
        r.vip: Probe(lab, INTERVAL, duration, REQUEST_TIMEOUT, url=lab.url_for(r.vip)) for r in runs
    }
    try:
        for p in probes.values():
            p.finished.wait(duration + REQUEST_TIMEOUT + 10)
    finally:
        for r in runs:
            r.requests = probes[r.vip].stop()
    for r in runs:
        r.director_after = lab.vip_holders(r.vip)
        r.ipvs_before = {r.vip: before.get(r.vip, [])}
    return runs


def _fault(
    lab: Lab,
    name: str,
    victim: LabNode,
    inject: Callable[[scenarios.Context], None],
    restore: Callable[[scenarios.Context], None],
    seed: int | None,
) -> list[VipRun]:
    """Inject ``inject`` on ``victim`` while every VIP is asked; observe until only the
    other node answers every VIP steadily and has the victim out of its virtual services
    (bounded); restore."""
    rng = random.Random(seed)  # noqa: S311 - a fault's timing, not a secret
    baseline(lab)
    survivor = next(lb for lb in lab.lbs if lb is not victim)
    holders = intended_holders(lab)
    runs = [VipRun(name, vip, holder, survivor.node.name) for vip, holder in holders.items()]
    before = director_tables(lab)
    for r in runs:
        r.ipvs_before = {r.vip: before.get(r.vip, [])}
    probes = {
        r.vip: Probe(lab, INTERVAL, MAX_WINDOW + 5.0, REQUEST_TIMEOUT, url=lab.url_for(r.vip))
        for r in runs
    }
    ctx = scenarios.Context(lab, victim)
    marks = fwmarks(lab)
    survivor_ipvs = ipvs_reader(lab, survivor)
    victim_ip = str(victim.node.ip)
    try:
        # A random moment within one check interval: a fixed one gives best cases.
        time.sleep(0.5 + rng.uniform(0, float(lab.topo.vrrp.check.interval)))
        inject(ctx)
        fault_at = time.monotonic()
        fault_wall = time.time()
        for r in runs:
            r.fault_at = fault_at
        deadline = fault_at + MAX_WINDOW
        while time.monotonic() < deadline:
            time.sleep(0.1)
            table = survivor_ipvs()
            done = True
            for r in runs:
                if r.removed_at is None and victim_ip not in table.get(marks[r.vip], []):
                    r.removed_at = time.monotonic() - fault_at
                r.requests = probes[r.vip].snapshot()
                rec = r.recovered_at
                # Done once only the survivor answers, steadily, and its checker has
                # the victim out (what the table reports: both must be seen).
                done &= rec is not None and time.monotonic() - (fault_at + rec) >= SETTLE
                done &= r.removed_at is not None
            if done:
                break
    finally:
        for r in runs:
            r.requests = probes[r.vip].stop()
    after = director_tables(lab)
    for r in runs:
        r.director_after = lab.vip_holders(r.vip)
        r.ipvs_after = {r.vip: after.get(r.vip, [])}
        r.events = node_events(lab, r.vip, fault_wall)
        r.director_moved_at = took_over_at(r.events, survivor.node.name)
    restore(ctx)
    return runs


def node_events(lab: Lab, vip: str, fault_wall: float) -> list[list]:
    """What the load balancers did around a fault, for ``vip``: each one's VRRP
    transitions of its instance and its watcher's verdicts and holds, from a second
    before the fault, on the fault's clock: ``[seconds, node, kind, what]``."""
    instance = next(i.name for i in lab.topo.instances if str(i.vip) == vip)
    events = lb_events(lab, instance, fault_wall, since=-1.0)
    return [[round(e.t, 3), e.node, e.kind, e.what] for e in sorted(events, key=lambda e: e.t)]


def took_over_at(events: list[list], node: str) -> float | None:
    """Seconds from the fault to ``node`` entering MASTER (``node_events`` rows; None:
    it did not after the fault)."""
    moves = [t for t, who, kind, what in events if (who, kind, what) == (node, "vrrp", "MASTER")]
    return min((t for t in moves if t >= 0), default=None)


def nginx_dead(lab: Lab, victim: LabNode, seed: int | None = None) -> list[VipRun]:
    nd = scenarios.SCENARIOS["nginx-dead"]
    return _fault(lab, "nginx-dead", victim, nd.inject, nd.restore, seed)


def director_dies(lab: Lab, seed: int | None = None) -> list[VipRun]:
    """The first VIP's director cut off (its switch port down: a host death)."""
    victim = lab.nodes[intended_holders(lab)[lab.vips[0]]]
    hc = scenarios.SCENARIOS["host-cut"]
    return _fault(lab, "director-dies", victim, hc.inject, hc.restore, seed)
