"""The user's web application on the backends (nginx-ha:app): its settings, and what
a WAR file on the operator's machine is (its SHA-256, whether it is a web application,
the version its manifest names).

A WAR is uploaded from the operator's machine (``war``) or fetched by each backend
(``url``, pinned by ``sha256``); either way each backend verifies the SHA-256 before
it unpacks it, and the release is named by it (render/app.py). ``context`` is where
Tomcat serves it (``/``: the ROOT application), ``healthPath`` what the rollout's gates
ask, under the context.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

import nginx_ha.config.grammar as grammar
from nginx_ha.config.types import Int, SettingsModel, Sha256, Url, text_value

# A URL path segment Tomcat and nginx take as it is: no '.' or '..' segments (nginx
# resolves them, so no client could reach the path as written), no empty segment, no
# characters that need escaping.
SEGMENT_RE = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9_.~-]*")
MAX_SEGMENTS = 16
# A JVM option the backends' Tomcat is started with: one word, no shell characters.
JAVA_OPT_RE = re.compile(r"-[A-Za-z0-9][A-Za-z0-9:+=._/,%-]*")
MAX_JAVA_OPTS = 32
# A WAR is read whole to compute its SHA-256 and look inside: bounded.
MAX_WAR_BYTES = 512 * 1024 * 1024
# app.gateTimeout's default: a backend's gate timeout (topology/kinds.py).
DEFAULT_GATE_TIMEOUT = 180
WAR_HINT = "build it with your build tool (`mvn package`, `gradle war`, `jar cf app.war -C web .`)"


def _segments(value: str, what: str, example: str) -> list[str]:
    if not value.startswith("/") or len(value) > 256:
        raise ValueError(f"must be an absolute URL path starting with '/', e.g. {example}")
    parts = value[1:].split("/")
    if parts == [""]:
        return []
    if len(parts) > MAX_SEGMENTS or not all(grammar.full(SEGMENT_RE, p) for p in parts):
        raise ValueError(
            f"must be a {what} of segments of letters, digits and _.~- (no '.' or '..' "
            f"segment, no '//', no trailing '/', no spaces or quotes), e.g. {example}"
        )
    return parts


def check_context(value: str) -> str:
    _segments(value, "context path", "/ or /shop")
    return value


def check_health_path(value: str) -> str:
    if _segments(value, "URL path", "/health") == [] and value != "/":
        raise ValueError("must be an absolute URL path, e.g. /health")
    return value


def check_java_opts(value: str) -> str:
    words = value.split()
    if (
        not words
        or len(words) > MAX_JAVA_OPTS
        or not all(grammar.full(JAVA_OPT_RE, w) for w in words)
    ):
        raise ValueError(
            "must be JVM options separated by spaces, each starting with '-' and made of "
            "letters, digits and :+=._/,%- (no quotes, no shell characters), e.g. "
            "-Xmx512m -XX:+UseG1GC"
        )
    return " ".join(words)


def check_war_path(value: str) -> str:
    if not value or len(value) > 4096 or grammar.CONTROL_RE.search(value):
        raise ValueError(
            "must be the path of a WAR file on this machine (absolute, or relative to "
            "the project folder), e.g. build/shop.war"
        )
    return value


ContextPath = Annotated[str, BeforeValidator(text_value), AfterValidator(check_context)]
HealthPath = Annotated[str, BeforeValidator(text_value), AfterValidator(check_health_path)]
JavaOpts = Annotated[str, BeforeValidator(text_value), AfterValidator(check_java_opts)]
WarPath = Annotated[str, BeforeValidator(text_value), AfterValidator(check_war_path)]


class App(SettingsModel):
    """nginx-ha:app: the WAR every backend serves, instead of the node page."""

    war: WarPath | None = None  # a file on the operator's machine, uploaded
    url: Url | None = None  # or: fetched by each backend (sha256 required)
    sha256: Sha256 | None = None  # required with url; computed (or checked) for war
    context: ContextPath = "/"
    health_path: HealthPath = Field(default="/", alias="healthPath")
    java_opts: JavaOpts | None = Field(default=None, alias="javaOpts")
    # Seconds a backend's new release may take to answer 200 at its health path before
    # the rollout gives up and restores the previous one (a cold JVM under emulation
    # takes minutes).
    gate_timeout: Int = Field(default=DEFAULT_GATE_TIMEOUT, ge=5, le=3600, alias="gateTimeout")
    # Paths under the context each backend asks on itself once its health answers, before
    # it takes requests again: the first request of a cold release (a JSP compiled, a
    # cache filled) is paid there, not by a client. Each must answer below 500.
    warmup_paths: list[HealthPath] = Field(
        default_factory=lambda: ["/"], max_length=16, alias="warmupPaths"
    )


def context_name(context: str) -> str:
    """Tomcat's name for a context path: ROOT for /, shop for /shop, a#b for /a/b
    (the name of its descriptor, conf/Catalina/localhost/<name>.xml)."""
    return "ROOT" if context == "/" else context[1:].replace("/", "#")


def health_url_path(context: str, health_path: str) -> str:
    """What the gates ask on a backend: the health path under the context."""
    if context == "/":
        return health_path
    return context + ("" if health_path == "/" else health_path)


@dataclass(frozen=True)
class WarFacts:
    sha256: str
    version: str | None  # Implementation-Version (or Specification-Version) of its manifest


@lru_cache(maxsize=8)
def _facts(path: str, mtime_ns: int, size: int) -> WarFacts:
    del mtime_ns, size  # the cache key: a changed file is read again
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            manifest = z.read("META-INF/MANIFEST.MF") if "META-INF/MANIFEST.MF" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError) as e:
        raise ValueError(f"is not a WAR: not a zip archive ({e}); {WAR_HINT}") from None
    if not any(n.startswith("WEB-INF/") for n in names):
        raise ValueError(
            f"is not a WAR: the archive has no WEB-INF/ folder (a web application has "
            f"WEB-INF/web.xml or WEB-INF/classes); {WAR_HINT}"
        )
    return WarFacts(digest.hexdigest(), manifest_version(manifest))


def manifest_version(manifest: bytes) -> str | None:
    """The version a JAR manifest names (Implementation-Version, else
    Specification-Version), kept only when it is a plain version word."""
    found: dict[str, str] = {}
    for line in manifest.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("Implementation-Version", "Specification-Version"):
            found.setdefault(key.strip(), value.strip())
    version = found.get("Implementation-Version") or found.get("Specification-Version")
    if version and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}", version):
        return version
    return None


def war_facts(path: str | Path) -> WarFacts:
    """The WAR at ``path``: its SHA-256 and version; ValueError saying what is wrong
    (missing, not a regular file, unreadable, too large, not a zip, no WEB-INF/)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ValueError(
            f"{path} does not exist on this machine (the program uploads it)"
        ) from None
    except OSError as e:
        raise ValueError(f"{path} cannot be read ({e.strerror})") from None
    if not p.is_file():
        raise ValueError(f"{path} is not a regular file")
    if st.st_size > MAX_WAR_BYTES:
        raise ValueError(f"{path} is {st.st_size} bytes, over the {MAX_WAR_BYTES} bytes accepted")
    try:
        return _facts(str(p.resolve()), st.st_mtime_ns, st.st_size)
    except PermissionError as e:
        raise ValueError(f"{path} cannot be read ({e.strerror})") from None
    except ValueError as e:
        raise ValueError(f"{path} {e}") from None
