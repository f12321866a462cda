"""The keepalived.conf push as the program runs it on a node (remote.INSTALL_FILE with
KeepalivedNode's validate and reload commands), for real with the keepalived built on
this machine, inside a network namespace and a private mount namespace: a valid file
goes into place; an invalid one leaves the old file and fails with keepalived's own
message."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from nginx_ha import render
from nginx_ha.components import keepalived
from nginx_ha.components.remote import INSTALL_FILE
from nginx_ha.config import parse_settings
from nginx_ha.topology import build_topology, vm_layout
from support import stacks
from tests.render import keepalived_validate as kv

OVERRIDES = {
    "keepalived": {"version": "2.2.7", "url": "https://example.invalid/k.tgz", "sha256": "0" * 64},
    "vrrp": {"version": 2, "advertInterval": 1, "check": {"interval": 1, "timeout": 1}},
    "vrrpAuthPass": stacks.TEST_PASS,
}


@pytest.fixture
def node_files():
    why = kv.namespaces_unavailable()
    binaries = kv.keepalived_binaries((2, 2))
    if why or not binaries:
        pytest.skip(why or "no keepalived 2.2 here")
    settings = parse_settings(stacks.raw_config("dev", **OVERRIDES))
    topo = build_topology(settings, keepalived_version=(2, 2, 7))
    layout = dataclasses.replace(vm_layout(topo), keepalived_bin=binaries[0])
    node = topo.master
    files = {
        path: (text, render.file_mode(layout, path))
        for path, text in render.keepalived_files(topo, node, layout, stacks.TEST_PASS).items()
    }
    return topo, layout, node, files


def push(layout, files, old: str, new: str):
    """Install ``old`` as the live file, then push ``new`` as the program does; print
    the live file afterwards between markers."""
    live = dict(files, **{layout.keepalived_conf: (old, "0644")})
    staged = "/run/nginx-ha-staging/keepalived.conf"  # on the private /run below
    params = {
        "STAGED": staged,
        "TARGET": layout.keepalived_conf,
        "MODE": "0644",
        "VALIDATE": keepalived.keepalived_validate(layout),
        "RELOAD": keepalived.keepalived_reload(layout),
    }
    header = "".join(f"{k}={shlex.quote(v)}\n" for k, v in params.items())
    command = (
        "mount -t tmpfs tmpfs /run\n"  # no foreign pid files: reload touches nothing
        f"mkdir -p {shlex.quote(staged.rsplit('/', 1)[0])}\n"
        f"cat > {shlex.quote(staged)} <<'NGINX_HA_EOF'\n{new}NGINX_HA_EOF\n"
        "rc=0\n"
        f"bash -c {shlex.quote('set -euo pipefail' + chr(10) + header + INSTALL_FILE)} || rc=$?\n"
        f"echo '--- live ---'; cat {shlex.quote(layout.keepalived_conf)}; echo '--- end ---'\n"
        'exit "$rc"\n'
    )
    result = kv.in_namespace(live, [layout.interface], command)
    live_text = result.stdout.split("--- live ---\n", 1)[1].split("--- end ---", 1)[0]
    return result, live_text


def test_a_valid_config_goes_into_place(node_files):
    topo, layout, node, files = node_files
    new = files[layout.keepalived_conf][0]
    result, live = push(layout, files, "# old\n", new)
    assert result.returncode == 0, result.stderr
    assert live == new
    assert f"installed {layout.keepalived_conf}" in result.stdout


def test_an_invalid_config_leaves_the_old_one_and_shows_keepalived_s_message(node_files):
    topo, layout, node, files = node_files
    good = files[layout.keepalived_conf][0]
    bad = good.replace(f"interface {layout.interface}", "interface eth9")
    result, live = push(layout, files, good, bad)
    assert result.returncode != 0
    assert "Non-existent interface" in result.stderr  # keepalived's own words
    assert "left unchanged" in result.stderr
    assert live == good
