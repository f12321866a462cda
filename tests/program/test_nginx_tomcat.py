"""nginx, Tomcat and the smoke test in the real program under mocks: the steps per
node, what each waits for, what re-runs them, the firewall rules, the outputs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import pulumi
import pytest

from nginx_ha import render
from nginx_ha.config import parse_settings
from nginx_ha.topology import build_topology, vm_layout
from support import stacks
from support.mocks import run_program

LBS = ("nginx-master", "nginx-backup")
BACKENDS = ("tomcat-primary", "tomcat-backup")
NGINX_STEPS = ("nginx-install", "http-firewall", "nginx-conf", "nginx-service")
TOMCAT_STEPS = ("tomcat-install", "tomcat-firewall", "tomcat-page", "tomcat-service")


@dataclass
class Graph:
    """Every resource the program built, with its parent and explicit depends_on.

    Keys: a custom resource's name; a component's "Type:name" (components of
    different types share names, e.g. NginxNode and KeepalivedNode "nginx-master")."""

    types: dict[str, str] = field(default_factory=dict)
    parent: dict[str, str | None] = field(default_factory=dict)
    deps: dict[str, set[str]] = field(default_factory=dict)

    def children(self, name: str) -> set[str]:
        out = set()
        for child, parent in self.parent.items():
            if parent == name:
                out |= {child} | self.children(child)
        return out

    def waits_for(self, name: str) -> set[str]:
        """Everything ``name`` waits for: its depends_on (a component stands for all
        its children, as the engine expands it), transitively, and its parents'."""
        seen: set[str] = set()
        todo = list(self.deps.get(name, ()))
        while todo:
            d = todo.pop()
            if d in seen:
                continue
            seen.add(d)
            todo.extend(self.deps.get(d, ()))
            todo.extend(self.children(d))
        return seen


def key(t: str, name: str, custom: bool) -> str:
    return name if custom else f"{t.rsplit(':', 1)[-1]}:{name}"


def step(name: str) -> str:
    """The graph key of a step (the config steps are ValidatedFile components)."""
    return f"ValidatedFile:{name}" if name.endswith(("-nginx-conf", "-tomcat-page")) else name


def run_with_graph(monkeypatch, raw, stack="dev", preview=False):
    graph = Graph()
    objects: dict[int, str] = {}
    real_init = pulumi.Resource.__init__

    def recording_init(self, t, name, custom, props=None, opts=None, *args, **kwargs):
        k = key(t, name, custom)
        objects[id(self)] = k
        graph.types[k] = t
        pending = opts.depends_on if opts is not None else None
        graph.parent[k] = None
        graph.deps[k] = set()
        if opts is not None and opts.parent is not None:
            graph.parent[k] = objects.get(id(opts.parent))
        if pending is not None:
            items = pending if isinstance(pending, list | tuple) else [pending]
            graph.deps[k] = {objects[id(d)] for d in items}
        return real_init(self, t, name, custom, props, opts, *args, **kwargs)

    monkeypatch.setattr(pulumi.Resource, "__init__", recording_init)
    run = run_program(raw, stack=stack, preview=preview)
    return run, graph


@pytest.fixture(scope="module")
def dev():
    mp = pytest.MonkeyPatch()
    try:
        yield run_with_graph(mp, stacks.raw_config("dev"))
    finally:
        mp.undo()


def params(create: str) -> dict[str, str]:
    """The NAME=value lines script_command puts at the top of a command."""
    inner = shlex.split(create)[-1]  # sudo bash -c '<script>'
    lines = inner.split("\n")
    assert lines[0] == "set -euo pipefail"
    out = {}
    for line in lines[1:]:
        name, eq, value = line.partition("=")
        if not (eq and name.isidentifier() and name.isupper()):
            break  # the script itself starts here
        out[name] = shlex.split(value)[0] if value else ""
    return out


