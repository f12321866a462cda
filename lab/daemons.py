"""What the lab's nodes run: which keepalived (the project's build, else Debian's)
and what that build accepts; nginx; a Tomcat per backend with its own CATALINA_BASE."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from lab.errors import LabError

PROJECT_KEEPALIVED = Path("/usr/local/keepalived/sbin/keepalived")
DISTRO_KEEPALIVED = Path("/usr/sbin/keepalived")
NGINX_BIN = "/usr/sbin/nginx"
CATALINA_HOME = Path("/usr/share/tomcat10")
TOMCAT_CONF_SOURCES = (Path("/etc/tomcat10"), CATALINA_HOME / "etc")
# Fast JVM start for a lab (C1 only, serial GC, small heap): ~1.5 s to the first 200.
TOMCAT_JAVA_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m -Djava.awt.headless=true"


def keepalived_options(binary: str) -> set[str]:
    """Short options this keepalived build accepts (a VRRP-only build has no -P/-c)."""
    res = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return set(re.findall(r"^\s+(-\w),", res.stdout + res.stderr, re.M))


def keepalived_has_ipvs(binary: str) -> bool:
    """The build has IPVS (LVS): `--version` lists LVS among its config options."""
    try:
        res = subprocess.run([binary, "--version"], capture_output=True, text=True)
    except OSError:
        return False
    m = re.search(r"^Config options:(.*)$", res.stdout + res.stderr, re.M)
    return bool(m and "LVS" in m.group(1).split())


def keepalived_binary() -> tuple[str, tuple[int, int, int]]:
    """The keepalived to run: the project-built one if installed, else Debian's."""
    for path in (PROJECT_KEEPALIVED, DISTRO_KEEPALIVED):
        if path.exists():
            res = subprocess.run([str(path), "--version"], capture_output=True, text=True)
            m = re.search(r"Keepalived v(\d+)\.(\d+)\.(\d+)", res.stdout + res.stderr)
            if m:
                a, b, c = (int(x) for x in m.groups())
                return str(path), (a, b, c)
    raise LabError(
        "no keepalived found: run the project's install script (templates/scripts/"
        "install_keepalived.sh) or `apt-get install keepalived`"
    )


def tomcat_base(base: Path, port: int) -> None:
    """A CATALINA_BASE at ``base``: the distribution's configuration with the HTTP
    connector on ``port``, and its logs, temp and work folders."""
    src = next((p for p in TOMCAT_CONF_SOURCES if (p / "server.xml").exists()), None)
    if src is None:
        raise LabError("no Tomcat configuration found (apt-get install tomcat10)")
    conf = base / "conf"
    shutil.copytree(src, conf, dirs_exist_ok=True, symlinks=False)
    server = (conf / "server.xml").read_text()
    server, n = re.subn(
        r'(<Connector port=")8080(" protocol="HTTP/1.1")', rf"\g<1>{port}\g<2>", server
    )
    if n != 1:
        raise LabError(f"{conf / 'server.xml'}: no HTTP/1.1 connector on 8080 to re-port")
    (conf / "server.xml").write_text(server)
    # Lab start-up: no TLD/annotation scan of Tomcat's own jars (a static ROOT page
    # needs none); the later key wins in a properties file.
    with open(conf / "catalina.properties", "a") as f:
        f.write(
            "\n# nginx-ha lab: fast start\ntomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar\n"
        )
    for sub in ("logs", "temp", "work"):
        (base / sub).mkdir(parents=True, exist_ok=True)


def tomcat_env(base: Path) -> dict[str, str]:
    """The environment ``catalina.sh run`` gets for the CATALINA_BASE at ``base``."""
    java = Path(shutil.which("java") or "/usr/bin/java").resolve()
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "JAVA_HOME": str(java.parent.parent),
        "CATALINA_HOME": str(CATALINA_HOME),
        "CATALINA_BASE": str(base),
        "CATALINA_TMPDIR": str(base / "temp"),
        "JAVA_OPTS": TOMCAT_JAVA_OPTS,
    }
