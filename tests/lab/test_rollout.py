"""Rollouts replayed against the lab with real nginx and keepalived: the program's own
remote steps, recorded under Pulumi mocks, run on the lab's nodes in their dependency
order (bench/replay.py), with a client sending a request through the VIP every 20 ms.

A good change goes through every node without a failed request, the VIP handed over
and back; a change that passes `nginx -t` but cannot serve stops at the first load
balancer, which is rolled back, and the MASTER is never touched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench import rollout
from lab.lab import Lab
from tests.lab.instances import instance

pytestmark = [pytest.mark.slow, pytest.mark.root]


@pytest.fixture
def lab():
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces and daemons")
    for tool in ("nginx", "java", "curl", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    with rollout.deployed(Lab("dev", "ours", instance=instance("test-rollout"))) as lab:
        yield lab


def test_a_good_change_rolls_through_every_node_without_a_failed_request(lab):
    outcome = rollout.run(lab, rollout.CHANGES["nginx-setting"], log=print)
    done = outcome.replay
    assert done.failed is None, done.failed.output if done.failed else ""
    assert [r.step.name for r in done.activations] == [
        "tomcat-backup-activate",
        "tomcat-primary-activate",
        "nginx-backup-activate",
        "nginx-master-activate",
    ]
    assert outcome.requests and not outcome.failed, {r.error or r.status for r in outcome.failed}
    # The VIP went to the BACKUP while the MASTER changed, and came back.
    holders = [h for _t, h in outcome.holders if h != "nobody"]
    assert holders[0] == "nginx-master" and "nginx-backup" in holders
    assert holders[-1] == "nginx-master"
    # Each load balancer runs the new file (nginx.readTimeout 2 s).
    for lb in lab.lbs:
        assert "proxy_read_timeout 2s;" in Path(lb.layout.nginx_conf).read_text()
    master = next(r for r in done.activations if r.step.node == "nginx-master")
    assert "handing the VIPs to the peer before the change" in master.output


def test_a_broken_nginx_conf_stops_at_the_first_load_balancer_and_is_rolled_back(lab):
    before = {lb.node.name: Path(lb.layout.nginx_conf).read_text() for lb in lab.lbs}
    outcome = rollout.run(lab, rollout.CHANGES["broken-nginx"], log=print)
    failed = outcome.replay.failed
    assert failed is not None and failed.step.name == "nginx-backup-activate"
    assert "failed its gate" in failed.output and "502" in failed.output
    assert "the previous version is back and passes the gate" in failed.output
    # Nothing ran after it: the MASTER was never activated, no request failed.
    assert not [r for r in outcome.replay.results if r.step.name == "nginx-master-activate"]
    assert outcome.requests and not outcome.failed, {r.error or r.status for r in outcome.failed}
    assert {h for _t, h in outcome.holders} == {"nginx-master"}
    # Both load balancers run the file they ran before.
    for lb in lab.lbs:
        assert Path(lb.layout.nginx_conf).read_text() == before[lb.node.name]
