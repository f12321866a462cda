"""templates/scripts/install_keepalived.sh, run for real on this Debian machine.

It builds keepalived from Debian's copy of the upstream tarball (no internet), with
the parameters the program passes, twice: the second run must change nothing. Then
the built keepalived validates a config rendered for it, in a network namespace.
Adds /etc/apt/sources.list.d/nginx-ha-deb-src.sources when no deb-src entry exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nginx_ha.config import parse_settings
from nginx_ha.config.models import Keepalived
from nginx_ha.render.params import keepalived_build_params as build_params
from nginx_ha.topology import build_topology, vm_layout
from support import debian_keepalived, stacks
from tests import plans
from tests.render import keepalived_validate as kv

ROOT = Path(__file__).resolve().parents[2]
PREFIX = Path("/usr/local/keepalived")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None,
    reason="installs build dependencies and keepalived: needs root and apt-get",
)


@pytest.fixture(scope="module")
def tarball():
    try:
        return debian_keepalived.orig_tarball()
    except debian_keepalived.Unavailable as e:
        pytest.skip(f"keepalived's source tarball is not available offline here: {e}")


@pytest.fixture(scope="module")
def params(tarball, tmp_path_factory):
    path, sha, version = tarball
    source = Keepalived(version=version, path=str(path), sha256=sha)
    work = tmp_path_factory.mktemp("keepalived-build")
    return build_params(source, False, str(PREFIX), uploaded=str(path)) | {
        "WORK_DIR": str(work / "work")
    }


@pytest.fixture(scope="module")
def installed(params):
    """A fresh build (the stamp is removed first), then a second run."""
    (PREFIX / ".nginx-ha-build").unlink(missing_ok=True)
    first = debian_keepalived.run_install_script(params)
    assert first.returncode == 0, first.stdout + first.stderr
    binary = PREFIX / "sbin/keepalived"
    built_at = binary.stat().st_mtime_ns
    log = Path(f"/var/log/nginx-ha/keepalived-build-{params['KEEPALIVED_VERSION']}.log")
    log_at = log.stat().st_mtime_ns
    second = debian_keepalived.run_install_script(params)
    return first, second, built_at, binary.stat().st_mtime_ns, log_at, log.stat().st_mtime_ns


def test_the_first_run_builds_installs_and_summarises(installed, params):
    first = installed[0].stdout
    phases = dict(re.findall(r"^phase (\w+) ([0-9.]+)$", first, re.M))
    assert set(phases) == {"deps", "source", "configure", "make", "install"}
    assert f"installed Keepalived v{params['KEEPALIVED_VERSION']}" in first
    assert f"sha256:{params['SHA256']}" in first
    assert "full build log: /var/log/nginx-ha/" in first
    assert "installed Keepalived" in first and f"in {PREFIX} from" in first


def test_the_second_run_does_nothing(installed):
    _first, second, built_at, built_after, log_at, log_after = installed
    assert second.returncode == 0, second.stderr
    assert "with the same options: nothing to do" in second.stdout
    assert "phase" not in second.stdout
    assert built_after == built_at and log_after == log_at


def test_the_build_touches_no_unit_and_no_running_keepalived(installed, params, tmp_path):
    """A build is the stage phase: the unit that runs it is rendered and swapped in by
    the node's activation (templates/systemd/keepalived.service.j2), so a build into a
    new folder changes nothing the node runs."""
    other = dict(params, PREFIX=str(tmp_path / "another-build"), WORK_DIR=str(tmp_path / "work"))
    units_before = sorted(Path("/etc/systemd/system").glob("keepalived*"))
    run = debian_keepalived.run_install_script(other)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "another-build" / "sbin" / "keepalived").exists()
    assert sorted(Path("/etc/systemd/system").glob("keepalived*")) == units_before
    assert "systemd" not in run.stdout


def test_the_built_keepalived_reports_its_version(installed, params):
    out = subprocess.run(
        [str(PREFIX / "sbin/keepalived"), "--version"], capture_output=True, text=True, check=False
    )
    assert f"Keepalived v{params['KEEPALIVED_VERSION']}" in out.stdout + out.stderr


def test_the_built_keepalived_accepts_the_rendered_config(installed, params):
    why = kv.namespaces_unavailable()
    if why:
        pytest.skip(why)
    major, minor, patch = (int(x) for x in params["KEEPALIVED_VERSION"].split("."))
    version = (major, minor, patch)
    ka = {"version": params["KEEPALIVED_VERSION"], "url": "https://example.invalid/k.tgz"}
    overrides = {
        "keepalived": {**ka, "sha256": "0" * 64},
        "vrrp": {"version": 2, "advertInterval": 1, "check": {"interval": 1, "timeout": 1}},
        "vrrpAuthPass": stacks.TEST_PASS,
    }
    settings = parse_settings(stacks.raw_config("dev", **overrides))
    topo = build_topology(settings, keepalived_version=version)
    layout = vm_layout(topo)
    for node in topo.load_balancers:
        files = plans.keepalived_files(topo, node, layout, stacks.TEST_PASS)
        result = kv.keepalived_test(
            str(PREFIX / "sbin/keepalived"), files, layout.keepalived_conf, [layout.interface]
        )
        assert result.returncode == 0, result.stderr


def test_a_wrong_checksum_builds_nothing(installed, params, tmp_path):
    stamp = (PREFIX / ".nginx-ha-build").read_text()
    bad = dict(params, SHA256="0" * 64, PREFIX=str(tmp_path / "prefix"))
    result = debian_keepalived.run_install_script(bad)
    assert result.returncode != 0
    assert "checksum mismatch" in result.stderr and "nothing was built" in result.stderr
    assert not (tmp_path / "prefix").exists()
    assert (PREFIX / ".nginx-ha-build").read_text() == stamp


def test_a_failing_step_shows_the_tail_of_the_build_log(installed, params, tmp_path):
    bad = dict(
        params,
        PREFIX=str(tmp_path / "prefix"),
        UNIT_PATH=str(tmp_path / "keepalived.service"),
        WORK_DIR=str(tmp_path / "work"),
        LOG_DIR=str(tmp_path / "log"),
        JOBS="0",  # make refuses -j0: the make step fails after a real configure
    )
    result = debian_keepalived.run_install_script(bad)
    assert result.returncode != 0
    assert "make failed; last lines of" in result.stderr
    assert not (tmp_path / "prefix/sbin/keepalived").exists()
    assert (tmp_path / "log" / f"keepalived-build-{params['KEEPALIVED_VERSION']}.log").exists()
