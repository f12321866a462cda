"""nginx, Tomcat and the smoke test in the real program under mocks: the steps per
node, what each waits for, what re-runs them, the firewall rules, the outputs."""

from __future__ import annotations

import pytest

from nginx_ha import render
from nginx_ha.config import parse_settings
from nginx_ha.topology import build_topology, vm_layout
from support import stacks
from support.mocks import key_of, run_program
from tests.program.commands import header_params, manifest, params_of, uploaded

LBS = ("nginx-master", "nginx-backup")
BACKENDS = ("tomcat-primary", "tomcat-backup")
# The package, then each staged file (upload, stage); the activation applies them.
NGINX_STEPS = ("nginx-install", "http-firewall", "vip-hold", "nginx-conf")
TOMCAT_STEPS = ("tomcat-install", "tomcat-firewall", "tomcat-port", "tomcat-page")


NGINX_NODE = "nginx-ha:index:NginxNode"
TOMCAT_NODE = "nginx-ha:index:TomcatNode"
KEEPALIVED_NODE = "nginx-ha:index:KeepalivedNode"
STAGED_FILE = "nginx-ha:index:StagedFile"


def step(name: str) -> str:
    """The key of a step (the files are StagedFile components)."""
    if name.endswith(("-install",)):
        return name
    return key_of(STAGED_FILE, name, custom=False)


def node_key(node: str) -> str:
    """The key of a node's component: NginxNode for a load balancer, TomcatNode else."""
    return key_of(NGINX_NODE if node in LBS else TOMCAT_NODE, node, custom=False)


@pytest.fixture(scope="module")
def dev():
    return run_program(stacks.raw_config("dev"))


def test_every_node_gets_its_steps_under_its_component(dev):
    run = dev
    for lb in LBS:
        assert run.get(node_key(lb)).typ == NGINX_NODE
        assert {step(f"{lb}-{s}") for s in NGINX_STEPS} <= run.children(node_key(lb))
        assert not any(f"{lb}-tomcat" in n for n in run.resource_keys())
    for be in BACKENDS:
        assert run.get(node_key(be)).typ == TOMCAT_NODE
        assert {step(f"{be}-{s}") for s in TOMCAT_STEPS} <= run.children(node_key(be))
        assert not any(f"{be}-nginx" in n for n in run.resource_keys())
    # Each file is staged: uploaded, then checked by the real tool into its release
    # folder; the node's activation swaps it in and reloads.
    assert {"nginx-master-nginx-conf-upload", "nginx-master-nginx-conf-stage"} == (
        run.children(step("nginx-master-nginx-conf"))
    )
    p = params_of(run.named("nginx-master-nginx-conf-stage").inputs["create"])
    assert (p["VALIDATOR"], p["NGINX_BIN"]) == ("nginx", "/usr/sbin/nginx")
    assert p["STAGED"].startswith("/var/lib/nginx-ha/releases/")
    assert p["STAGED"].endswith("/nginx.conf")
    assert (
        "file",
        "/etc/nginx/nginx.conf",
        p["STAGED"],
        "0644",
        "nginx-reload",
        "root",
    ) in manifest(run, "nginx-master")
    page = params_of(run.named("tomcat-backup-tomcat-page-stage").inputs["create"])
    assert page["VALIDATOR"] == "marker"
    assert page["MARKER"] == "nginx-ha-backend=tomcat-backup role=backup"
    assert (
        "file",
        "/var/lib/tomcat10/webapps/ROOT/index.html",
        page["STAGED"],
        "0644",
        "none",
        "root",
    ) in (manifest(run, "tomcat-backup"))


