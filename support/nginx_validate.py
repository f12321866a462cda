"""Run the real `nginx -t` on a rendered nginx.conf.

``as_node``: the file exactly as a VM gets it, laid over a copy of this machine's
/etc/nginx that is bind-mounted over /etc/nginx in a private mount namespace, so its
absolute paths (mime.types, /run/nginx.pid, /var/log/nginx) resolve as on the node
(LAB_NOTES, "Validating rendered files as the node sees them"). Needs root.

``staged``: the file rendered with a layout whose paths point into a scratch folder,
checked the way the program checks a staged copy (``nginx -t -c <copy>``), with
``-e``/``-p`` so not even the error log leaves that folder. Needs no root.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from nginx_ha.render.params import script_text
from nginx_ha.topology import Layout
from support import shell

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ETC_NGINX = Path("/etc/nginx")


def available() -> bool:
    return Path(NGINX).exists() and (ETC_NGINX / "mime.types").exists()


def can_unshare() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def as_node_script(etc: Path | str, conf: str) -> str:
    """support/templates/nginx_as_node.sh with its parameters: ``etc`` bound over
    /etc/nginx, then ``nginx -t -c conf``."""
    params = {"ETC_NGINX": str(etc), "NGINX": NGINX, "CONF": conf}
    return script_text(shell.TEMPLATES.file("nginx_as_node.sh"), params)


def as_node(
    text: str, scratch: Path, conf: str = "/etc/nginx/nginx.conf"
) -> subprocess.CompletedProcess:
    etc = scratch / "etc-nginx"
    shutil.copytree(ETC_NGINX, etc, symlinks=True)
    target = etc / Path(conf).relative_to(ETC_NGINX)
    target.write_text(text)
    script = as_node_script(etc, conf)
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def scratch_layout(scratch: Path, base: Layout | None = None) -> Layout:
    """A layout whose nginx paths all live under ``scratch``."""
    for d in ("log", "temp"):
        (scratch / d).mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(
        base or Layout(),
        nginx_conf=str(scratch / "nginx.conf"),
        nginx_pid=str(scratch / "nginx.pid"),
        nginx_log_dir=str(scratch / "log"),
        nginx_temp_dir=str(scratch / "temp"),
        nginx_mime_types=str(ETC_NGINX / "mime.types"),
        nginx_user=pwd.getpwuid(os.geteuid()).pw_name,
    )


def staged(text: str, scratch: Path) -> subprocess.CompletedProcess:
    conf = scratch / "staged-nginx.conf"
    conf.write_text(text)
    return subprocess.run(
        [
            NGINX,
            "-t",
            "-q",
            "-e",
            str(scratch / "log" / "error.log"),
            "-p",
            f"{scratch}/",
            "-c",
            str(conf),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
