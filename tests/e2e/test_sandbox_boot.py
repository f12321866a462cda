"""A real VM in the sandbox: boots from the base image, answers SSH, cloud-init done.

Minutes under software emulation (about 2 to 3 on 2 cores, more with a first image
build of about 5): runs only with NGINX_HA_E2E=1, as root, with the sandbox's packages
(scripts/sandbox-prereqs.sh). Brings the sandbox up when it is not, and down again.
"""

from __future__ import annotations

import json
import os

import pytest

from sandbox import config, daemons, smoke

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("NGINX_HA_E2E") != "1",
        reason="boots a VM under emulation (minutes): set NGINX_HA_E2E=1",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespace, libvirtd)"),
    pytest.mark.skipif(
        bool(daemons.missing_tools()),
        reason="sandbox packages missing: run scripts/sandbox-prereqs.sh",
    ),
]


def test_a_vm_boots_in_the_sandbox_and_works_offline():
    paths = config.Paths.for_checkout()
    was_up = daemons.status(paths)["up"]
    try:
        if not was_up:
            daemons.up(paths)
        result = smoke.run(paths)
        print(json.dumps(result, indent=2))
        assert result["cloud_init_rc"] == 0 and "status: done" in result["cloud_init"]
        assert result["hostname"] == smoke.NAME
        assert (
            smoke.NAT_ADDRESS in result["interfaces"]
            or smoke.FALLBACK_ADDRESS in result["interfaces"]
        )
        assert "enp1s0" in result["interfaces"]  # renamed by cloud-init, matched by MAC
        assert result["apt_update_rc"] == 0  # the install scripts run it; no egress here
        assert result["debs_to_download"] == 0, result["debs_missing"]
        assert daemons.status(paths)["domains"] == []  # the throwaway VM is gone
    finally:
        if not was_up:
            daemons.down(paths)
    if not was_up:
        assert daemons.netns_id() is None
        assert not config.ANCHOR.is_symlink()