def test_every_remote_step_waits_for_its_node_and_in_order(dev):
    run = dev
    for node, steps in [*((n, NGINX_STEPS) for n in LBS), *((n, TOMCAT_STEPS) for n in BACKENDS)]:
        leaves = [c for c in run.children(node_key(node)) if run.get(c).typ.startswith("command:")]
        # install, then an upload and a stage per file
        assert len(leaves) == 1 + 2 * (len(steps) - 1)
        for leaf in leaves:
            assert f"{node}-wait-ready" in run.waits_for(leaf), leaf
            # and never another node's
            others = {f"{n}-wait-ready" for n in (*LBS, *BACKENDS)} - {f"{node}-wait-ready"}
            assert not run.waits_for(leaf) & others, leaf
        install, files = f"{node}-{steps[0]}", [f"{node}-{s}" for s in steps[1:]]
        for f in files:
            assert install in run.waits_for(f"{f}-stage")  # the validator is installed
            assert install in run.waits_for(f"{f}-upload")
            # the node's activation applies it
            assert f"{f}-stage" in run.waits_for(f"{node}-activate")


def test_smoke_runs_on_a_backend_after_every_node(dev):
    run = dev
    smoke = run.named("nginx-ha-smoke")
    # On a backend (tomcat-backup), not a load balancer: those have the VIP on lo and
    # would answer themselves; from a backend the request crosses the network to the
    # VIP's holder.
    assert smoke.inputs["connection"]["value"]["host"] == "192.168.159.132"
    waits = run.waits_for("nginx-ha-smoke")
    for node in (*LBS, *BACKENDS):
        assert f"{node}-activate" in waits  # each node activated, behind its gate
    for lb in LBS:  # the handbacks (the VIP where it is meant to be) and keepalived's steps
        assert f"{lb}-handback" in waits
        steps = {c for c in run.children(key_of(KEEPALIVED_NODE, lb, False)) if run.get(c).custom}
        assert steps and steps <= waits
    p = params_of(smoke.inputs["create"])
    assert p == {
        "URL": "http://192.168.159.110/",
        "MARKER_KEY": "nginx-ha-backend",
        "EXPECT_LB": "nginx-master",
        "PRIMARIES": "tomcat-primary",
        "TRIES": "30",
        "INTERVAL": "1",
        "TIMEOUT": "3",
    }


def test_the_vip_hold_is_staged_on_every_load_balancer_with_every_vip_and_nginx_port(dev):
    run = dev
    for lb in LBS:
        text = uploaded(run, f"{lb}-vip-hold-upload")
        p = header_params(text)
        assert (p["ACTION"], p["HOLD_VIPS"], p["HOLD_PORTS"]) == ("up", "192.168.159.110", "80")
        assert "socket transparent" in text  # the script itself follows its parameters


def test_firewall_rules(dev):
    run = dev
    for lb in LBS:
        p = header_params(uploaded(run, f"{lb}-http-firewall-upload"))
        assert (p["FW_NAME"], p["FW_PROTO"], p["FW_PORT"], p["FW_SOURCES"]) == (
            "http",
            "tcp",
            "80",
            "",
        )
        assert "FW_RESTRICT" not in p  # open to every client
    for be in BACKENDS:
        p = header_params(uploaded(run, f"{be}-tomcat-firewall-upload"))
        assert p["FW_PORT"] == "8080"
        assert p["FW_RESTRICT"] == "yes"
        # Only the load balancers (and the node's own check on loopback).
        assert p["FW_SOURCES"].split() == [
            "192.168.159.129",
            "192.168.159.130",
            "192.168.159.110",  # the VIP, should the kernel pick it as the source
            "127.0.0.1",
        ]
        # The activation applies each rule set as a staged script.
        assert ("run", "firewall-tomcat") in {item[:2] for item in manifest(run, be)}


