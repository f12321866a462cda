"""stage.sh's unit validator where systemd runs, as on the VMs: `systemd-analyze verify`
on the staged copy, without checking the man pages that Documentation= names.

The first real `pulumi up` of the rollout (the sandbox's end-to-end run) stopped at
`nginx-master-keepalived-unit-stage`: "keepalived.service: Command 'man keepalived(8)'
failed with code 1". keepalived built from source installs its pages under its own
prefix, outside man's path, and `systemd-analyze verify` runs `man` for every
Documentation= page unless told `--man=no`. A unit systemd cannot load is still refused.

Runs stage.sh in a holder (network and private mount namespace) whose /run is a scratch
folder with systemd/system in it, so the script takes its "systemd runs" path without
touching the machine's /run. Needs root and systemd-analyze.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import tempfile
from pathlib import Path

import pytest

from nginx_ha.config import parse_settings
from nginx_ha.render import script
from nginx_ha.render.artefacts import Artefact, stage_params
from nginx_ha.topology import build_topology, vm_layout
from support import netns, stacks

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and mounts: needs root"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("ip", "unshare", "nsenter", "systemd-analyze")),
        reason="needs iproute2, util-linux (unshare, nsenter) and systemd-analyze",
    ),
]

UNIT = """[Unit]
Description=nginx-ha stage test
Documentation=man:nginx-ha-no-such-page(8) man:nginx-ha-no-such-page.conf(5)
After=network-online.target

[Service]
Type=simple
ExecStart=/bin/sleep 1

[Install]
WantedBy=multi-user.target
"""


@pytest.fixture
def node():
    scratch = Path(tempfile.mkdtemp(prefix="nginx-ha-stage-unit-", dir="/var/tmp"))
    (scratch / "run" / "systemd" / "system").mkdir(parents=True)
    holder = netns.Holder(
        "nhunit-", mounts=[["mount", "--bind", str(scratch / "run"), "/run"]], lifetime=300
    )
    try:
        yield holder, scratch
    finally:
        holder.close()
        shutil.rmtree(scratch, ignore_errors=True)


def stage(holder: netns.Holder, scratch: Path, text: str):
    topo = build_topology(parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS))
    layout = dataclasses.replace(
        vm_layout(topo), upload_dir=str(scratch / "upload"), release_dir=str(scratch / "releases")
    )
    art = Artefact(
        "test-unit",
        "keepalived",
        "unit",
        "/etc/systemd/system/nginx-ha-test.service",
        text,
        "0644",
        "unit",
        "none",
    )
    uploaded = Path(art.uploaded(layout))
    uploaded.parent.mkdir(parents=True)
    uploaded.write_text(text)
    header = "".join(f"{k}={shlex.quote(v)}\n" for k, v in stage_params(art, layout).items())
    done = holder.run("bash", "-c", "set -euo pipefail\n" + header + script("stage.sh"))
    return done, Path(art.staged(layout))


def test_a_unit_whose_man_pages_the_node_lacks_is_staged(node):
    holder, scratch = node
    assert holder.path("/run/systemd/system").is_dir()  # stage.sh: "systemd runs"
    done, staged = stage(holder, scratch, UNIT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "unit: ok" in done.stdout
    assert staged.read_text() == UNIT


def test_a_unit_systemd_cannot_load_is_still_refused(node):
    holder, scratch = node
    done, staged = stage(holder, scratch, UNIT.replace("/bin/sleep 1", "sleep-relative 1"))
    assert done.returncode != 0
    assert "failed validation (unit): not staged" in done.stderr
    assert not staged.exists()
