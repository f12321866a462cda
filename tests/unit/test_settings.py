"""Settings: what a stack file can get wrong, and what a good one yields."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from nginx_ha.config import SettingsError, parse_settings
from support import stacks

LBS = [
    {"name": "nginx-master", "ip": "192.168.159.129", "priority": 150},
    {"name": "nginx-backup", "ip": "192.168.159.130", "priority": 100},
]
BACKENDS = [
    {"name": "tomcat-primary", "ip": "192.168.159.131", "role": "primary"},
    {"name": "tomcat-backup", "ip": "192.168.159.132", "role": "backup"},
]


def with_lb(i: int, **changes) -> list[dict]:
    lbs = json.loads(json.dumps(LBS))
    lbs[i].update(changes)
    return lbs


def with_backend(i: int, **changes) -> list[dict]:
    bes = json.loads(json.dumps(BACKENDS))
    bes[i].update(changes)
    return bes


def parse(**overrides):
    return parse_settings(stacks.raw_config("dev", **overrides), secret_keys=stacks.SECRET_KEYS)


def test_dev_stack_parses_with_the_tutorials_addresses():
    s = parse()
    assert str(s.vip) == "192.168.159.110"
    assert [str(lb.ip) for lb in s.load_balancers] == ["192.168.159.129", "192.168.159.130"]
    assert [(b.name, b.role) for b in s.backends] == [
        ("tomcat-primary", "primary"),
        ("tomcat-backup", "backup"),
    ]
    assert s.vrrp.virtual_router_id == 121
    assert s.libvirt_uri == "qemu:///system"
    # Our defaults, not the tutorial's: VRRPv3, sub-second adverts, preemption.
    assert (s.vrrp.version, str(s.vrrp.advert_interval), s.vrrp.preempt) == (3, "0.2", True)


def test_secrets_are_not_shown_in_repr():
    s = parse()
    assert stacks.TEST_PRIVATE_KEY not in repr(s)
    assert stacks.TEST_HMAC_KEY not in repr(s)


def test_defaults_apply_when_sections_are_absent():
    s = parse(**{"nginx-ha:vrrp": None, "nginx-ha:network": None})
    assert str(s.network.cidr) == "192.168.159.0/24"
    assert s.vrrp.virtual_router_id == 51
    assert s.vm.memory_mib == 1024
    assert s.vrrp.check.watch_interval == Decimal("0.2")


def test_per_node_vm_override_merges_with_the_default():
    lbs = with_lb(0, vm={"memoryMiB": 2048})
    s = parse(loadBalancers=lbs, vm={"vcpus": 2})
    assert (s.vm_size(s.load_balancers[0]).memory_mib, s.vm_size(s.load_balancers[0]).vcpus) == (
        2048,
        2,
    )
    assert s.vm_size(s.load_balancers[1]).memory_mib == 1024


# One row per distinct mistake: the overrides, the key path that must be named, and a
# fragment of the advice. Every row must fail on its own with exactly that key named.
BAD = [
    ("vip outside subnet", {"vip": "10.0.0.5"}, "nginx-ha:vip", "outside the network"),
    (
        "vip equals a node",
        {"vip": "192.168.159.129"},
        "nginx-ha:vip",
        "address of nginx-ha:loadBalancers[0]",
    ),
    ("vip is gateway", {"vip": "192.168.159.1"}, "nginx-ha:vip", "the gateway"),
    ("vip not an address", {"vip": "192.168.159.300"}, "nginx-ha:vip", "IPv4"),
    (
        "node outside subnet",
        {"loadBalancers": with_lb(1, ip="192.168.160.130")},
        "nginx-ha:loadBalancers[1].ip",
        "outside the network",
    ),
    (
        "node on network address",
        {"backends": with_backend(0, ip="192.168.159.0")},
        "nginx-ha:backends[0].ip",
        "network address",
    ),
    (
        "node on broadcast",
        {"backends": with_backend(1, ip="192.168.159.255")},
        "nginx-ha:backends[1].ip",
        "broadcast address",
    ),
    (
        "node on gateway",
        {"loadBalancers": with_lb(0, ip="192.168.159.1")},
        "nginx-ha:loadBalancers[0].ip",
        "the gateway",
    ),
    (
        "duplicate ip",
        {"backends": with_backend(1, ip="192.168.159.131")},
        "nginx-ha:backends[1].ip",
        "already used by nginx-ha:backends[0]",
    ),
    (
        "duplicate name",
        {"backends": with_backend(1, name="tomcat-primary")},
        "nginx-ha:backends[1].name",
        "already the name",
    ),
    (
        "bad name",
        {"loadBalancers": with_lb(0, name="Nginx_Master")},
        "nginx-ha:loadBalancers[0].name",
        "lowercase hostname",
    ),
    (
        "malformed mac",
        {"loadBalancers": with_lb(0, mac="52:54:00:zz:00:01")},
        "nginx-ha:loadBalancers[0].mac",
        "MAC address like",
    ),
    (
        "multicast mac",
        {"loadBalancers": with_lb(0, mac="01:00:5e:00:00:01")},
        "nginx-ha:loadBalancers[0].mac",
        "multicast",
    ),
    (
        "duplicate mac",
        {
            "loadBalancers": [
                dict(LBS[0], mac="52:54:00:00:00:01"),
                dict(LBS[1], mac="52:54:00:00:00:01"),
            ]
        },
        "nginx-ha:loadBalancers[1].mac",
        "already the MAC",
    ),
    (
        "vrid too big",
        {"vrrp": {"virtualRouterId": 256}},
        "nginx-ha:vrrp.virtualRouterId",
        "less than or equal to 255",
    ),
    (
        "vrid zero",
        {"vrrp": {"virtualRouterId": 0}},
        "nginx-ha:vrrp.virtualRouterId",
        "greater than or equal to 1",
    ),
    (
        "equal priorities",
        {"loadBalancers": with_lb(1, priority=150)},
        "nginx-ha:loadBalancers[0].priority",
        "distinct priority",
    ),
    (
        "weight too small for the gap",
        {"vrrp": {"check": {"weight": -20}}},
        "nginx-ha:vrrp.check.weight",
        "larger than the gap 50",
    ),
    (
        "weight with nopreempt",
        {"vrrp": {"preempt": False, "check": {"weight": -60}}},
        "nginx-ha:vrrp.check.weight",
        "nopreempt ignores priorities",
    ),
    (
        "PASS over 8 characters",
        {"vrrp": {"version": 2, "advertInterval": 1}, "vrrpAuthPass": "123456789"},
        "nginx-ha:vrrpAuthPass",
        "1 to 8 characters",
    ),
    (
        "fractional advert with v2",
        {"vrrp": {"version": 2, "advertInterval": 0.5}, "vrrpAuthPass": "abcd"},
        "nginx-ha:vrrp.advertInterval",
        "whole seconds",
    ),
    (
        "v3 on keepalived without hmac",
        {
            "keepalived": {
                "version": "2.2.7",
                "url": "https://example.invalid/k.tgz",
                "sha256": "0" * 64,
            }
        },
        "nginx-ha:vrrp.version",
        "no auth_hmac",
    ),
    ("hmac key too short", {"vrrpAuthPass": "short"}, "nginx-ha:vrrpAuthPass", "32 to 64 bytes"),
    ("no auth at all", {"vrrpAuthPass": None}, "nginx-ha:vrrpAuthPass", "auth_hmac"),
    (
        "no primary backend",
        {"backends": with_backend(0, role="backup")},
        "nginx-ha:backends",
        "no backend with role primary",
    ),
    (
        "bad role",
        {"backends": with_backend(0, role="main")},
        "nginx-ha:backends[0].role",
        "primary",
    ),
    (
        "unknown host",
        {"backends": with_backend(0, host="hv9")},
        "nginx-ha:backends[0].host",
        "not a host in nginx-ha:hosts",
    ),
    (
        "memory too small",
        {"vm": {"memoryMiB": 256}},
        "nginx-ha:vm.memoryMiB",
        "greater than or equal to 512",
    ),
    (
        "disk too small",
        {"loadBalancers": with_lb(0, vm={"diskGiB": 1})},
        "nginx-ha:loadBalancers[0].vm.diskGiB",
        "greater than or equal to 3",
    ),
    ("unknown top-level key", {"nginx-ha:vipp": "192.168.159.111"}, "nginx-ha:vipp", "unknown key"),
    (
        "unknown nested key",
        {"vrrp": {"virtualRouterID": 5}},
        "nginx-ha:vrrp.virtualRouterID",
        "unknown key",
    ),
    (
        "bridge mode without bridge",
        {"network": {"mode": "bridge", "cidr": "192.168.159.0/24"}},
        "nginx-ha:network.bridge",
        "existing host bridge",
    ),
    (
        "cidr with host bits",
        {"network": {"cidr": "192.168.159.7/24"}},
        "nginx-ha:network.cidr",
        "host bits zero",
    ),
    (
        "nat across hosts",
        {
            "hosts": {"hv1": "qemu+ssh://a/system", "hv2": "qemu+ssh://b/system"},
            "loadBalancers": [dict(LBS[0], host="hv1"), dict(LBS[1], host="hv2")],
        },
        "nginx-ha:network.mode",
        "private to one libvirt host",
    ),
    ("anti-affinity violated", {"antiAffinity": True}, "nginx-ha:antiAffinity", "share a host"),
    (
        "url without checksum",
        {"keepalived": {"url": "https://example.invalid/keepalived-2.4.3.tar.gz"}},
        "nginx-ha:keepalived.sha256",
        "needs its SHA-256",
    ),
    (
        "fractional check timing on keepalived 2.2",
        {
            "keepalived": {
                "version": "2.2.7",
                "url": "https://example.invalid/k.tgz",
                "sha256": "0" * 64,
            },
            "vrrp": {"version": 2, "advertInterval": 1, "allowUnauthenticated": True},
            "vrrpAuthPass": None,
        },
        "nginx-ha:vrrp.check.timeout",
        "needs keepalived 2.3.2 or newer; nginx-ha:keepalived.version is 2.2.7",
    ),
    (
        "watcher slower than the check script",
        {"vrrp": {"check": {"watchInterval": 2}}},
        "nginx-ha:vrrp.check.watchInterval",
        "must not exceed vrrp.check.interval",
    ),
    (
        "watcher interval zero",
        {"vrrp": {"check": {"watchInterval": 0}}},
        "nginx-ha:vrrp.check.watchInterval",
        "greater than 0",
    ),
    (
        "PASS with a space",
        {"vrrp": {"version": 2, "advertInterval": 1}, "vrrpAuthPass": "ab cd"},
        "nginx-ha:vrrpAuthPass",
        "without spaces, quotes, backslashes or braces",
    ),
    (
        "git source without commit",
        {"keepalived": {"git": "https://example.invalid/keepalived.git"}},
        "nginx-ha:keepalived.commit",
        "add keepalived.commit",
    ),
    (
        "ip_hash with backup",
        {"nginx": {"balancing": "ip_hash"}},
        "nginx-ha:nginx.balancing",
        "cannot be combined with backup",
    ),
    ("missing vip", {"vip": None}, "nginx-ha:vip", "required"),
    ("one load balancer", {"loadBalancers": LBS[:1]}, "nginx-ha:loadBalancers", "at least 2"),
    ("private key in plain text", {}, "nginx-ha:sshPrivateKey", "--secret"),
    (
        "public key is a private key",
        {"ssh": {"user": "debian", "publicKey": "-----BEGIN OPENSSH PRIVATE KEY-----"}},
        "nginx-ha:ssh.publicKey",
        "not the private key",
    ),
    (
        "root user",
        {"ssh": {"user": "root", "publicKey": stacks.TEST_PUBLIC_KEY}},
        "nginx-ha:ssh.user",
        "non-root",
    ),
]


# The rows whose one mistake is rightly reported under a second key too.
ALSO_NAMED = {
    "equal priorities": {"nginx-ha:loadBalancers[1].priority"},  # each of the pair
    "v3 on keepalived without hmac": {"nginx-ha:vrrp.check.timeout"},  # 0.8 s on 2.2
    "unknown host": {"nginx-ha:network.mode"},  # an unknown host is another host
}


@pytest.mark.parametrize(("name", "overrides", "key", "advice"), BAD, ids=[row[0] for row in BAD])
def test_bad_input_is_refused_naming_the_key_and_the_fix(name, overrides, key, advice):
    secret_keys = stacks.SECRET_KEYS - (
        {"nginx-ha:sshPrivateKey"} if key == "nginx-ha:sshPrivateKey" else set()
    )
    raw = stacks.raw_config("dev", **overrides)
    with pytest.raises(SettingsError) as err:
        parse_settings(raw, secret_keys=secret_keys)
    problems = {p.key: p.message for p in err.value.problems}
    assert key in problems, str(err.value)
    assert advice in problems[key], str(err.value)
    # On its own: no other key is named (but the few rows listed above).
    assert set(problems) == {key} | ALSO_NAMED.get(name, set()), str(err.value)


def test_the_rows_named_under_a_second_key_are_rows_of_the_table():
    assert set(ALSO_NAMED) <= {row[0] for row in BAD}


def test_the_table_covers_at_least_25_distinct_keys_and_mistakes():
    assert len({row[0] for row in BAD}) >= 25
    assert len({row[2] for row in BAD}) >= 25


def test_all_problems_are_reported_together():
    raw = stacks.raw_config(
        "dev",
        vip="10.9.9.9",
        vrrp={"virtualRouterId": 999, "bogus": 1},
        backends=with_backend(1, ip="192.168.159.131"),
        loadBalancers=with_lb(0, name="BAD"),
    )
    with pytest.raises(SettingsError) as err:
        parse_settings(raw, secret_keys=stacks.SECRET_KEYS)
    keys = {p.key for p in err.value.problems}
    assert {
        "nginx-ha:vip",
        "nginx-ha:vrrp.virtualRouterId",
        "nginx-ha:vrrp.bogus",
        "nginx-ha:backends[1].ip",
        "nginx-ha:loadBalancers[0].name",
    } <= keys
    assert "nothing was created" in str(err.value)


def test_a_bad_node_does_not_hide_the_problems_of_the_others():
    lbs = [dict(LBS[0], name="BAD"), dict(LBS[1], ip="10.0.0.1")]
    with pytest.raises(SettingsError) as err:
        parse(loadBalancers=lbs)
    keys = {p.key for p in err.value.problems}
    assert {"nginx-ha:loadBalancers[0].name", "nginx-ha:loadBalancers[1].ip"} <= keys


def test_v2_with_pass_and_integer_advert_is_accepted():
    s = parse(vrrp={"version": 2, "advertInterval": 1}, vrrpAuthPass="abcd1234")
    assert s.vrrp.version == 2 and s.vrrp_auth_pass is not None


def test_unauthenticated_v3_on_old_keepalived_needs_the_explicit_switch():
    ka = {"version": "2.2.7", "url": "https://example.invalid/k.tgz", "sha256": "0" * 64}
    # keepalived 2.2 reads vrrp_script timing in whole seconds only (2.3.2 added fractions).
    whole = {"check": {"interval": 1, "timeout": 1}}
    with pytest.raises(SettingsError) as err:
        parse(keepalived=ka, vrrp=whole, vrrpAuthPass=None)
    assert [p.key for p in err.value.problems] == ["nginx-ha:vrrp.version"]
    assert "set vrrp.allowUnauthenticated true" in str(err.value)
    s = parse(keepalived=ka, vrrp={**whole, "allowUnauthenticated": True}, vrrpAuthPass=None)
    assert s.vrrp.allow_unauthenticated


def test_two_hosts_in_bridge_mode_with_anti_affinity_is_accepted():
    s = parse(
        hosts={"hv1": "qemu+ssh://root@hv1/system", "hv2": "qemu+ssh://root@hv2/system"},
        network={"mode": "bridge", "bridge": "br0", "cidr": "192.168.159.0/24"},
        loadBalancers=[dict(LBS[0], host="hv1"), dict(LBS[1], host="hv2")],
        antiAffinity=True,
    )
    assert [lb.host for lb in s.load_balancers] == ["hv1", "hv2"]
    assert s.host_uri("hv2") == "qemu+ssh://root@hv2/system"
