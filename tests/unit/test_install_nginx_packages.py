"""install_nginx.sh installs nftables where neither `nft` nor `iptables` exists: the VIP
hold (vip_hold.sh, run at the node's activation) needs one of them. A minimal image
(the sandbox's) has neither, and the first real `up` of the hold stopped at
`nginx-backup-activate` with "neither nft nor iptables is installed".

Run with stand-ins on PATH (nothing is installed): a PATH holding only them and the few
tools the script uses, so `command -v nft` and `command -v iptables` find nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nginx_ha.render.params import script_text
from nginx_ha.render.templates import script

TOOLS = ("cat", "sleep")


def run(tmp_path: Path, extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    stubs = {
        "apt-get": f'#!/bin/bash\necho "$*" >> {log}\n',
        "nginx": "#!/bin/bash\nexit 0\n",
        "curl": "#!/bin/bash\nexit 0\n",
        "systemctl": "#!/bin/bash\nexit 0\n",
        **{name: "#!/bin/bash\nexit 0\n" for name in extra},
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    pid_file = tmp_path / "nginx.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    text = script_text(
        script("install_nginx.sh"), {"ACTION": "install", "NGINX_PID": str(pid_file)}
    )
    r = subprocess.run(
        ["/bin/bash", "-c", text],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return r, log.read_text() if log.exists() else ""


def test_nftables_is_installed_where_neither_nft_nor_iptables_exists(tmp_path):
    r, apt = run(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "install -y -q nftables" in apt
    assert "installed nftables" in r.stdout


@pytest.mark.parametrize("present", ["nft", "iptables"])
def test_nothing_more_is_installed_where_one_of_them_exists(tmp_path, present):
    r, apt = run(tmp_path, (present,))
    assert r.returncode == 0, r.stderr
    assert "nftables" not in apt
    assert "nginx already installed" in r.stdout
