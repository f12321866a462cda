"""The offline render command writes every file a node gets (cloud-init, units and the
steps included) and answers an unknown stack with the stacks that exist."""

from __future__ import annotations

import stat

import yaml

from nginx_ha.config import parse_settings, stackfiles
from nginx_ha.ops import render as render_cli
from nginx_ha.render import node_plan
from nginx_ha.topology import build_topology, vm_layout
from support import stacks


def test_every_file_of_every_node_is_written_cloud_init_included(tmp_path):
    render_cli.write_stack_files("dev", tmp_path, env={}, project_dir=stacks.ROOT)
    raw = stackfiles.raw_config_from_file("dev", stacks.ROOT, {})
    topo = build_topology(parse_settings(raw, stack="dev"))
    layout = vm_layout(topo)
    for node in topo.nodes:
        base = tmp_path / node.name
        for name in ("user-data", "meta-data", "network-config"):
            assert (base / "cloud-init" / name).is_file(), (node.name, name)
        net = yaml.safe_load((base / "cloud-init/network-config").read_text())
        assert node.mac in str(net) and str(node.ip) in str(net)
        plan = node_plan(topo, node, layout)
        for a in plan.artefacts:
            path = f"steps/{a.target}.sh" if a.kind == "run" else a.target.lstrip("/")
            assert (base / path).read_text() == a.text, (node.name, a.role)
            assert stat.S_IMODE((base / path).stat().st_mode) == int(a.mode, 8), path
        for step in plan.steps:  # wait-ready, the installs, the build: as the node runs them
            assert (base / f"steps/{step.role}.sh").read_text() == step.text, step.role
        assert (base / "steps/activate.sh").read_text() == plan.activation
        assert stat.S_IMODE((base / "steps/activate.sh").stat().st_mode) == 0o755
    lb = tmp_path / "nginx-master"
    assert (lb / "etc/systemd/system/keepalived.service").is_file()
    assert (lb / "etc/systemd/system/nginx-ha-watch.service").is_file()
    assert (lb / "steps/handback.sh").is_file()
    assert not (tmp_path / "tomcat-primary/steps/handback.sh").exists()


def test_without_secrets_the_user_data_holds_placeholders(tmp_path):
    render_cli.write_stack_files("dev", tmp_path, env={}, project_dir=stacks.ROOT)
    doc = yaml.safe_load((tmp_path / "nginx-master/cloud-init/user-data").read_text())
    keys = str(doc["users"])
    assert "placeholder@nginx-ha-render" in keys
    assert stacks.TEST_PUBLIC_KEY not in keys


def test_an_unknown_stack_is_answered_with_the_stacks_that_exist(tmp_path, capsys):
    argv = ["--stack", "prod", "--out", str(tmp_path / "o"), "--project-dir", str(stacks.ROOT)]
    assert render_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "no stack file for 'prod'" in err
    assert "stacks here: dev, sandbox, staging" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert render_cli.main(["--stack", "dev", "--out", str(tmp_path), "--project-dir", str(empty)])
    assert "no stack file here at all" in capsys.readouterr().err
