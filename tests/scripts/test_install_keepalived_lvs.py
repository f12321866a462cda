"""install_keepalived.sh with IPVS (nginx-ha:lvs, issue 8), run for real: a build with
--enable-lvs into a prefix of the test's own, its unit runs VRRP and the LVS checker,
its keepalived accepts the rendered LVS config, and the stamp records the choice so a
stack switching LVS on or off rebuilds. Needs root and apt-get (build dependencies);
about 2 minutes on 2 cores (configure 53 s, make 57 s, measured here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nginx_ha.config import parse_settings
from nginx_ha.config.models import Keepalived
from nginx_ha.render.params import keepalived_build_params as build_params
from nginx_ha.render.parts import keepalived_unit
from nginx_ha.topology import build_topology, vm_layout
from support import debian_keepalived, stacks
from tests import plans
from tests.render import keepalived_validate as kv

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None,
    reason="installs build dependencies and keepalived: needs root and apt-get",
)

LVS_STACK = {
    "vip": None,
    "vips": ["192.168.159.110", "192.168.159.111"],
    "lvs": {"enabled": True},
    "vrrp": {
        "virtualRouterId": 121,
        "version": 2,
        "advertInterval": 1,
        "check": {"interval": 1, "timeout": 1},
    },
    "vrrpAuthPass": stacks.TEST_PASS,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    try:
        path, sha, version = debian_keepalived.orig_tarball()
    except debian_keepalived.Unavailable as e:
        pytest.skip(f"keepalived's source tarball is not available offline here: {e}")
    settings = parse_settings(
        stacks.raw_config(
            "dev",
            **LVS_STACK,
            keepalived={
                "version": version,
                "url": "https://example.invalid/k.tar.gz",
                "sha256": sha,
            },
        )
    )
    assert build_topology(settings).keepalived.ipvs
    root = tmp_path_factory.mktemp("keepalived-lvs")
    source = Keepalived(version=version, path=str(path), sha256=sha)
    params = build_params(source, True, str(root / "prefix"), uploaded=str(path)) | {
        "WORK_DIR": str(root / "work"),
        "LOG_DIR": str(root / "log"),
    }
    first = debian_keepalived.run_install_script(params)
    second = debian_keepalived.run_install_script(params)
    return settings, params, first, second


def test_the_build_has_ipvs_and_its_unit_runs_the_checker_too(built):
    _settings, params, first, _second = built
    assert first.returncode == 0, first.stdout + first.stderr
    assert params["CONFIGURE_OPTIONS"] == "--enable-lvs"
    version = subprocess.run(
        [f"{params['PREFIX']}/sbin/keepalived", "--version"], capture_output=True, text=True
    )
    text = version.stdout + version.stderr
    assert "--enable-lvs" in text and "--disable-lvs" not in text
    # The unit the program renders for this build runs VRRP and the checker: no --vrrp.
    settings = _settings
    topo = build_topology(settings)
    unit = keepalived_unit(topo, topo.master, vm_layout(topo))
    assert "(VRRP and LVS)" in unit
    assert " --vrrp " not in unit and "--log-detail --use-file=" in unit


def test_the_stamp_records_the_ipvs_choice_and_a_second_run_does_nothing(built):
    _settings, params, _first, second = built
    assert second.returncode == 0 and "nothing to do" in second.stdout
    stamp = Path(params["PREFIX"], ".nginx-ha-build").read_text()
    assert "configure=--enable-lvs" in stamp


def test_the_ipvs_build_accepts_the_rendered_lvs_config(built):
    settings, params, first, _second = built
    assert first.returncode == 0
    why = kv.namespaces_unavailable()
    if why:
        pytest.skip(why)
    topo = build_topology(settings, keepalived_version=(2, 2, 7))
    layout = vm_layout(topo)
    for node in topo.load_balancers:
        with_modes = plans.keepalived_files(topo, node, layout, stacks.TEST_PASS)
        result = kv.keepalived_test(
            f"{params['PREFIX']}/sbin/keepalived",
            with_modes,
            layout.keepalived_conf,
            [layout.interface],
        )
        assert result.returncode == 0, result.stderr
        assert "virtual_server" in with_modes[layout.keepalived_conf][0]
