"""Whole-string grammars of the string settings (one home per pattern).

Every pattern is matched against the whole value (``re.fullmatch``; ``$`` would also
match before a final newline), and no value may hold a control character anywhere
(a newline in a setting can add lines of its own to a rendered file, a script or
cloud-init). ``check_*`` helpers raise ``ValueError`` with what is wrong and an
example of what is right; the models wire them to their fields.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

# C0 controls, DEL and the C1 range: nothing a config value needs.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# PEM text (certificates, keys) is lines: tab, newline and carriage return are its
# whitespace; any other control character is refused as in every other setting.
PEM_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# A node, host or network name: a lowercase hostname label (it becomes a hostname
# and part of libvirt names), at most 32 characters.
NAME_RE = re.compile(r"[a-z]([a-z0-9-]{0,30}[a-z0-9])?")
MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
# Linux interface and bridge names: at most IFNAMSIZ - 1 = 15 bytes, no '/', ':' or
# whitespace (net/core/dev.c dev_valid_name). Kept to a portable set that starts with a
# letter, digit or "_" (so neither "." nor ".." nor an option-like "-x").
IFNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
# A non-root Linux account (useradd's default NAME_REGEX, 32 characters).
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
VERSION_RE = re.compile(r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})")
# A libvirt storage pool or volume name: one file name (no '/'), safe characters.
VOLUME_RE = re.compile(r"(?!\.{1,2}\Z)[A-Za-z0-9_.+-]{1,128}")
# An absolute path of safe characters, no empty, '.' or '..' component.
PATH_RE = re.compile(r"(/(?!\.{1,2}(/|\Z))[A-Za-z0-9_.+@-]+)+")
MAX_PATH = 4096
# An nginx location path: absolute, safe characters (no spaces, quotes, braces, ';').
URL_PATH_RE = re.compile(r"/([A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~-]+)*/?)?")
# A DNS host name: labels of letters, digits and '-', dot-separated.
HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
# The local part of an e-mail address: letters, digits and ._%+- (keepalived.conf
# reads it as one word; '#' and '!' would start a comment there).
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@(?P<domain>[A-Za-z0-9.-]{1,253})")
# A URL's path and query: RFC 3986 characters, without quotes, spaces or backslashes.
URL_REST_RE = re.compile(r"[A-Za-z0-9._~!$&()*+,;=:@%/?-]*")
# Linux kernel command line: printable ASCII words separated by single spaces, at most
# COMMAND_LINE_SIZE (2048 on x86) - 1 bytes.
CMDLINE_RE = re.compile(r"(?=.{1,2047}\Z)[!-~]+( [!-~]+)*")

# libvirt's QEMU driver URIs (https://libvirt.org/uri.html): driver[+transport]://...
LIBVIRT_TRANSPORTS = ("", "unix", "ssh", "libssh", "libssh2", "tls", "tcp", "ext")
LIBVIRT_REMOTE_TRANSPORTS = ("ssh", "libssh", "libssh2", "tls", "tcp", "ext")
LIBVIRT_PATHS = ("/system", "/session")
LIBVIRT_QUERY_RE = re.compile(r"[A-Za-z0-9_]+=[A-Za-z0-9_./:@+,~-]*")
URI_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")


def no_controls(value: str) -> str:
    if CONTROL_RE.search(value):
        bad = CONTROL_RE.search(value).group()  # type: ignore[union-attr]
        raise ValueError(
            f"contains the control character {bad!r}; a setting is one line of "
            "printable text (a newline would add lines of its own to a rendered file)"
        )
    return value


def full(pattern: re.Pattern[str], value: str) -> bool:
    """The whole value matches (no control characters anywhere)."""
    return not CONTROL_RE.search(value) and pattern.fullmatch(value) is not None


def check_name(value: str) -> str:
    if not full(NAME_RE, value):
        raise ValueError(
            "must be a lowercase hostname label (a-z, 0-9, '-', starting with a "
            "letter, not ending with '-', at most 32 characters)"
        )
    return value


def check_ifname(value: str) -> str:
    if not full(IFNAME_RE, value):
        raise ValueError(
            "must be a Linux interface name: 1 to 15 characters of letters, digits, "
            "'_', '.' and '-' (the kernel refuses longer names), e.g. enp1s0 or br0"
        )
    return value


def check_user(value: str) -> str:
    if not full(USER_RE, value) or value == "root":
        raise ValueError(
            "must be a non-root Linux user name (lowercase letters, digits, '_', '-', "
            "starting with a letter or '_', at most 32 characters)"
        )
    return value


def check_volume(value: str) -> str:
    if not full(VOLUME_RE, value):
        raise ValueError(
            "must be a libvirt volume or pool name: 1 to 128 of letters, digits, "
            "'_', '.', '+', '-' (no '/')"
        )
    return value


def check_path(value: str) -> str:
    if len(value) > MAX_PATH or not full(PATH_RE, value):
        raise ValueError(
            "must be an absolute path of letters, digits and _.+@- (no spaces, no "
            "'..', no empty component), e.g. /srv/images/keepalived-2.4.3.tar.gz"
        )
    return value


def check_sha256(value: str) -> str:
    """A SHA-256 as sha256sum prints it (64 hex digits), lower-cased."""
    if not full(SHA256_RE, value.lower()):
        raise ValueError("must be 64 hexadecimal characters (what sha256sum prints for the file)")
    return value.lower()


def check_url_path(value: str) -> str:
    if len(value) > 256 or not full(URL_PATH_RE, value):
        raise ValueError(
            "must be an absolute URL path of letters, digits and _.~- (no spaces, "
            "quotes, ';' or braces, no empty segment), e.g. /nginx-ha/health"
        )
    return value


def check_hostname(value: str) -> str:
    if not full(HOSTNAME_RE, value):
        raise ValueError("must be a DNS host name (letters, digits, '-', dot-separated)")
    return value


def _host_ok(host: str) -> bool:
    """A DNS name, an IPv4 address, or an IPv6 address in brackets."""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return full(HOSTNAME_RE, host)


def check_server_name(value: str) -> str:
    """A name a TLS certificate covers: a DNS name with a dot, or a wildcard in its
    leftmost label only (``*.example.com``); no address (clients ask for names)."""
    host = value[2:] if value.startswith("*.") else value
    if not full(HOSTNAME_RE, host) or "." not in host or re.fullmatch(r"[0-9.]+", host):
        raise ValueError(
            f"{value!r} is not a server name: a DNS name such as www.example.com (a "
            "wildcard only as the whole leftmost label: *.example.com)"
        )
    return value.lower()


def check_email(value: str) -> str:
    m = EMAIL_RE.fullmatch(value) if not CONTROL_RE.search(value) else None
    if m is None or not full(HOSTNAME_RE, m.group("domain")) or "." not in m.group("domain"):
        raise ValueError(
            f"{value!r} is not an e-mail address like ops@example.com (letters, digits "
            "and ._%+- before the '@', a domain name after it)"
        )
    return value


def check_smtp_server(value: str) -> str:
    """host, host:port, [v6] or [v6]:port."""
    host, port = value, None
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:]+):([0-9]{1,5})", value)
    if m:
        host, port = m.group(1), int(m.group(2))
    if (
        CONTROL_RE.search(value)
        or not _host_ok(host)
        or (port is not None and not 1 <= port <= 65535)
    ):
        raise ValueError(
            "must be an SMTP server as host or host:port (a DNS name or an IPv4 "
            "address, port 1-65535), e.g. smtp.example.com:25"
        )
    return value


def check_url(value: str, schemes: tuple[str, ...] = ("https", "http")) -> str:
    """An absolute http(s) URL with a host, of safe characters only."""
    hint = f"must be a URL like https://example.com/path ({' or '.join(schemes)}, a host, no spaces or quotes)"
    if len(value) > 2048 or CONTROL_RE.search(value):
        raise ValueError(hint)
    m = re.fullmatch(
        r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<netloc>[^/?#]+)(?P<rest>[/?][^#]*)?", value
    )
    if m is None or m.group("scheme") not in schemes:
        raise ValueError(hint)
    netloc = m.group("netloc")
    if "@" in netloc:
        raise ValueError(hint + "; credentials in a URL are not accepted")
    hm = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:]+)(:(?P<port>[0-9]{1,5}))?", netloc)
    if hm is None or not _host_ok(hm.group(1)):
        raise ValueError(hint)
    if hm.group("port") is not None and not 1 <= int(hm.group("port")) <= 65535:
        raise ValueError(hint)
    if m.group("rest") and not URL_REST_RE.fullmatch(m.group("rest")):
        raise ValueError(hint)
    return value


def check_libvirt_uri(value: str) -> str:
    """driver[+transport]://[user@][host][:port]/system|/session[?key=value&...]."""
    hint = (
        "must be a libvirt URI: qemu:///system (this machine), "
        "qemu+ssh://user@host/system (another host) or "
        "qemu+unix:///system?socket=/path/to/libvirt-sock"
    )
    if len(value) > 1024 or CONTROL_RE.search(value) or "#" in value:
        raise ValueError(hint)
    m = re.fullmatch(r"(?P<driver>[a-z]+)(\+(?P<transport>[a-z0-9]+))?://(?P<rest>.*)", value)
    if m is None or m.group("driver") != "qemu":
        raise ValueError(f"{hint} (the driver is qemu: the VMs are QEMU/KVM domains)")
    transport = m.group("transport") or ""
    if transport not in LIBVIRT_TRANSPORTS:
        raise ValueError(f"{hint}; transport '{transport}' is not one of libvirt's")
    parts = urlsplit(value)
    try:
        host, port, user = parts.hostname, parts.port, parts.username
    except ValueError:
        raise ValueError(hint) from None
    if parts.password is not None:
        raise ValueError(f"{hint}; no password in the URI")
    if user is not None and not URI_USER_RE.fullmatch(user):
        raise ValueError(f"{hint}; '{user}' is not a user name")
    netloc_host = parts.netloc.rpartition("@")[2]
    if port is not None:
        netloc_host = netloc_host.rsplit(":", 1)[0]
    if netloc_host and not _host_ok(netloc_host):
        raise ValueError(f"{hint}; '{netloc_host}' is not a host name or address")
    if transport in LIBVIRT_REMOTE_TRANSPORTS and not host:
        raise ValueError(f"{hint}; a {transport} transport needs a host")
    if transport == "unix" and host:
        raise ValueError(f"{hint}; the unix transport is local (no host)")
    if parts.path not in LIBVIRT_PATHS:
        raise ValueError(f"{hint}; the path is /system or /session, not '{parts.path or ''}'")
    if parts.query:
        for item in parts.query.split("&"):
            if not LIBVIRT_QUERY_RE.fullmatch(item):
                raise ValueError(f"{hint}; '{item}' is not a key=value parameter")
        socket = dict(parse_qsl(parts.query)).get("socket")
        if socket is not None and not full(PATH_RE, socket):
            raise ValueError(f"{hint}; socket= must be an absolute path")
    return value


def check_cmdline(value: str) -> str:
    if not full(CMDLINE_RE, value):
        raise ValueError(
            "must be a kernel command line: printable words separated by single "
            "spaces, at most 2047 characters"
        )
    return value
