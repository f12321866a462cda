"""keepalived's upstream tarball without internet: Debian ships it as the source
package's .orig.tar.gz, fetched from the apt mirror with `apt-get source`.

The .dsc lists the tarball's SHA-256 (and apt checks the .dsc against the signed
Sources index), so the checksum passed to the install script comes from Debian, not
from hashing whatever was downloaded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from nginx_ha.render.params import script_text
from nginx_ha.render.templates import TEMPLATES

CACHE = Path("/var/tmp/nginx-ha-src")
# A dedicated file, so the system's own sources stay as they are.
DEB_SRC = Path("/etc/apt/sources.list.d/nginx-ha-deb-src.sources")
DEB_SRC_TEXT = """\
# Added by nginx-ha's tests and benchmarks (support/debian_keepalived.py): Debian source
# packages, for keepalived's upstream tarball without internet access.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


class Unavailable(Exception):
    """The tarball cannot be had here (no apt, no source entries, no mirror)."""


def _has_deb_src() -> bool:
    out = subprocess.run(
        ["apt-get", "indextargets", "--format", "$(CREATED_BY)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "Sources" in out.stdout


def orig_tarball() -> tuple[Path, str, str]:
    """(path, sha256 from the .dsc, upstream version) of keepalived's .orig.tar.gz."""
    if shutil.which("apt-get") is None:
        raise Unavailable("no apt-get")
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob("keepalived_*.dsc"))
    if not found:
        if not _has_deb_src():
            DEB_SRC.write_text(DEB_SRC_TEXT)
            subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=600)
        # The Debian tarball and patches are not needed; apt-get may fail on them
        # after the .dsc and .orig.tar.gz arrived, hence no check=True.
        subprocess.run(
            ["apt-get", "source", "--download-only", "-qq", "keepalived"],
            cwd=CACHE,
            capture_output=True,
            check=False,
            timeout=600,
        )
        found = sorted(CACHE.glob("keepalived_*.dsc"))
    if not found:
        raise Unavailable("apt-get source keepalived gave no .dsc (deb-src unreachable?)")
    dsc = found[-1].read_text()
    m = re.search(r"^ ([0-9a-f]{64}) \d+ (keepalived_([0-9.]+)\.orig\.tar\.gz)$", dsc, re.M)
    if m is None:
        raise Unavailable(f"{found[-1]} lists no orig tarball with a SHA-256")
    sha, name, version = m.groups()
    path = CACHE / name
    if not path.exists():
        raise Unavailable(f"{path} was not downloaded")
    return path, sha, version


INSTALL_SCRIPT = TEMPLATES / "scripts/install_keepalived.sh"


def run_install_script(params: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """install_keepalived.sh as the program runs it: parameters set at the top of the
    command, then the script."""
    return subprocess.run(
        ["bash", "-c", script_text(INSTALL_SCRIPT.read_text(), params)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
