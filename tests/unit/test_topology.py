"""Topology: VRRP roles, stable and unique MACs, stack-scoped names."""

from __future__ import annotations

import re

from nginx_ha.config import parse_settings
from nginx_ha.topology import assign_macs, build_topology, derive_mac
from support import stacks


def topo(stack="dev", **overrides):
    s = parse_settings(
        stacks.raw_config("dev", **overrides), stack=stack, secret_keys=stacks.SECRET_KEYS
    )
    return build_topology(s)


def test_highest_priority_is_master_and_peers_point_at_each_other():
    t = topo()
    assert t.master.name == "nginx-master"
    assert (t.peers["nginx-master"].state, t.peers["nginx-backup"].state) == ("MASTER", "BACKUP")
    assert [str(p) for p in t.peers["nginx-master"].unicast_peers] == ["192.168.159.130"]
    assert [str(p) for p in t.peers["nginx-backup"].unicast_peers] == ["192.168.159.129"]
    assert not any(v.nopreempt for v in t.peers.values())


def test_master_is_the_higher_priority_whatever_the_order():
    lbs = [
        {"name": "lb-a", "ip": "192.168.159.129", "priority": 90},
        {"name": "lb-b", "ip": "192.168.159.130", "priority": 200},
    ]
    assert topo(loadBalancers=lbs).master.name == "lb-b"


def test_without_preemption_both_start_backup_with_nopreempt():
    t = topo(vrrp={"preempt": False})
    assert {v.state for v in t.peers.values()} == {"BACKUP"}
    assert all(v.nopreempt for v in t.peers.values())
    # The priority still decides who wins the first election.
    assert t.peers["nginx-master"].priority > t.peers["nginx-backup"].priority


def test_macs_are_qemu_unicast_stable_and_different_per_stack():
    dev1, dev2, staging = topo("dev"), topo("dev"), topo("staging")
    macs = [n.mac for n in dev1.nodes]
    assert all(re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", m) for m in macs)
    assert macs == [n.mac for n in dev2.nodes]  # stable across runs
    assert len(set(macs)) == len(macs)  # unique within the stack
    assert set(macs).isdisjoint(n.mac for n in staging.nodes)  # other stack, other MACs


def test_mac_override_wins_and_generated_macs_avoid_it():
    def with_master_mac(mac: str):
        lbs = [
            {"name": "nginx-master", "ip": "192.168.159.129", "priority": 150, "mac": mac},
            {"name": "nginx-backup", "ip": "192.168.159.130", "priority": 100},
        ]
        return topo(loadBalancers=lbs)

    t = with_master_mac("52:54:00:AA:BB:CC")
    assert t.node("nginx-master").mac == "52:54:00:aa:bb:cc"
    # The override is what nginx-backup would be given: nginx-backup gets another one.
    backups = topo().node("nginx-backup").mac
    t = with_master_mac(backups)
    assert t.node("nginx-master").mac == backups
    assert t.node("nginx-backup").mac != backups
    macs = [n.mac for n in t.nodes]
    assert len(set(macs)) == len(macs)


def test_a_generated_collision_is_resolved_deterministically():
    # Force a collision: an override equal to what "b" would get.
    b_mac = derive_mac("p", "s", "b")
    out1 = assign_macs("p", "s", [("a", b_mac), ("b", None), ("c", None)])
    out2 = assign_macs("p", "s", [("c", None), ("b", None), ("a", b_mac)])
    assert out1 == out2
    assert out1["a"] == b_mac and out1["b"] != b_mac
    assert out1["b"] == derive_mac("p", "s", "b", attempt=1)
    assert len(set(out1.values())) == 3


def test_many_vms_get_unique_macs():
    wanted: list[tuple[str, str | None]] = [(f"vm-{i}", None) for i in range(2000)]
    macs = assign_macs("nginx-ha", "big", wanted)
    assert len(set(macs.values())) == 2000


def test_physical_names_carry_project_and_stack():
    t = topo("staging")
    n = t.node("nginx-master")
    assert n.domain == "nginx-ha-staging-nginx-master"
    assert n.volume == "nginx-ha-staging-nginx-master.qcow2"
    assert n.cloudinit == "nginx-ha-staging-nginx-master-cloudinit.iso"
    assert n.instance_id.startswith("iid-nginx-ha-staging-nginx-master-")
    assert t.network.name == "nginx-ha-staging-lan"
    assert t.base_volume == "nginx-ha-staging-base.qcow2"


def test_the_instance_id_follows_what_cloud_init_applies():
    """A VM replaced for a changed DNS, gateway or key must be provisioned again:
    cloud-init runs per instance, so its instance-id changes with what it applies, and
    only then."""
    base = topo("dev").node("nginx-master").instance_id
    for overrides in (
        {"network": {"cidr": "192.168.159.0/24", "dns": ["192.168.159.53"]}},
        {"network": {"cidr": "192.168.159.0/24", "gateway": "192.168.159.254"}},
        {"ssh": {"user": "ops", "publicKey": stacks.TEST_PUBLIC_KEY}},
    ):
        assert topo("dev", **overrides).node("nginx-master").instance_id != base, overrides
    assert topo("dev", nginx={"readTimeout": 2}).node("nginx-master").instance_id == base
    assert topo("dev").node("nginx-backup").instance_id != base  # one per node
