"""wait_ready.sh, run for real with a stand-in ``cloud-init`` on PATH: it waits for
cloud-init, then makes the pinned public host key readable by all. cloud-init 22.4
(Debian 12) writes a given public host key 0600 (canonical/cloud-init#1971), and the
end-to-end run's `ssh-keygen -lf` as the SSH user failed on it ("Permission denied").
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from nginx_ha.render.params import script_text
from nginx_ha.render.templates import script


def run(tmp_path: Path, cloud_init_rc: int, key: Path) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "cloud-init"
    stub.write_text(
        f'#!/bin/bash\n[ "$1 $2" = "status --wait" ] && exit {cloud_init_rc}\necho "long status"\n'
    )
    stub.chmod(0o755)
    text = script_text(script("wait_ready.sh"), {"HOST_KEY_PUB": str(key)})
    return subprocess.run(
        ["/bin/bash", "-c", text],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("rc", [0, 2])  # 2: done with recoverable errors (cloud-init 23.4)
def test_the_public_host_key_ends_up_readable_by_all(tmp_path, rc):
    key = tmp_path / "ssh_host_ed25519_key.pub"
    key.write_text("ssh-ed25519 AAAA nginx-ha-dev-nginx-master\n")
    key.chmod(0o600)  # as cloud-init 22.4 writes it
    r = run(tmp_path, rc, key)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ready: ")
    assert stat.S_IMODE(key.stat().st_mode) == 0o644


def test_a_missing_public_key_fails_naming_it(tmp_path):
    key = tmp_path / "ssh_host_ed25519_key.pub"
    r = run(tmp_path, 0, key)
    assert r.returncode == 1
    assert f"has no {key}: cloud-init did not install the pinned host key" in r.stderr


def test_a_failed_cloud_init_fails_before_touching_the_key(tmp_path):
    key = tmp_path / "ssh_host_ed25519_key.pub"
    key.write_text("ssh-ed25519 AAAA x\n")
    key.chmod(0o600)
    r = run(tmp_path, 1, key)
    assert r.returncode == 1 and "cloud-init failed on" in r.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
