"""The live view's pure parts (nginx_ha/view/status.py): the state files as
vrrp_state.sh writes them, the probe's sections, who holds a VIP, the table and the
JSON; the probe script itself (shellcheck runs on every script in tests/render)."""

from __future__ import annotations

import json

from nginx_ha.config import parse_settings
from nginx_ha.render import node_plan
from nginx_ha.render.rollout import manifest
from nginx_ha.topology import BACKEND, LOAD_BALANCER, Layout, build_topology, vm_layout
from nginx_ha.view import status as view
from support import stacks

ALL = "VI_121 MASTER 1764474000.25 150\nVI_122 BACKUP 1764474001.5 100\n"
TRANSITIONS = "1764474000.25 VI_121 MASTER 150\nbroken line\n1764474001.5 VI_122 BACKUP 100\n"


def probe_output(
    vrrp: str = ALL,
    health: str = "0",
    addresses: str = "eth0 192.168.159.129/24\neth0 192.168.159.110/24",
) -> str:
    return (
        "== now\n1764474061.0\n== units\nkeepalived active\nnginx active\nnginx-ha-watch active\n"
        f"== addresses\n{addresses}\n== vrrp\n{vrrp}== transitions\n{TRANSITIONS}"
        f"== health\n{health}\n== keepalived\nKeepalived v2.2.7 (01/16,2022)\n== end\n"
    )


def test_the_all_file_and_the_transitions_parse_as_vrrp_state_sh_writes_them():
    states = view.parse_vrrp_all(ALL)
    assert states["VI_121"] == view.InstanceState("VI_121", "MASTER", 1764474000.25, 150)
    assert states["VI_122"].state == "BACKUP"
    assert view.parse_vrrp_instance("VI_121", "FAULT 1764474000.25 150\n") == view.InstanceState(
        "VI_121", "FAULT", 1764474000.25, 150
    )
    assert view.parse_vrrp_instance("VI_121", "") is None
    trans = view.parse_transitions(TRANSITIONS, "lb1")
    assert [(t.instance, t.state, t.node) for t in trans] == [
        ("VI_121", "MASTER", "lb1"),
        ("VI_122", "BACKUP", "lb1"),
    ]


def test_the_watchers_verdict():
    assert view.parse_health("0\n") == "healthy"
    assert view.parse_health("1") == "down"
    assert view.parse_health("") == view.parse_health(None) == "unknown"


def test_a_probe_answer_becomes_a_report():
    r = view.parse_probe("lb1", "MASTER", "192.168.159.129", True, probe_output())
    assert r.reachable and r.now == 1764474061.0
    assert r.units == {"keepalived": "active", "nginx": "active", "nginx-ha-watch": "active"}
    assert r.holds("192.168.159.110") and not r.holds("192.168.159.111")
    assert r.health == "healthy" and r.keepalived.startswith("Keepalived v2.2.7")
    cut = view.parse_probe("lb1", "MASTER", "192.168.159.129", True, probe_output()[:60])
    assert not cut.reachable and "incomplete" in cut.error
    down = view.parse_probe("lb1", "MASTER", "192.168.159.129", True, "", error="no route")
    assert down.error == "no route" and down.holds("192.168.159.110") is None


VIPS = [{"vip": "192.168.159.110", "vrid": 121, "master": "lb1"}]


def reports(lb1_vrrp: str, lb2_vrrp: str, lb1_addr: str, lb2_addr: str) -> list[view.NodeReport]:
    return [
        view.parse_probe(
            "lb1", "MASTER", "192.168.159.129", True, probe_output(lb1_vrrp, addresses=lb1_addr)
        ),
        view.parse_probe(
            "lb2", "BACKUP", "192.168.159.130", True, probe_output(lb2_vrrp, addresses=lb2_addr)
        ),
    ]


def test_who_holds_a_vip_and_whether_it_is_where_it_is_meant_to_be():
    vip = "eth0 192.168.159.110/24"
    steady = view.build_status(
        "dev", VIPS, reports("VI_121 MASTER 1 150\n", "VI_121 BACKUP 1 100\n", vip, ""), now=2
    )
    assert steady.vips[0].holders == ("lb1",) and steady.vips[0].verdict == "as configured"
    assert steady.healthy
    moved = view.build_status(
        "dev", VIPS, reports("VI_121 FAULT 1 150\n", "VI_121 MASTER 1 100\n", "", vip), now=2
    )
    assert moved.vips[0].holders == ("lb2",) and moved.vips[0].verdict == "failed over"
    split = view.build_status(
        "dev", VIPS, reports("VI_121 MASTER 1 150\n", "VI_121 MASTER 1 100\n", vip, vip), now=2
    )
    assert split.vips[0].verdict == "SPLIT BRAIN" and not split.healthy
    nobody = view.build_status(
        "dev", VIPS, reports("VI_121 FAULT 1 150\n", "VI_121 FAULT 1 100\n", "", ""), now=2
    )
    assert nobody.vips[0].verdict == "nobody holds it" and not nobody.healthy


