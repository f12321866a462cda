"""Active-active VIPs and LVS (issue 8): settings rules, VRRP instances per VIP, the
MASTER rotation, and colliding stacks' router ids."""

from __future__ import annotations

import ipaddress

import pytest

from nginx_ha.config import SettingsError, parse_settings
from nginx_ha.config.collisions import conflicts_between, footprint_of_config, footprint_of_settings
from nginx_ha.config.models import LVS_SCHEDULERS
from nginx_ha.topology import build_topology
from support import stacks

AA = {"vip": None, "vips": ["192.168.159.110", "192.168.159.111"]}
THREE_LBS = [
    {"name": "lb-a", "ip": "192.168.159.129", "priority": 150},
    {"name": "lb-b", "ip": "192.168.159.130", "priority": 100},
    {"name": "lb-c", "ip": "192.168.159.133", "priority": 120},
]


def settings(**overrides):
    return parse_settings(stacks.raw_config("dev", **overrides))


def problems(**overrides) -> dict[str, str]:
    with pytest.raises(SettingsError) as err:
        settings(**overrides)
    return {p.key: p.message for p in err.value.problems}


# ------------------------------------------------------------------------ settings


def test_vips_alone_fills_vip_with_the_first_and_derives_router_ids():
    s = settings(**AA)
    assert str(s.vip) == "192.168.159.110"
    assert [(str(a), r) for a, r in s.vip_specs] == [
        ("192.168.159.110", 121),
        ("192.168.159.111", 122),
    ]


def test_one_vip_is_one_instance_with_the_configured_router_id():
    assert [(str(a), r) for a, r in settings().vip_specs] == [("192.168.159.110", 121)]


def test_explicit_router_ids_are_kept():
    s = settings(
        vip=None,
        vips=[{"address": "192.168.159.110"}, {"address": "192.168.159.111", "virtualRouterId": 7}],
    )
    assert [r for _, r in s.vip_specs] == [121, 7]


def test_vip_and_vips_together_are_an_error():
    msg = problems(vips=["192.168.159.111"])["nginx-ha:vips"]
    assert "together with nginx-ha:vip" in msg and "pulumi config rm vip" in msg


def test_neither_vip_nor_vips_is_an_error_naming_both():
    msg = problems(vip=None)["nginx-ha:vip"]
    assert msg.startswith("required") and "nginx-ha:vips" in msg


def test_an_empty_vips_list_is_an_error():
    assert "at least one VIP" in problems(vip=None, vips=[])["nginx-ha:vips"]


def test_the_engine_default_empty_vip_counts_as_unset():
    s = settings(vip="", vips=["192.168.159.111"])
    assert str(s.vip) == "192.168.159.111"


def test_each_vip_is_checked_against_subnet_nodes_gateway_and_the_other_vips():
    got = problems(
        vip=None,
        vips=["10.0.0.5", "192.168.159.130", "192.168.159.1", "192.168.159.112", "192.168.159.112"],
    )
    assert "outside the network 192.168.159.0/24" in got["nginx-ha:vips[0].address"]
    assert "nginx-ha:loadBalancers[1]" in got["nginx-ha:vips[1].address"]
    assert "the gateway" in got["nginx-ha:vips[2].address"]
    assert "already nginx-ha:vips[3]" in got["nginx-ha:vips[4].address"]
    assert "nginx-ha:vips[3].address" not in got


def test_router_ids_must_be_distinct_and_derived_ones_at_most_255():
    got = problems(
        vip=None,
        vrrp={"virtualRouterId": 254},
        vips=[
            "192.168.159.110",
            {"address": "192.168.159.111", "virtualRouterId": 254},
            "192.168.159.112",
        ],
    )
    assert (
        "already the virtual router id of nginx-ha:vips[0]"
        in got["nginx-ha:vips[1].virtualRouterId"]
    )
    assert "derived as vrrp.virtualRouterId + 2 = 256" in got["nginx-ha:vips[2].virtualRouterId"]
    derived = problems(
        vip=None, vips=[{"address": "192.168.159.110", "virtualRouterId": 122}, "192.168.159.111"]
    )
    assert "122 (derived: vrrp.virtualRouterId + 1)" in derived["nginx-ha:vips[1].virtualRouterId"]


@pytest.mark.parametrize("vrid", [0, 256])
def test_an_explicit_router_id_outside_1_255_is_refused_by_its_model(vrid):
    got = problems(vip=None, vips=[{"address": "192.168.159.110", "virtualRouterId": vrid}])
    assert "nginx-ha:vips[0].virtualRouterId" in got


def test_lvs_defaults_follow_nginx_and_build_without_ipvs_when_off():
    s = settings()
    assert (s.lvs.enabled, s.lvs.scheduler, s.lvs_port, s.keepalived_ipvs) == (
        False,
        "wlc",
        80,
        False,
    )
    on = settings(lvs={"enabled": True, "scheduler": "rr", "persistenceTimeout": 300})
    assert (on.lvs_port, on.keepalived_ipvs) == (80, True)
    # The port follows nginx's, not a default that happens to be the same.
    moved = settings(lvs={"enabled": True}, nginx={"port": 8081})
    assert moved.lvs_port == 8081