def test_every_node_gets_its_steps_under_its_component(dev):
    run, graph = dev
    for lb in LBS:
        assert graph.types[f"NginxNode:{lb}"] == "nginx-ha:index:NginxNode"
        assert {step(f"{lb}-{s}") for s in NGINX_STEPS} <= graph.children(f"NginxNode:{lb}")
        assert not any(f"{lb}-tomcat" in n for n in graph.types)
    for be in BACKENDS:
        assert graph.types[f"TomcatNode:{be}"] == "nginx-ha:index:TomcatNode"
        assert {step(f"{be}-{s}") for s in TOMCAT_STEPS} <= graph.children(f"TomcatNode:{be}")
        assert not any(f"{be}-nginx" in n for n in graph.types)
    # The config files go through ValidatedFile (upload, validate, swap, reload).
    assert {"nginx-master-nginx-conf-upload", "nginx-master-nginx-conf-install"} == (
        graph.children(step("nginx-master-nginx-conf"))
    )
    conf = run.named("nginx-master-nginx-conf-install").inputs["create"]
    p = params(conf)
    assert p["TARGET"] == "/etc/nginx/nginx.conf"
    assert p["VALIDATE"] == '/usr/sbin/nginx -t -q -c "$STAGED"'
    assert "systemctl reload-or-restart nginx" in p["RELOAD"]
    page = params(run.named("tomcat-backup-tomcat-page-install").inputs["create"])
    assert page["TARGET"] == "/var/lib/tomcat10/webapps/ROOT/index.html"
    assert "nginx-ha-backend=tomcat-backup role=backup" in page["VALIDATE"]


def test_every_remote_step_waits_for_its_node_and_in_order(dev):
    _, graph = dev
    for node, steps in [*((n, NGINX_STEPS) for n in LBS), *((n, TOMCAT_STEPS) for n in BACKENDS)]:
        kind = "NginxNode" if node in LBS else "TomcatNode"
        leaves = [
            c for c in graph.children(f"{kind}:{node}") if graph.types[c].startswith("command:")
        ]
        assert len(leaves) == 5  # install, firewall, upload, validate+swap+reload, service
        for leaf in leaves:
            assert f"{node}-wait-ready" in graph.waits_for(leaf), leaf
            # and never another node's
            others = {f"{n}-wait-ready" for n in (*LBS, *BACKENDS)} - {f"{node}-wait-ready"}
            assert not graph.waits_for(leaf) & others, leaf
        install, firewall, conf, service = (f"{node}-{s}" for s in steps)
        assert install in graph.waits_for(f"{conf}-install")  # the validator is installed
        assert install in graph.waits_for(f"{conf}-upload")
        assert {f"{conf}-install", firewall} <= graph.waits_for(service)


def test_smoke_runs_on_a_backup_after_every_node(dev):
    run, graph = dev
    smoke = run.named("nginx-ha-smoke")
    # On the BACKUP: its request crosses the network to the VIP's holder.
    assert smoke.inputs["connection"]["value"]["host"] == "192.168.159.130"
    waits = graph.waits_for("nginx-ha-smoke")
    for node, steps in [*((n, NGINX_STEPS) for n in LBS), *((n, TOMCAT_STEPS) for n in BACKENDS)]:
        assert f"{node}-{steps[-1]}" in waits  # each node's last step
    for lb in LBS:  # and keepalived's steps (the VIP) too
        assert graph.children(f"KeepalivedNode:{lb}") <= waits
    p = params(smoke.inputs["create"])
    assert p == {
        "URL": "http://192.168.159.110/",
        "MARKER_KEY": "nginx-ha-backend",
        "EXPECT_LB": "nginx-master",
        "PRIMARIES": "tomcat-primary",
        "TRIES": "30",
        "INTERVAL": "1",
        "TIMEOUT": "3",
    }