def test_tomcat_port_per_backend_reaches_install_firewall_and_nginx():
    backends = [
        {"name": "tomcat-primary", "ip": "192.168.159.131", "role": "primary", "port": 8081},
        {"name": "tomcat-backup", "ip": "192.168.159.132", "role": "backup"},
    ]
    run = run_program(stacks.raw_config("dev", backends=backends))
    # The package installs as it comes; the activation moves the connector's port.
    port = header_params(uploaded(run, "tomcat-primary-tomcat-port-upload"))
    assert (port["ACTION"], port["TOMCAT_PORT"]) == ("port", "8081")
    assert header_params(uploaded(run, "tomcat-backup-tomcat-port-upload"))["TOMCAT_PORT"] == "8080"
    fw = header_params(uploaded(run, "tomcat-primary-tomcat-firewall-upload"))
    assert fw["FW_PORT"] == "8081"
    activation = params_of(run.named("tomcat-primary-activate").inputs["create"])
    assert (activation["GATE"], activation["GATE_URL"]) == ("marker", "http://127.0.0.1:8081/")
    assert "server 192.168.159.131:8081 max_fails" in uploaded(
        run, "nginx-master-nginx-conf-upload"
    )


def inputs_by_name(run):
    return {r.name: r.inputs for r in run.resources}


def test_a_changed_nginx_setting_reruns_only_the_nginx_conf_steps(dev):
    base = dev
    changed = run_program(stacks.raw_config("dev", nginx={"readTimeout": 2, "maxFails": 2}))
    a, b = inputs_by_name(base), inputs_by_name(changed)
    assert a.keys() == b.keys()
    differ = {n for n in a if repr(a[n].get("triggers")) != repr(b[n].get("triggers"))}
    # Both load balancers' nginx.conf, the handbacks after the activations, and the
    # smoke test that checks the result.
    assert differ == {
        "nginx-master-nginx-conf-upload",
        "nginx-master-nginx-conf-stage",
        "nginx-backup-nginx-conf-upload",
        "nginx-backup-nginx-conf-stage",
        "nginx-master-handback",
        "nginx-backup-handback",
        "nginx-ha-smoke",
    }
    commands = {n for n in a if repr(a[n].get("create")) != repr(b[n].get("create"))}
    # The stage commands name the new file; the activations' manifests list it.
    assert commands == {f"{lb}-{step}" for lb in LBS for step in ("nginx-conf-stage", "activate")}


def test_outputs_smoke_and_config_hashes(dev):
    run = dev
    assert set(run.exports) >= {"vip", "url", "nodes", "smoke", "configHashes"}
    s = parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)
    t = build_topology(s)
    layout = vm_layout(t)
    hashes = run.exports["configHashes"]
    assert set(hashes) == set(LBS) | set(BACKENDS)
    for lb in LBS:
        conf = render.nginx_conf(t, t.node(lb), layout)
        assert hashes[lb]["/etc/nginx/nginx.conf"] == render.sha256(conf)
    for be in BACKENDS:
        page = render.tomcat_page(t, t.node(be), layout)
        assert hashes[be]["/var/lib/tomcat10/webapps/ROOT/index.html"] == render.sha256(page)
        # Every file and step the node gets, rendered once from its plan.
        assert hashes[be] == render.node_plan(t, t.node(be), layout).hashes()
        assert {"/steps/activate.sh", "/steps/tomcat-port.sh", "/steps/tomcat-install.sh"} <= set(
            hashes[be]
        )
    # No file that carries the VRRP secret is hashed in the outputs.
    every_path = {p for files in hashes.values() for p in files}
    assert layout.auth_key_file not in every_path
    assert layout.auth_pass_file not in every_path
    # The masters' and backups' nginx.conf differ (each names itself), so do the pages.
    assert (
        hashes["nginx-master"]["/etc/nginx/nginx.conf"]
        != hashes["nginx-backup"]["/etc/nginx/nginx.conf"]
    )


def test_preview_builds_the_same_steps(dev):
    base = dev
    preview = run_program(stacks.raw_config("dev"), preview=True)
    assert sorted(r.name for r in preview.resources) == sorted(r.name for r in base.resources)
    smoke = preview.named("nginx-ha-smoke").inputs
    assert smoke["create"] == base.named("nginx-ha-smoke").inputs["create"]
