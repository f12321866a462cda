"""One failover scenario run (``python -m lab failover``, bench/failover.py, the lab
tests): heal the lab to its normal state, (optionally) set up a pre-state, start the
client's request loop, inject the fault at a random moment (a fixed one lands just after
a health check and gives best-case numbers), observe until the expected node answers
steadily (or a bounded window ends), stop the loop, restore.
"""

from __future__ import annotations

import random
import time

from lab.actions import wait_for
from lab.baseline import baseline
from lab.client import Probe, wait_serving
from lab.lab import Lab
from lab.observation import Observation, node_events
from lab.scenarios import INTERVAL, REQUEST_TIMEOUT, Context, Scenario, cut


def run(lab: Lab, scenario: Scenario, restore: bool = True, seed: int | None = None) -> Observation:
    """Run one scenario on a lab that is up; heal it afterwards unless ``restore`` is
    False."""
    rng = random.Random(seed)  # noqa: S311 - a fault's timing, not a secret
    holder = baseline(lab)
    ctx = Context(lab, holder)
    if scenario.setup is not None:
        scenario.setup(ctx)
        # The pre-state: the other load balancer holds the VIP, or the backup Tomcat
        # serves; then a second for the dust to settle.
        if scenario.setup is cut:
            wait_for(lambda: lab.vip_holders() == [ctx.other.node.name], 30, "the VIP to move")
            wait_serving(lab, 30)
        else:
            wait_serving(lab, 30, backend=lab.backup_backend.node.name)
        time.sleep(1.0)
    who = scenario.expect_lb(ctx)
    expected_lb = {"holder": holder.node.name, "other": ctx.other.node.name}.get(who or "")
    expected_backend = (
        lab.primary.node.name
        if scenario.expect_backend == "primary"
        else lab.backup_backend.node.name
    )
    window = scenario.window(lab)
    probe = Probe(lab, INTERVAL, window + 5.0, REQUEST_TIMEOUT)
    obs = Observation(
        scenario,
        lab.profile_name,
        holder.node.name,
        expected_lb,
        expected_backend,
        0.0,
        primary_name=lab.primary.node.name,
    )
    try:
        # A random moment within one health-check interval (two for the tutorial).
        interval = float(lab.topo.vrrp.check.interval)
        time.sleep(0.3 + rng.uniform(0, interval))
        scenario.inject(ctx)
        obs.fault_at = time.monotonic()
        obs.fault_wall = time.time()
        deadline = obs.fault_at + window
        while time.monotonic() < deadline:
            time.sleep(0.1)
            obs.requests = probe.snapshot()
            rec = obs.recovered_at
            if rec is not None and time.monotonic() - (obs.fault_at + rec) >= scenario.settle:
                break
    finally:
        obs.requests = probe.stop()
    obs.holders_after = lab.vip_holders()
    obs.lbs = [lb.node.name for lb in lab.lbs]
    obs.events = node_events(lab, obs)
    if restore:
        scenario.restore(ctx)
    return obs
