"""Escaping at render time: a hostile value that got past the settings (here: put
straight into the topology, bypassing every validation) cannot add a directive, a
YAML key or a shell command to a rendered file. The render stops instead, or the
value stays inert where it lands."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
import yaml

from nginx_ha import render
from nginx_ha.config import parse_settings
from nginx_ha.render.templates import UnsafeValue
from nginx_ha.topology import build_topology, vm_layout
from nginx_ha.topology.hostkeys import host_key
from nginx_ha.topology.plans import EmailPlan, NotifyPlan
from support import stacks

INJECTED = 'ops@example.com\nvrrp_script evil {\n    script "/bin/sh -c reboot"\n}\n'


def dev():
    s = parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)
    topo = build_topology(s)
    return topo, vm_layout(topo)


def with_email(topo, **email):
    plan = EmailPlan(**{"to": ("ops@example.com",), "sender": None, "server": "smtp 25", **email})
    return dataclasses.replace(topo, notify=NotifyPlan(script=False, email=plan))


def test_a_newline_in_an_email_cannot_add_a_vrrp_script_block():
    topo, layout = dev()
    bad = with_email(topo, to=(INJECTED,))
    with pytest.raises(UnsafeValue, match="refusing to render"):
        render.keepalived_conf(bad, bad.node("nginx-master"), layout)


def test_a_one_line_brace_in_a_sender_cannot_close_the_block():
    topo, layout = dev()
    bad = with_email(topo, sender="a@b } vrrp_script evil { script /bin/sh")
    with pytest.raises(UnsafeValue, match="keepalived.conf word"):
        render.keepalived_conf(bad, bad.node("nginx-master"), layout)


def test_the_checked_values_render_as_before():
    topo, layout = dev()
    good = with_email(topo)
    conf = render.keepalived_conf(good, good.node("nginx-master"), layout)
    assert "smtp_server smtp 25\n" in conf and "vrrp_script evil" not in conf


def test_a_newline_in_a_node_name_stops_every_file_it_reaches():
    topo, layout = dev()
    node = dataclasses.replace(topo.node("nginx-master"), name="nginx-master\nuser root;")
    for fn in (render.nginx_conf, render.check_nginx_script, render.nginx_watch_script):
        with pytest.raises(UnsafeValue, match="refusing to render"):
            fn(topo, node, layout)


def test_a_value_without_a_filter_is_still_stopped_by_its_newline():
    # keepalived.conf's header comment names the node without a filter: the
    # environment's finalize refuses any interpolated value with a control character.
    topo, layout = dev()
    bad = dataclasses.replace(
        topo, keepalived=dataclasses.replace(topo.keepalived, version=(2, 4, 3))
    )
    conf = render.keepalived_conf(bad, bad.node("nginx-master"), layout)
    assert "(keepalived 2.4.3)" in conf
    from nginx_ha.render.templates import render_template

    with pytest.raises(UnsafeValue, match="control character"):
        render_template(
            "tomcat/index.html.j2",
            node_name="x",
            role="r\nx",
            marker_key="k",
            marker="m",
            address="a",
        )


def test_a_command_substitution_in_a_node_name_stays_text_in_the_scripts(tmp_path):
    topo, layout = dev()
    node = dataclasses.replace(topo.node("nginx-master"), name="$(touch /tmp/pwned)")
    text = render.check_nginx_script(topo, node, layout)
    assert "node='$(touch /tmp/pwned)'" in text
    f = tmp_path / "check.sh"
    f.write_text(text)
    assert subprocess.run(["bash", "-n", str(f)], check=False).returncode == 0


def test_a_semicolon_in_the_health_path_cannot_end_the_nginx_directive():
    topo, layout = dev()
    bad = dataclasses.replace(
        topo, nginx=dataclasses.replace(topo.nginx, health_path="/h { } server { listen 22;")
    )
    with pytest.raises(UnsafeValue, match="nginx.conf word"):
        render.nginx_conf(bad, bad.node("nginx-master"), layout)


def test_yaml_values_stay_values_in_cloud_init():
    topo, _ = dev()
    bad = dataclasses.replace(
        topo,
        vrrp=dataclasses.replace(topo.vrrp, interface='eth0": {}, "runcmd": ["reboot'),
        ssh=dataclasses.replace(topo.ssh, user='debian", "sudo": "x'),
    )
    node = bad.node("nginx-master")
    net = yaml.safe_load(render.cloud_init_network_config(bad, node))
    assert list(net) == ["version", "ethernets"]
    assert list(net["ethernets"]) == ['eth0": {}, "runcmd": ["reboot']
    key = host_key(stacks.TEST_HOST_KEY_SEED, bad.project, bad.stack, node.name)
    user = yaml.safe_load(render.cloud_init_user_data(bad, node, key))
    assert user["users"][0]["name"] == 'debian", "sudo": "x'
    assert user["users"][0]["sudo"] == "ALL=(ALL) NOPASSWD:ALL"


def test_html_in_a_backend_name_is_escaped_on_its_page():
    topo, layout = dev()
    node = dataclasses.replace(topo.node("tomcat-primary"), name="<script>x</script>")
    page = render.tomcat_page(topo, node, layout)
    assert "<script>" not in page and "&lt;script&gt;" in page
