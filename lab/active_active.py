"""Active-active in the lab (issue 8): every VIP observed at once, one fault.

With the active-active profile every load balancer is the MASTER of some VIP. A
scenario here breaks one node's nginx for good (its restart fails, as in
``nginx-dead``) while one request loop per VIP runs from the client namespace, and
observes each VIP on its own: the VIPs the node held must move to the next load
balancer of their instance's priority order, the others must not move and must not
lose a request.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from lab import scenarios
from lab.actions import wait_for
from lab.baseline import heal
from lab.client import Probe, wait_serving
from lab.lab import Lab
from lab.nodes import LabNode
from lab.observation import Observation
from lab.scenarios import INTERVAL, MAX_WINDOW, REQUEST_TIMEOUT
from lab.start import tomcat_answers

NGINX_DEAD = scenarios.SCENARIOS["nginx-dead"]


@dataclass
class VipObservation:
    vip: str
    master: str  # meant to hold the VIP
    moves: bool  # the victim held it: it must move
    obs: Observation  # the VIP's requests, the expected load balancer, holders after
    victim: str = ""  # the load balancer whose nginx was broken

    @property
    def row(self) -> str:
        o = self.obs
        expected = f"{o.expected_lb} (VIP {'moves' if self.moves else 'stays'})"
        return (
            f"| {o.profile} | nginx dead on {self.victim} | {self.vip} | {expected} | "
            f"{o.recovery_text if self.moves else '-'} | {len(o.failed)} of "
            f"{len(o.requests)} | {o.worst_latency:.2f} s | "
            f"{', '.join(o.holders_after) or 'nobody'} |"
        )


HEAD = (
    "| profile | fault | VIP | expected to answer | time to answer | failed requests | "
    "worst latency | VIP ends on |\n|---|---|---|---|---|---|---|---|"
)


def intended_holders(lab: Lab) -> dict[str, str]:
    """VIP -> the load balancer meant to hold it (topology: MASTER by priority order)."""
    return {str(i.vip): i.master for i in lab.topo.instances}


def next_holder(lab: Lab, vip: str, without: str) -> str:
    """Who takes ``vip`` over when ``without`` fails: the highest priority left."""
    inst = next(i for i in lab.topo.instances if str(i.vip) == vip)
    peers = [p for p in inst.peers.values() if p.node != without]
    return max(peers, key=lambda p: p.priority).node


def baseline(lab: Lab, timeout: float = 30) -> None:
    """Heal, then wait until every VIP is held by its intended node and serves."""
    heal(lab)
    want = intended_holders(lab)

    def normal() -> bool:
        return all(lab.vip_holders(vip) == [lb] for vip, lb in want.items())

    wait_for(normal, timeout, f"every VIP on its MASTER ({want})")
    for b in lab.backends:
        wait_for(lambda b=b: tomcat_answers(b), timeout, f"Tomcat {b.node.name}")
    for vip in want:
        wait_serving(lab, timeout, backend=lab.primary.node.name, url=lab.url_for(vip))
    check = lab.topo.vrrp.check
    time.sleep(float(check.interval) * check.rise)


def nginx_dead(lab: Lab, victim: LabNode, seed: int | None = None) -> list[VipObservation]:
    """Break ``victim``'s nginx for good; observe every VIP; heal."""
    rng = random.Random(seed)  # noqa: S311 - a fault's timing, not a secret
    baseline(lab)
    holders = intended_holders(lab)
    probes = {vip: Probe(lab, INTERVAL, MAX_WINDOW + 5.0, REQUEST_TIMEOUT, url=lab.url_for(vip))
              for vip in holders}  # fmt: skip
    out: list[VipObservation] = []
    for vip, master in holders.items():
        moves = master == victim.node.name
        expected = next_holder(lab, vip, master) if moves else master
        obs = Observation(
            NGINX_DEAD,
            lab.profile_name,
            master,
            expected,
            lab.primary.node.name,
            0.0,
            primary_name=lab.primary.node.name,
        )
        out.append(VipObservation(vip, master, moves, obs, victim=victim.node.name))
    ctx = scenarios.Context(lab, victim)
    try:
        time.sleep(0.3 + rng.uniform(0, float(lab.topo.vrrp.check.interval)))
        NGINX_DEAD.inject(ctx)
        fault_at, wall = time.monotonic(), time.time()
        for v in out:
            v.obs.fault_at, v.obs.fault_wall = fault_at, wall
        deadline = fault_at + MAX_WINDOW
        while time.monotonic() < deadline:
            time.sleep(0.1)
            done = True
            for v in out:
                v.obs.requests = probes[v.vip].snapshot()
                rec = v.obs.recovered_at
                done &= rec is not None and time.monotonic() - (fault_at + rec) >= 1.0
            if done:
                break
    finally:
        for v in out:
            v.obs.requests = probes[v.vip].stop()
    for v in out:
        v.obs.holders_after = lab.vip_holders(v.vip)
    NGINX_DEAD.restore(ctx)
    return out


def table(observations: list[VipObservation]) -> str:
    return "\n".join([HEAD, *(v.row for v in observations)])