def test_the_table_and_the_json_say_the_same():
    vip = "eth0 192.168.159.110/24"
    s = view.build_status(
        "dev",
        VIPS,
        reports("VI_121 FAULT 1764474000 150\n", "VI_121 MASTER 1764474001 100\n", "", vip),
        now=1764474061,
    )
    s.nodes.append(
        view.NodeReport("tomcat-1", "primary", "192.168.159.131", False, error=view_error())
    )
    text = view.format_status(s)
    assert "stack dev: NEEDS ATTENTION" in text
    assert "192.168.159.110  121   lb2" in text and "failed over" in text
    assert "FAULT 150 (" in text and "keepalived v2.2.7" in text
    assert "tomcat-1" in text and "unreachable: host key mismatch" in text
    assert "last transitions (4, newest last)" in text
    data = json.loads(json.dumps(view.status_json(s)))
    assert data["vips"][0]["heldBy"] == ["lb2"] and data["vips"][0]["verdict"] == "failed over"
    assert data["nodes"]["lb1"]["vrrp"]["VI_121"]["state"] == "FAULT"
    assert data["nodes"]["tomcat-1"]["reachable"] is False
    assert data["healthy"] is False


def view_error() -> str:
    from nginx_ha.ops.ssh import HOST_KEY_REFUSED

    return HOST_KEY_REFUSED


def test_the_probe_reads_where_the_layout_says_and_asks_each_unit():
    layout = Layout(vrrp_state_dir="/x/vrrp", health_file="/x/health")
    text = view.probe_script(LOAD_BALANCER, layout, systemctl="/t/systemctl")
    assert "STATE_DIR=/x/vrrp\n" in text and "HEALTH_FILE=/x/health\n" in text
    assert "UNITS='nginx nginx-ha-watch keepalived'\n" in text and "VRRP=yes\n" in text
    assert "SYSTEMCTL=/t/systemctl\n" in text
    backend = view.probe_script(BACKEND, layout)
    assert "UNITS=tomcat10\n" in backend and "VRRP=no\n" in backend


def test_keepalived_is_on_every_users_path_after_an_activation():
    """The activation links the active build into /usr/local/sbin (root's PATH) and
    /usr/local/bin (every user's, also over SSH: Debian gives users no sbin folder)."""
    topo = build_topology(parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS))
    layout = vm_layout(topo)
    parts = node_plan(topo, topo.master, layout).parts
    links = {i.target: i.staged for i in manifest(parts, layout) if i.kind == "link"}
    assert set(links) == {"/usr/local/sbin/keepalived", "/usr/local/bin/keepalived"}
    assert len(set(links.values())) == 1
    assert next(iter(links.values())).startswith(layout.keepalived_builds + "/")


def backend_probe(app: str | None) -> str:
    out = "== now\n1764474061.0\n== units\ntomcat10 active\n== addresses\neth0 192.168.159.131/24\n"
    if app is not None:
        out += f"== app\n{app}\n"
    return out + "== end\n"


def test_each_backend_s_application_release_is_shown_and_a_mix_is_noted():
    sha1, sha2 = "a" * 64, "b" * 64
    nodes = [
        view.parse_probe("t1", "primary", "192.168.159.131", False, backend_probe(f"{sha1[:16]} {sha1} 1.4.2")),
        view.parse_probe("t2", "backup", "192.168.159.132", False, backend_probe(f"{sha2[:16]} {sha2} -")),
    ]  # fmt: skip
    assert nodes[0].app == view.AppRelease(sha1[:16], sha1, "1.4.2")
    assert nodes[1].app == view.AppRelease(sha2[:16], sha2, None)
    s = view.build_status("dev", [], nodes, now=1764474061)
    text = view.format_status(s)
    assert "application (what each backend's Tomcat serves):" in text
    assert f"t1       {sha1[:16]}  1.4.2" in text and "backends serve different releases" in text
    data = json.loads(json.dumps(view.status_json(s)))
    assert data["nodes"]["t1"]["app"] == {"release": sha1[:16], "sha256": sha1, "version": "1.4.2"}
    # Without the application: no section, no table.
    plain = view.parse_probe("t1", "primary", "192.168.159.131", False, backend_probe(None))
    assert plain.app is None
    assert "application (" not in view.format_status(view.build_status("dev", [], [plain], now=1))


def test_the_probe_asks_for_the_release_only_with_the_application():
    text = view.probe_script(
        BACKEND, Layout(), app_descriptor="/var/lib/tomcat10/conf/Catalina/localhost/ROOT.xml"
    )
    assert "APP_DESCRIPTOR=/var/lib/tomcat10/conf/Catalina/localhost/ROOT.xml" in text
    assert "APP_DESCRIPTOR=" not in view.probe_script(BACKEND, Layout())
    assert "APP_DESCRIPTOR=" not in view.probe_script(
        LOAD_BALANCER, Layout(), app_descriptor="/x.xml"
    )