def test_firewall_rules(dev):
    run, _ = dev
    for lb in LBS:
        p = params(run.named(f"{lb}-http-firewall").inputs["create"])
        assert (p["FW_NAME"], p["FW_PROTO"], p["FW_PORT"], p["FW_SOURCES"]) == (
            "http",
            "tcp",
            "80",
            "",
        )
        assert "FW_RESTRICT" not in p  # open to every client
    for be in BACKENDS:
        p = params(run.named(f"{be}-tomcat-firewall").inputs["create"])
        assert p["FW_PORT"] == "8080"
        assert p["FW_RESTRICT"] == "yes"
        # Only the load balancers (and the node's own check on loopback).
        assert p["FW_SOURCES"].split() == [
            "192.168.159.129",
            "192.168.159.130",
            "192.168.159.110",  # the VIP, should the kernel pick it as the source
            "127.0.0.1",
        ]


def test_tomcat_port_per_backend_reaches_install_firewall_and_nginx(monkeypatch):
    backends = [
        {"name": "tomcat-primary", "ip": "192.168.159.131", "role": "primary", "port": 8081},
        {"name": "tomcat-backup", "ip": "192.168.159.132", "role": "backup"},
    ]
    run, _ = run_with_graph(monkeypatch, stacks.raw_config("dev", backends=backends))
    assert (
        params(run.named("tomcat-primary-tomcat-install").inputs["create"])["TOMCAT_PORT"] == "8081"
    )
    assert params(run.named("tomcat-primary-tomcat-firewall").inputs["create"])["FW_PORT"] == "8081"
    assert (
        params(run.named("tomcat-backup-tomcat-install").inputs["create"])["TOMCAT_PORT"] == "8080"
    )
    upload = run.named("nginx-master-nginx-conf-upload").inputs["source"]
    text = getattr(upload, "text", None) or upload.get("text")
    assert "server 192.168.159.131:8081 max_fails" in text


def inputs_by_name(run):
    return {r.name: r.inputs for r in run.resources}


def test_a_changed_nginx_setting_reruns_only_the_nginx_conf_steps(monkeypatch, dev):
    base, _ = dev
    changed, _ = run_with_graph(
        monkeypatch, stacks.raw_config("dev", nginx={"readTimeout": 2, "maxFails": 2})
    )
    a, b = inputs_by_name(base), inputs_by_name(changed)
    assert a.keys() == b.keys()
    differ = {n for n in a if repr(a[n].get("triggers")) != repr(b[n].get("triggers"))}
    # Both load balancers' nginx.conf, and the smoke test that checks the result.
    assert differ == {
        "nginx-master-nginx-conf-upload",
        "nginx-master-nginx-conf-install",
        "nginx-backup-nginx-conf-upload",
        "nginx-backup-nginx-conf-install",
        "nginx-ha-smoke",
    }
    commands = {n for n in a if repr(a[n].get("create")) != repr(b[n].get("create"))}
    assert commands == {"nginx-master-nginx-conf-install", "nginx-backup-nginx-conf-install"}


def test_outputs_smoke_and_config_hashes(dev):
    run, _ = dev
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
        assert hashes[be] == {"/var/lib/tomcat10/webapps/ROOT/index.html": render.sha256(page)}
    # No file that carries the VRRP secret is hashed in the outputs.
    every_path = {p for files in hashes.values() for p in files}
    assert layout.auth_key_file not in every_path
    assert layout.auth_pass_file not in every_path
    # The masters' and backups' nginx.conf differ (each names itself), so do the pages.
    assert (
        hashes["nginx-master"]["/etc/nginx/nginx.conf"]
        != hashes["nginx-backup"]["/etc/nginx/nginx.conf"]
    )


def test_preview_builds_the_same_steps(monkeypatch, dev):
    base, _ = dev
    preview, _ = run_with_graph(monkeypatch, stacks.raw_config("dev"), preview=True)
    assert sorted(r.name for r in preview.resources) == sorted(r.name for r in base.resources)
    smoke = preview.named("nginx-ha-smoke").inputs
    assert smoke["create"] == base.named("nginx-ha-smoke").inputs["create"]
