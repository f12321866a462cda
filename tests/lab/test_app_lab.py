"""The user's application (nginx-ha:app) deployed by the program's own steps, replayed
against the lab with real nginx, keepalived and Tomcat, and a real WAR built from
support/app/ (JSPs naming their version and backend), while a client sends a request
through the VIP every 20 ms, every fourth a POST with a form body.

From the node page to 1.0.0, then 1.0.0 to 2.0.0: no request lost, one backend at a
time, each drained (its port refusing new connections) while its Tomcat restarts and
the primary gated through both load balancers; a
3.0.0 whose health path answers 500 stops at the first backend, which gets the
previous release back, and the other backend is never touched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench import rollout
from lab.lab import Lab
from tests.lab.instances import instance

pytestmark = [pytest.mark.slow, pytest.mark.root]


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces and daemons")
    for tool in ("nginx", "java", "curl", "nft", "ss"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    rollout.build_wars()
    with rollout.deployed(Lab("dev", "ours", instance=instance("test-app"))) as lab:
        yield lab


def released(lab: Lab) -> dict[str, str]:
    """The release each backend's Tomcat is pointed at (its descriptor's docBase)."""
    out = {}
    for b in lab.backends:
        xml = Path(b.layout.tomcat_base, "conf", "Catalina", "localhost", "ROOT.xml")
        out[b.node.name] = xml.read_text().split('docBase="')[1].split('"')[0].rsplit("/", 1)[1]
    return out


def served_versions(outcome) -> dict[str, set[str]]:
    by: dict[str, set[str]] = {}
    for r in outcome.requests:
        if r.ok and r.version:
            by.setdefault(r.backend or "?", set()).add(r.version)
    return by


def assert_no_request_lost(outcome) -> None:
    assert outcome.requests and outcome.posts, "the loop sent GETs and POSTs"
    assert not outcome.failed, rollout.as_json(outcome)["failed_requests"]


def test_the_first_deploy_and_a_new_build_lose_no_request_and_go_one_backend_at_a_time(lab):
    first = rollout.run(lab, rollout.CHANGES["app-first"], log=print)
    assert first.replay.failed is None, first.replay.failed.output if first.replay.failed else ""
    assert_no_request_lost(first)
    assert {v for vs in served_versions(first).values() for v in vs} == {"1.0.0"}

    second = rollout.run(lab, rollout.CHANGES["app-deploy"], log=print)
    done = second.replay
    assert done.failed is None, done.failed.output if done.failed else ""
    assert_no_request_lost(second)
    # Backends one at a time, the backup first; each drained before its Tomcat restarted
    # and gated through both load balancers.
    backends = [r for r in done.activations if r.step.node.startswith("tomcat")]
    assert [r.step.name for r in backends] == ["tomcat-backup-activate", "tomcat-primary-activate"]
    assert all("drained in" in r.output and "warmed up: / 200 in" in r.output for r in backends)
    # The primary is asked through both load balancers until it answers there itself
    # (nginx sends to the backup only while no primary answers).
    assert "through each load balancer: 200 from this backend" in backends[1].output
    assert backends[0].started + backends[0].seconds <= backends[1].started
    # Both versions answered while it ran, 2.0.0 from every backend at the end.
    assert set().union(*served_versions(second).values()) == {"1.0.0", "2.0.0"}
    last = sorted((r for r in second.requests if r.ok), key=lambda r: r.t0)[-20:]
    assert {r.version for r in last} == {"2.0.0"}
    assert len(set(released(lab).values())) == 1


def test_a_build_whose_health_fails_stops_at_the_first_backend_with_the_old_release_back(lab):
    before = released(lab)
    outcome = rollout.run(lab, rollout.CHANGES["broken-app"], log=print)
    failed = outcome.replay.failed
    assert failed is not None and failed.step.name == "tomcat-backup-activate"
    assert "500 from the application" in failed.output
    assert "the previous version is back and passes the gate" in failed.output
    assert not [r for r in outcome.replay.results if r.step.name == "tomcat-primary-activate"]
    assert_no_request_lost(outcome)
    # Both backends serve the release they served before; only it answered.
    assert released(lab) == before
    assert set().union(*served_versions(outcome).values()) == {"2.0.0"}
