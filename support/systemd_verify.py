"""Run the real `systemd-analyze verify` on rendered unit files, without root and
without touching this machine's systemd.

The units are written into a scratch root (``--root``) next to a copy of this
machine's /usr/lib/systemd/system (the targets and units they name: network-online,
multi-user). systemd-analyze resolves every Exec*= binary inside that root, so each
one the units name gets an executable stub there: a system binary must exist on this
machine (Debian 12, the VMs' system) to get one, while a binary under ``built`` (the
keepalived builds the program makes on the node) is stubbed as it is. Problems come
back as systemd-analyze words them; a unit that passes has none, not even a warning
(an unknown key is only a warning, and a typo in a key must still fail).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from support import shell

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
EXEC = re.compile(r"^Exec\w+=[-@:+!]*(/\S+)", re.M)


def available() -> bool:
    return SYSTEMD_ANALYZE is not None and SYSTEM_UNITS.is_dir()


def executables(text: str) -> list[str]:
    """The absolute binaries a unit's Exec*= lines run."""
    return EXEC.findall(text)


def verify(units: Mapping[str, str], built: Iterable[str] = ()) -> list[str]:
    """Problems systemd-analyze finds in ``units`` (unit name -> text); [] if none."""
    assert SYSTEMD_ANALYZE is not None, "systemd-analyze is not installed"
    built = tuple(built)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nginx-ha-units-") as tmp:
        root = Path(tmp)
        shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
        etc = root / "etc/systemd/system"
        etc.mkdir(parents=True)
        for name, text in units.items():
            (etc / name).write_text(text)
            for binary in executables(text):
                if not binary.startswith(built) and not Path(binary).exists():
                    problems.append(f"{name}: {binary} does not exist on this machine")
                stub = root / binary.lstrip("/")
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text(shell.TEMPLATES.file("exec_stub.sh"))
                stub.chmod(0o755)
        result = subprocess.run(
            [SYSTEMD_ANALYZE, "verify", f"--root={root}", *units],
            capture_output=True,
            text=True,
            timeout=60,
        )
        out = (result.stdout + result.stderr).replace(str(root), "")
        problems += [line for line in out.splitlines() if line.strip()]
        if result.returncode != 0 and not problems:
            problems.append(f"systemd-analyze verify exited {result.returncode}")
    return problems
