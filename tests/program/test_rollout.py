"""The rollout's order under Pulumi mocks: stage on every node at once, activate one
node at a time (backends, then the load balancers, the MASTER last), each activation
after the previous node's gate; the handbacks after the last activation; on a serving
stack the VMs are also created and replaced one node at a time."""

from __future__ import annotations

from typing import Any

import pytest

from support import stacks
from support.mocks import run_program
from tests.program.commands import params_of

LBS = ("nginx-master", "nginx-backup")
BACKENDS = ("tomcat-primary", "tomcat-backup")
# Every node, in the order its activation runs.
ROLLOUT = ("tomcat-backup", "tomcat-primary", "nginx-backup", "nginx-master")
VM_PARTS = ("disk", "cloudinit", "domain")


def run(stack: str = "dev", **overrides: Any):
    return run_program(stacks.raw_config(stack, **overrides), stack=stack)


@pytest.fixture(scope="module")
def dev():
    return run()


def stage_steps(result, node: str) -> set[str]:
    return {
        r.name
        for r in result.resources
        if r.name.startswith(f"{node}-") and r.name.endswith(("-stage", "-upload", "-build"))
    }


def test_every_activation_of_the_master_waits_for_the_backups_gate(dev):
    """The issue's first criterion: the MASTER is changed only after the BACKUP's
    activation (and its gate) passed; each activation after the previous node's."""
    for before, after in zip(ROLLOUT, ROLLOUT[1:], strict=False):
        assert f"{before}-activate" in dev.waits_for(f"{after}-activate"), (before, after)
    # ... and never the other way round.
    for i, node in enumerate(ROLLOUT):
        later = {f"{n}-activate" for n in ROLLOUT[i + 1 :]}
        assert not later & dev.waits_for(f"{node}-activate"), node


def test_the_stage_steps_of_every_node_run_side_by_side(dev):
    master, backup = stage_steps(dev, "nginx-master"), stage_steps(dev, "nginx-backup")
    assert master and backup
    for step in master:
        assert not dev.waits_for(step) & (backup | {"nginx-backup-activate"}), step
    for step in backup:
        assert not dev.waits_for(step) & (master | {"nginx-master-activate"}), step
    # No activation waits on a stage step of a node that comes after it.
    assert not dev.waits_for("nginx-backup-activate") & master


def test_the_handbacks_follow_the_last_activation_and_the_smoke_test_follows_them(dev):
    assert "nginx-master-activate" in dev.waits_for("nginx-backup-handback")
    assert "nginx-backup-handback" in dev.waits_for("nginx-master-handback")
    assert {f"{lb}-handback" for lb in LBS} <= dev.waits_for("nginx-ha-smoke")


def test_the_activation_drains_a_vip_holder_and_knows_what_the_stack_wants(dev):
    master = params_of(dev.named("nginx-master-activate").inputs["create"])
    backup = params_of(dev.named("nginx-backup-activate").inputs["create"])
    # With preemption the MASTER is meant to hold the VIP, the BACKUP not.
    assert master["INSTANCES"] == "VI_121=192.168.159.110=MASTER"
    assert backup["INSTANCES"] == "VI_121=192.168.159.110=BACKUP"
    # Each asks its peer's nginx for the peer's live VRRP state.
    assert master["PEERS"] == "nginx-backup=http://192.168.159.130/nginx-ha/vrrp-state"
    # The gate: through its own nginx, answered with its name; VRRP settled after it.
    assert (master["GATE"], master["GATE_URL"]) == ("served-by", "http://192.168.159.129/")
    assert master["VRRP"] == "yes" and master["UNITS"] == "nginx nginx-ha-watch keepalived"
    assert master["DRAIN_DIR"] == "/run/nginx-ha/drain"
    without = params_of(
        run(vrrp={"virtualRouterId": 121, "preempt": False})
        .named("nginx-master-activate")
        .inputs["create"]
    )
    assert without["INSTANCES"] == "VI_121=192.168.159.110=ANY"  # whoever holds it keeps it


def test_a_lab_stack_creates_its_vms_side_by_side(dev):
    for node in ROLLOUT:
        for part in VM_PARTS:
            waits = dev.waits_for(f"{node}-{part}")
            assert not {f"{n}-activate" for n in ROLLOUT} & waits, (node, part)


def test_a_serving_stack_creates_and_replaces_its_vms_one_node_at_a_time():
    serving = run(serving=True)
    for before, after in zip(ROLLOUT, ROLLOUT[1:], strict=False):
        for part in VM_PARTS:
            # Replacing a VM deletes it first: no part of it may go before the previous
            # node passed its gate.
            assert f"{before}-activate" in serving.waits_for(f"{after}-{part}"), (after, part)
    # Other stacks serve by default (the staging stack is not a lab stack): its MASTER's
    # VM waits for the other load balancer's gate.
    staging = run("staging")
    assert "nginx-b-activate" in staging.waits_for("nginx-a-domain")


def test_preview_plans_the_same_rollout(dev):
    preview = run_program(stacks.raw_config("dev"), stack="dev", preview=True)
    for before, after in zip(ROLLOUT, ROLLOUT[1:], strict=False):
        assert f"{before}-activate" in preview.waits_for(f"{after}-activate")