@pytest.mark.parametrize("scheduler", LVS_SCHEDULERS)
def test_every_keepalived_scheduler_is_accepted(scheduler):
    assert settings(lvs={"enabled": True, "scheduler": scheduler}).lvs.scheduler == scheduler


def test_lvs_errors_name_the_key_and_the_fix():
    assert (
        "keepalived's LVS schedulers"
        in problems(lvs={"scheduler": "roundrobin"})["nginx-ha:lvs.scheduler"]
    )
    assert "direct routing" in problems(lvs={"enabled": True, "port": 8081})["nginx-ha:lvs.port"]
    assert "nginx-ha:lvs.port" in problems(lvs={"port": 0})
    assert "nginx-ha:lvs.port" in problems(lvs={"port": 65536})
    msg = problems(lvs={"enabled": True}, keepalived={"ipvs": False})["nginx-ha:keepalived.ipvs"]
    assert "--disable-lvs" in msg and "Unknown keyword" in msg
    assert "nginx-ha:lvs.persistenceTimeout" in problems(lvs={"persistenceTimeout": -1})


def test_lvs_port_equal_to_nginx_port_is_fine():
    s = settings(lvs={"enabled": True, "port": 8080}, nginx={"port": 8080})
    assert s.lvs_port == 8080


# ------------------------------------------------------------------------ topology


def test_the_master_alternates_and_priorities_rotate_per_vip():
    topo = build_topology(settings(**AA))
    first, second = topo.instances
    assert (first.name, first.master, second.name, second.master) == (
        "VI_121",
        "nginx-master",
        "VI_122",
        "nginx-backup",
    )
    assert {n: (p.state, p.priority) for n, p in first.peers.items()} == {
        "nginx-master": ("MASTER", 150),
        "nginx-backup": ("BACKUP", 100),
    }
    assert {n: (p.state, p.priority) for n, p in second.peers.items()} == {
        "nginx-master": ("BACKUP", 100),
        "nginx-backup": ("MASTER", 150),
    }
    assert topo.peers == first.peers  # the one-VIP view stays the first instance


def test_three_load_balancers_and_four_vips_give_each_a_vip_and_distinct_priorities():
    vips = [f"192.168.159.{i}" for i in (110, 111, 112, 113)]
    topo = build_topology(settings(vip=None, vips=vips, loadBalancers=THREE_LBS))
    # priority order: lb-a 150, lb-c 120, lb-b 100
    assert [i.master for i in topo.instances] == ["lb-a", "lb-c", "lb-b", "lb-a"]
    for inst in topo.instances:
        priorities = sorted((p.priority for p in inst.peers.values()), reverse=True)
        assert priorities == [150, 120, 100]
        assert inst.peers[inst.master].priority == 150
        assert [p.node for p in inst.peers.values() if p.state == "MASTER"] == [inst.master]


def test_without_preemption_every_instance_starts_as_backup_with_nopreempt():
    topo = build_topology(settings(**AA, vrrp={"virtualRouterId": 121, "preempt": False}))
    for inst in topo.instances:
        assert {(p.state, p.nopreempt) for p in inst.peers.values()} == {("BACKUP", True)}
    assert topo.instances[1].peers["nginx-backup"].priority == 150


# -------------------------------------------------------------- colliding stacks


def test_a_bridged_stack_collides_on_any_shared_router_id():
    bridge = {"name": "lan", "mode": "bridge", "bridge": "br0", "cidr": "192.168.159.0/24"}
    mine = footprint_of_settings(settings(**AA, network=bridge, vrrp={"virtualRouterId": 121}))
    assert mine.vrids == {
        121: "nginx-ha:vrrp.virtualRouterId",
        122: "nginx-ha:vrrp.virtualRouterId",
    }
    other = footprint_of_config(
        "other",
        {
            "nginx-ha:network": bridge,
            "nginx-ha:vrrp": {"virtualRouterId": 50},
            "nginx-ha:vips": [
                "192.168.159.50",
                {"address": "192.168.159.51", "virtualRouterId": 122},
            ],
            "nginx-ha:loadBalancers": [{"name": "x", "ip": "192.168.159.60", "priority": 1}],
        },
        {"libvirt:uri": "qemu:///system"},
    )
    assert other.vrids == {
        50: "nginx-ha:vrrp.virtualRouterId",
        122: "nginx-ha:vips[1].virtualRouterId",
    }
    assert ipaddress.IPv4Address("192.168.159.51") in other.addresses
    clashes = list(conflicts_between(mine, other))
    assert [(p.key, p.message.split(" ")[0]) for p in clashes] == [
        ("nginx-ha:vrrp.virtualRouterId", "122")
    ]
