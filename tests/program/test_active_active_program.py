"""Active-active VIPs and LVS (issue 8) in the real __main__.py under recording mocks:
the vips output, the keepalived build's IPVS choice, the LVS real-server step (create,
delete that undoes it, replaced delete-first) and where it sits in the node's steps."""

from __future__ import annotations

import re
from typing import Any

import pytest

from support import stacks
from support.mocks import run_program
from tests.program.commands import header_params, params_of, script_body, uploaded

LBS = ("nginx-master", "nginx-backup")
TWO_VIPS = {"vip": None, "vips": ["192.168.159.110", "192.168.159.111"]}
LVS = {"enabled": True, "scheduler": "rr", "persistenceTimeout": 120}


def run(**overrides: Any):
    return run_program(stacks.raw_config("dev", **overrides), stack="dev")


def keepalived_starts(result, lb: str) -> list[str]:
    """How keepalived is started on ``lb``: its unit's ExecStart, and the activation's
    own start where systemd is not PID 1."""
    unit = uploaded(result, f"{lb}-keepalived-unit-upload")
    (execstart,) = re.findall(r"^ExecStart=\S+ (.*)$", unit, re.M)
    activate = script_body(result.named(f"{lb}-activate").inputs["create"])
    return [execstart, *re.findall(r'^\s*"\$KEEPALIVED_BIN" (.*)$', activate, re.M)]


def test_active_active_exports_every_vip_with_its_master():
    result = run(**TWO_VIPS)
    assert result.exports["vips"] == [
        {"vip": "192.168.159.110", "vrid": 121, "master": "nginx-master"},
        {"vip": "192.168.159.111", "vrid": 122, "master": "nginx-backup"},
    ]
    assert result.exports["vip"] == "192.168.159.110"


def test_every_vip_may_reach_the_tomcat_port():
    # nginx connects from the load balancer's own address, but the kernel may pick a
    # VIP the node holds as the source: every VIP, not only the first, is let through.
    result = run(**TWO_VIPS)
    for be in ("tomcat-primary", "tomcat-backup"):
        sources = header_params(uploaded(result, f"{be}-tomcat-firewall-upload"))["FW_SOURCES"]
        assert sources.split() == [
            "192.168.159.129",
            "192.168.159.130",
            "192.168.159.110",
            "192.168.159.111",
            "127.0.0.1",
        ]


def test_the_one_vip_stack_exports_its_vip_in_vips_too():
    result = run()
    assert result.exports["vips"] == [
        {"vip": "192.168.159.110", "vrid": 121, "master": "nginx-master"}
    ]


def test_without_lvs_keepalived_is_built_without_ipvs_and_no_lvs_step_exists():
    result = run(**TWO_VIPS)
    build = params_of(result.named("nginx-master-keepalived-build").inputs["create"])
    assert build["CONFIGURE_OPTIONS"] == "--disable-lvs"
    # No --vrrp: a build without LVS has no such option (getopt would take it as
    # --vrrp_pid and swallow --use-file); such a build runs VRRP only anyway.
    assert keepalived_starts(result, "nginx-master") == [
        "--dont-fork --log-console --log-detail --use-file=/etc/keepalived/keepalived.conf",
        '--use-file="$KEEPALIVED_CONF"',
    ]
    assert not [r for r in result.resources if r.name.endswith("-lvs-realserver")]


def test_lvs_builds_with_ipvs_and_changes_the_build_trigger():
    off = run()
    on = run(lvs=LVS)
    for lb in LBS:
        build_on = on.named(f"{lb}-keepalived-build").inputs
        assert params_of(build_on["create"])["CONFIGURE_OPTIONS"] == "--enable-lvs"
        assert build_on["triggers"] != off.named(f"{lb}-keepalived-build").inputs["triggers"]
        # VRRP and the LVS checker run: no --vrrp either way.
        assert keepalived_starts(on, lb) == [
            "--dont-fork --log-console --log-detail --use-file=/etc/keepalived/keepalived.conf",
            '--use-file="$KEEPALIVED_CONF"',
        ]


@pytest.mark.parametrize("lb", LBS)
def test_each_load_balancer_gets_an_lvs_step_whose_delete_undoes_it(lb):
    result = run(**TWO_VIPS, lvs=LVS)
    step = result.named(f"{lb}-lvs-realserver").inputs
    up, down = params_of(step["create"]), params_of(step["delete"])
    other = next(n for n in LBS if n != lb)
    other_mac = result.exports["nodes"][other]["mac"]
    assert up["ACTION"] == "up" and down["ACTION"] == "down"
    for params in (up, down):
        assert params["LVS_VIPS"] == "192.168.159.110 192.168.159.111"
        assert params["LVS_PEER_MACS"] == other_mac
        assert params["SYSCTL_FILE"] == "/etc/sysctl.d/90-nginx-ha-lvs.conf"
    assert "lvs_realserver.sh" in step["create"]
    assert f"{lb}-wait-ready" in result.dependencies(f"{lb}-lvs-realserver")
    assert result.get(f"{lb}-lvs-realserver").delete_before_replace, (
        "a changed setup must be removed before the new one is applied"
    )
    assert f"{lb}-lvs-realserver" in result.dependencies(f"{lb}-activate")


def test_the_lvs_step_reruns_on_a_change_of_what_it_sets_up():
    a = run(**TWO_VIPS, lvs=LVS).named("nginx-master-lvs-realserver").inputs["triggers"]
    b = run(vip=None, vips=["192.168.159.110"], lvs=LVS)
    assert b.named("nginx-master-lvs-realserver").inputs["triggers"] != a
    c = run(**TWO_VIPS, lvs={**LVS, "scheduler": "wlc"})  # keepalived.conf only
    assert c.named("nginx-master-lvs-realserver").inputs["triggers"] == a


def test_lvs_config_reaches_keepalived_conf_and_nginx_health():
    result = run(**TWO_VIPS, lvs=LVS)
    hashes = result.exports["configHashes"]["nginx-master"]
    plain = run(**TWO_VIPS).exports["configHashes"]["nginx-master"]
    assert hashes["/etc/keepalived/keepalived.conf"] != plain["/etc/keepalived/keepalived.conf"]
    assert hashes["/etc/nginx/nginx.conf"] != plain["/etc/nginx/nginx.conf"]
    # What changed: a virtual server per VIP, and the other director may read the health.
    conf = result.named("nginx-master-keepalived-conf-upload").inputs["source"].text
    assert conf.count("virtual_server fwmark ") == 2 and "lvs_sched rr" in conf
    nginx = result.named("nginx-master-nginx-conf-upload").inputs["source"].text
    health = nginx[nginx.index("location = /nginx-ha/health {") :]
    assert "allow 192.168.159.130;" in health[: health.index("}")]


def test_conflicting_settings_stop_the_program_before_any_resource():
    from nginx_ha.config import SettingsError

    with pytest.raises(SettingsError) as err:
        run(vips=["192.168.159.111"], lvs={"enabled": True, "port": 8081})
    assert {p.key for p in err.value.problems} == {"nginx-ha:vips", "nginx-ha:lvs.port"}
