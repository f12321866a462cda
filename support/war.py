"""nginx-ha's test application, built into a WAR from the sources in support/app/
(JSPs: Tomcat compiles them, so no JDK is needed to build or run it): a page naming
its version and the backend that answered (GET and POST), and /health answering the
status given. The lab, the benches and the tests deploy it with nginx-ha:app."""

from __future__ import annotations

import zipfile
from pathlib import Path

SOURCES = Path(__file__).resolve().parent / "app"
# A fixed time for every member: the same version builds the same bytes (SHA-256).
STAMP = (2026, 1, 1, 0, 0, 0)


def build_war(out: Path, version: str, *, health: int = 200, cold_start: float = 0) -> Path:
    """The test application as ``out`` (a .war), its manifest's Implementation-Version
    ``version``, its /health answering ``health``; its page's first request takes
    ``cold_start`` seconds more (a cold application)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest = (
        "Manifest-Version: 1.0\r\n"
        "Created-By: nginx-ha support/war.py\r\n"
        "Implementation-Title: nginx-ha-test-app\r\n"
        f"Implementation-Version: {version}\r\n\r\n"
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", STAMP), manifest)
        for src in sorted(p for p in SOURCES.rglob("*") if p.is_file()):
            text = (
                src.read_text()
                .replace("@VERSION@", version)
                .replace("@HEALTH@", str(health))
                .replace("@COLD_MS@", str(int(cold_start * 1000)))
            )
            info = zipfile.ZipInfo(src.relative_to(SOURCES).as_posix(), STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return out
