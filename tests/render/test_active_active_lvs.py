"""keepalived.conf for active-active VIPs and LVS (issue 8): golden copies, the real
`keepalived -t` as the node sees it (its interface present, a keepalived built with
IPVS), and what a build without IPVS says about the same file.

This kernel has no IPVS (/proc/net/ip_vs is missing); `keepalived -t` of Debian's
2.2.7 (built with LVS) still parses and checks every virtual_server keyword: exit 0
for these files, exit 5 with "Invalid lvs_scheduler" or "unknown [..] routing method"
for broken ones (docs/active-active-lvs.md).
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from nginx_ha import render
from nginx_ha.config import parse_settings
from nginx_ha.topology import Layout, build_topology, vm_layout
from support import stacks
from tests import plans
from tests.golden import assert_golden
from tests.render import keepalived_validate as kv

DEBIAN_227 = (2, 2, 7)
OLD = {
    "version": "2.2.7",
    "url": "https://example.invalid/keepalived-2.2.7.tar.gz",
    "sha256": "0" * 64,
}
PASS_V2 = {
    "keepalived": OLD,
    "vrrp": {
        "virtualRouterId": 121,
        "version": 2,
        "advertInterval": 1,
        "check": {"interval": 1, "timeout": 1},
    },
    "vrrpAuthPass": stacks.TEST_PASS,
}
TWO_VIPS = {"vip": None, "vips": ["192.168.159.110", "192.168.159.111"]}
LVS = {"enabled": True, "scheduler": "wlc", "persistenceTimeout": 300}

# name: (stack overrides, keepalived the layout runs)
VARIANTS: dict[str, tuple[dict, tuple[int, int, int]]] = {
    "keepalived-active-active": ({**PASS_V2, **TWO_VIPS}, DEBIAN_227),
    "keepalived-active-active-notify": (
        {
            **PASS_V2,
            "vip": None,
            "vips": [
                "192.168.159.110",
                {"address": "192.168.159.111", "virtualRouterId": 7},
                "192.168.159.112",
            ],
            "vrrp": {**PASS_V2["vrrp"], "preempt": False},
            "notify": {"script": True},
        },
        DEBIAN_227,
    ),
    "keepalived-lvs": ({**PASS_V2, **TWO_VIPS, "lvs": LVS}, DEBIAN_227),
    "keepalived-lvs-one-vip": ({"lvs": {"enabled": True, "scheduler": "rr"}}, (2, 4, 3)),
}


def setup(name: str, layout: Layout | None = None, ipvs: bool | None = None):
    """Variant ``name`` rendered for its keepalived (``ipvs``: override the build's IPVS)."""
    overrides, version = VARIANTS[name]
    settings = parse_settings(stacks.raw_config("dev", **overrides))
    topo = build_topology(settings, keepalived_version=version, keepalived_ipvs=ipvs)
    return topo, layout or vm_layout(topo)


def secret_of(topo) -> str | None:
    """The fixture's VRRP secret for this topology's authentication (support/stacks.py)."""
    return {"pass": stacks.TEST_PASS, "hmac": stacks.TEST_HMAC_KEY, "none": None}[topo.vrrp.auth]


def files_of(topo, layout, node) -> dict[str, tuple[str, str]]:
    return plans.keepalived_files(topo, node, layout, secret_of(topo))


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_files_match_their_golden_copies(variant):
    topo, layout = setup(variant)
    secret_files = {layout.auth_key_file, layout.auth_pass_file}
    for node in topo.load_balancers:
        for path, (text, _mode) in files_of(topo, layout, node).items():
            if path not in secret_files:
                assert_golden(f"variants/{variant}/{node.name}/{os.path.basename(path)}", text)


def instances_of(conf: str) -> dict[str, dict[str, str]]:
    """vrrp_instance name -> its state, priority, router id and VIP, read back from
    the rendered text."""
    fields = {
        "state": r"^    state (\S+)",
        "priority": r"^    priority (\d+)",
        "vrid": r"^    virtual_router_id (\d+)",
        "vip": r"^        (\S+) dev ",
    }
    out = {}
    for name, body in re.findall(r"^vrrp_instance (\S+) \{\n(.*?)^\}", conf, re.M | re.S):
        out[name] = {k: m.group(1) for k, rx in fields.items() if (m := re.search(rx, body, re.M))}
    return out


def test_each_vip_is_its_own_instance_and_each_node_masters_one():
    topo, layout = setup("keepalived-active-active")
    master = instances_of(render.keepalived_conf(topo, topo.node("nginx-master"), layout))
    backup = instances_of(render.keepalived_conf(topo, topo.node("nginx-backup"), layout))
    assert master == {
        "VI_121": {
            "state": "MASTER",
            "priority": "150",
            "vrid": "121",
            "vip": "192.168.159.110/24",
        },
        "VI_122": {
            "state": "BACKUP",
            "priority": "100",
            "vrid": "122",
            "vip": "192.168.159.111/24",
        },
    }
    assert backup == {
        "VI_121": {
            "state": "BACKUP",
            "priority": "100",
            "vrid": "121",
            "vip": "192.168.159.110/24",
        },
        "VI_122": {
            "state": "MASTER",
            "priority": "150",
            "vrid": "122",
            "vip": "192.168.159.111/24",
        },
    }


def test_one_health_check_is_shared_by_every_instance():
    topo, layout = setup("keepalived-active-active-notify")
    conf = render.keepalived_conf(topo, topo.master, layout)
    assert conf.count("vrrp_script chk_nginx {") == 1
    assert conf.count("vrrp_instance ") == 3
    assert conf.count("        chk_nginx\n") == 3
    assert 'notify_master "/etc/keepalived/notify.sh MASTER VI_7"' in conf


def test_lvs_renders_one_fwmark_service_per_vip_with_every_director_as_real_server():
    topo, layout = setup("keepalived-lvs")
    conf = render.keepalived_conf(topo, topo.master, layout)
    services = re.findall(r"^virtual_server fwmark (\d+) \{\n(.*?)^\}", conf, re.M | re.S)
    assert [int(m) for m, _ in services] == [render.lvs_fwmark(121), render.lvs_fwmark(122)]
    for _mark, body in services:
        assert "    lvs_method DR\n" in body and "    lvs_sched wlc\n" in body
        assert "    persistence_timeout 300\n" in body
        assert re.findall(r"real_server (\S+) \{", body) == ["192.168.159.129", "192.168.159.130"]
        assert body.count("path /nginx-ha/health\n") == 2
        assert body.count("connect_timeout 1\n") == 2 and body.count("connect_port 80\n") == 2
        # fwmark services take neither a protocol nor real server ports (keepalived
        # warns, and -t exits 5)
        assert "protocol" not in body and not re.search(r"real_server \S+ \d+", body)


def test_no_virtual_server_without_lvs_and_no_persistence_when_zero():
    topo, layout = setup("keepalived-active-active")
    assert "virtual_server" not in render.keepalived_conf(topo, topo.master, layout)
    topo, layout = setup("keepalived-lvs-one-vip")
    conf = render.keepalived_conf(topo, topo.master, layout)
    assert conf.count("virtual_server fwmark") == 1 and "persistence_timeout" not in conf


def test_a_layout_without_ipvs_never_gets_a_virtual_server():
    topo, layout = setup("keepalived-lvs", ipvs=False)
    with pytest.raises(ValueError, match=r"needs keepalived built with IPVS"):
        render.keepalived_conf(topo, topo.master, layout)


def test_the_programs_keepalived_has_ipvs_exactly_when_lvs_is_on():
    for name, ipvs in (("keepalived-lvs", True), ("keepalived-active-active", False)):
        settings = parse_settings(stacks.raw_config("dev", **VARIANTS[name][0]))
        assert build_topology(settings).keepalived.ipvs is ipvs


def health_location(conf: str) -> str:
    start = conf.index("location = /nginx-ha/health {")
    return conf[start : conf.index("}", start)]


def test_under_lvs_nginx_lets_the_other_directors_read_its_health():
    topo, layout = setup("keepalived-lvs")
    health = health_location(render.nginx_conf(topo, topo.master, layout))
    assert "allow 192.168.159.130;" in health and "allow 192.168.159.129;" in health
    topo, layout = setup("keepalived-active-active")
    health = health_location(render.nginx_conf(topo, topo.master, layout))
    assert "allow 192.168.159.130;" not in health


# --------------------------------------------------------------- keepalived -t, real


def has_ipvs(binary: str) -> bool:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return "--disable-lvs" not in out.stdout + out.stderr


def test_keepalived_with_ipvs_accepts_every_rendered_config():
    why = kv.namespaces_unavailable()
    if why:
        pytest.skip(why)
    binaries = [b for b in kv.keepalived_binaries((2, 2)) if has_ipvs(b)]
    if not binaries:
        pytest.skip("no keepalived 2.2 built with IPVS here (Debian's package is)")
    checked = 0
    for variant, (_overrides, version) in VARIANTS.items():
        if version[:2] != (2, 2):
            continue
        topo, layout = setup(variant)
        for node in topo.load_balancers:
            files = files_of(topo, layout, node)
            for binary in binaries:
                result = kv.keepalived_test(
                    binary, files, layout.keepalived_conf, [layout.interface]
                )
                assert result.returncode == 0, f"{variant}/{node.name} {binary}:\n{result.stderr}"
                checked += 1
    assert checked >= 6


def test_keepalived_rejects_a_scheduler_it_does_not_know():
    """The check above can fail: a scheduler outside keepalived's list is an error."""
    why = kv.namespaces_unavailable()
    binaries = [b for b in kv.keepalived_binaries((2, 2)) if has_ipvs(b)]
    if why or not binaries:
        pytest.skip(why or "no keepalived 2.2 built with IPVS here")
    topo, layout = setup("keepalived-lvs")
    files = files_of(topo, layout, topo.master)
    text, mode = files[layout.keepalived_conf]
    files[layout.keepalived_conf] = (text.replace("lvs_sched wlc", "lvs_sched roundrobin"), mode)
    result = kv.keepalived_test(binaries[0], files, layout.keepalived_conf, [layout.interface])
    assert result.returncode != 0
    assert "Invalid lvs_scheduler 'roundrobin'" in result.stderr


def test_a_keepalived_built_without_ipvs_rejects_the_lvs_config():
    """Why nginx-ha:keepalived.ipvs false with lvs on is a settings error."""
    why = kv.namespaces_unavailable()
    binaries = [b for b in kv.keepalived_binaries((2, 2)) if not has_ipvs(b)]
    if why or not binaries:
        pytest.skip(why or "no keepalived 2.2 built with --disable-lvs here")
    topo, layout = setup("keepalived-lvs")
    files = files_of(topo, layout, topo.master)
    result = kv.keepalived_test(binaries[0], files, layout.keepalived_conf, [layout.interface])
    assert result.returncode != 0
    assert "Unknown keyword 'virtual_server'" in result.stderr
