"""keepalived.conf's stage step as the program runs it on a node (templates/scripts/
stage.sh with the parameters the program gives it), for real with the keepalived on
this machine, inside a network namespace and a private mount namespace: a valid file
is staged, checked with the staged copies of the files it names; an invalid one is not
staged and fails with keepalived's own message. The live file is never touched: only
the node's activation swaps a staged file in."""

from __future__ import annotations

import dataclasses
import pathlib
import shlex

import pytest

from nginx_ha import render
from nginx_ha.config import parse_settings
from nginx_ha.render import script
from nginx_ha.render.artefacts import stage_params, staged_secret
from nginx_ha.render.params import param_header
from nginx_ha.topology import build_topology, vm_layout
from support import stacks
from tests import plans
from tests.render import keepalived_validate as kv

OVERRIDES = {
    "keepalived": {"version": "2.2.7", "url": "https://example.invalid/k.tgz", "sha256": "0" * 64},
    "vrrp": {"version": 2, "advertInterval": 1, "check": {"interval": 1, "timeout": 1}},
    "vrrpAuthPass": stacks.TEST_PASS,
}


@pytest.fixture
def node_files(tmp_path):
    why = kv.namespaces_unavailable()
    binaries = kv.keepalived_binaries((2, 2))
    if why or not binaries:
        pytest.skip(why or "no keepalived 2.2 here")
    settings = parse_settings(stacks.raw_config("dev", **OVERRIDES))
    topo = build_topology(settings, keepalived_version=(2, 2, 7))
    # Release and upload folders of this test's own (mount points must exist).
    layout = dataclasses.replace(
        vm_layout(topo),
        keepalived_bin=binaries[0],
        release_dir=str(tmp_path / "releases"),
        upload_dir=str(tmp_path / "upload"),
    )
    for a in render.node_plan(topo, topo.master, layout).artefacts:
        for path in (a.staged(layout), a.uploaded(layout)):
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(layout.release_dir, "secret").mkdir(parents=True, exist_ok=True)
    node = topo.master
    files = plans.keepalived_files(topo, node, layout, stacks.TEST_PASS)
    return topo, layout, node, files


def stage(topo, layout, node, files, live_conf: str, new: str):
    """With ``live_conf`` as the live file, stage ``new`` as the program does (the
    scripts it names staged too); print the live and the staged file between markers."""
    artefacts = {a.role: a for a in render.node_plan(topo, node, layout).artefacts}
    conf = artefacts["keepalived-conf"]
    live = dict(files, **{layout.keepalived_conf: (live_conf, "0644")})
    # The files keepalived.conf names, at their staged paths (as their own stage steps
    # would have left them), and the staged secret.
    secret_target = render.vrrp_auth_path(topo, layout)
    assert secret_target is not None
    for a in artefacts.values():
        if a.kind == "file" and a.target in new:
            live[a.staged(layout)] = (a.text, a.mode)
    live[staged_secret(layout, secret_target)] = files[secret_target]
    live[conf.uploaded(layout)] = (new, "0644")
    params = stage_params(conf, layout)
    command = (
        "rc=0\n"
        f"bash -c {shlex.quote('set -euo pipefail' + chr(10) + param_header(params) + script('stage.sh'))} || rc=$?\n"
        f"echo '--- live ---'; cat {shlex.quote(layout.keepalived_conf)}; echo '--- end ---'\n"
        f"echo '--- staged ---'; cat {shlex.quote(conf.staged(layout))} 2>/dev/null; echo '--- end ---'\n"
        'exit "$rc"\n'
    )
    result = kv.in_namespace(live, [layout.interface], command)
    live_text = result.stdout.split("--- live ---\n", 1)[1].split("--- end ---", 1)[0]
    staged_text = result.stdout.split("--- staged ---\n", 1)[1].split("--- end ---", 1)[0]
    return result, live_text, staged_text


def test_a_valid_config_is_staged_and_the_live_one_untouched(node_files):
    topo, layout, node, files = node_files
    new = files[layout.keepalived_conf][0]
    result, live, staged = stage(topo, layout, node, files, "# old\n", new)
    assert result.returncode == 0, result.stderr
    assert staged == new and live == "# old\n"
    assert "keepalived: ok" in result.stdout


def test_an_invalid_config_is_not_staged_and_shows_keepalived_s_message(node_files):
    topo, layout, node, files = node_files
    good = files[layout.keepalived_conf][0]
    bad = good.replace(f"interface {layout.interface}", "interface eth9")
    result, live, staged = stage(topo, layout, node, files, good, bad)
    assert result.returncode != 0
    assert "Non-existent interface" in result.stderr  # keepalived's own words
    assert "not staged; the node runs what it ran" in result.stderr
    assert live == good and staged == ""
