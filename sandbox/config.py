"""The sandbox's names, paths, URI, daemon configs and image recipe. Pure: no processes.

Everything the sandbox makes lives under the checkout's ``.run/sandbox/`` (the *runtime
folder*). It is reached through a fixed anchor, ``/run/nginx-ha-sandbox``, a symlink to
that folder made by ``up`` and removed by ``down``: the libvirt URI and the kernel and
initrd paths in ``Pulumi.sandbox.yaml`` then do not depend on where the project is
checked out, and the socket path stays far below the 108-byte limit of a Unix socket
address however deep the checkout is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from nginx_ha.render.templates import Templates

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The sandbox's own scripts: the libvirt daemons' start, the lab VM's setup, what the
# end-to-end run asks a node.
TEMPLATES = Templates(Path(__file__).resolve().parent / "templates", "sandbox/templates/")

NETNS = "nginx-ha-sandbox"
ANCHOR = Path("/run/nginx-ha-sandbox")
POOL = "nginx-ha-sandbox"
BASE_VOLUME = "debian-12-base.qcow2"
SUITE = "bookworm"

# libvirtd in system mode keeps its state in these host folders; inside the sandbox's
# private mount namespace each is a bind mount of a folder of the runtime folder, so the
# daemons see only the sandbox's definitions and write nothing outside it.
SYSTEM_DIRS = {
    "/etc/libvirt": "etc",
    "/var/lib/libvirt": "lib",
    "/var/cache/libvirt": "cache",
    "/var/log/libvirt": "log",
    "/run/libvirt": "rundir",
}

# Sub-folders the libvirt-daemon packages ship and the daemons expect to exist.
PRIVATE_SUBDIRS = (
    "lib/dnsmasq",
    "lib/network",
    "lib/qemu",
    "lib/boot",
    "lib/images",
    "cache/qemu",
    "log/qemu",
    "etc/qemu/networks",
    "etc/storage",
)

# Packages the base image boots with (LAB_NOTES "Real virtual machines": minbase plus
# these boots under direct kernel boot, and cloud-init applies a v2 network-config).
BASE_PACKAGES = (
    "systemd-sysv",
    "udev",
    "dbus",
    "linux-image-amd64",
    "cloud-init",
    "openssh-server",
    "ifupdown",
    "isc-dhcp-client",
    "iproute2",
    "iputils-ping",
    "sudo",
    "netbase",
    # cloud-init's locale module fails without it (LAB_NOTES).
    "locales",
    "e2fsprogs",
    "qemu-guest-agent",
    "curl",
    "ca-certificates",
    "procps",
)

# Packages the remote steps install, downloaded (not installed) into the image's apt
# cache with the matching package lists, so `apt-get install` works with no network
# egress. Recommends included: the steps may install with them.
CACHED_PACKAGES = (
    # nginx (templates/scripts/install_nginx.sh may pick either flavour)
    "nginx",
    "nginx-light",
    # Tomcat
    "tomcat10",
    "default-jre-headless",
    # keepalived built from its source tarball (templates/scripts/install_keepalived.sh)
    "build-essential",
    "libssl-dev",
    "libnl-3-dev",
    "libnl-genl-3-dev",
    "pkg-config",
    # firewall.sh: iptables where present, else it installs nftables
    "iptables",
    "nftables",
    "curl",
)

# keepalived for the sandbox stack: Debian 12's own release, from Debian's source
# package (the upstream tarball as Debian ships it; SHA-256 from keepalived_2.2.7-1.dsc,
# which apt verifies against the archive's signed Release file).
KEEPALIVED_VERSION = "2.2.7"
KEEPALIVED_TARBALL = "keepalived_2.2.7.orig.tar.gz"
KEEPALIVED_SHA256 = "c61940d874154a560a54627ecf7ef47adebdf832164368d10bf242a4d9b7d49d"

IMAGE_RECIPE_VERSION = 2  # bump when the build steps change the image


@dataclass(frozen=True)
class Paths:
    """Where the sandbox keeps things. ``root`` is the real runtime folder; the
    ``anchored`` paths go through the fixed symlink and are what libvirt and the
    stack file use."""

    root: Path
    anchor: Path = ANCHOR

    @classmethod
    def for_checkout(cls, project_root: Path = PROJECT_ROOT) -> Paths:
        return cls(root=project_root / ".run" / "sandbox")

    # real locations (the sandbox's own bookkeeping)
    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def libvirtd_pid(self) -> Path:
        return self.root / "libvirtd.pid"

    @property
    def virtlogd_pid(self) -> Path:
        return self.root / "virtlogd.pid"

    def private(self, name: str) -> Path:
        """A private state folder (etc, lib, cache, log, rundir) bound over a system one."""
        return self.root / name

    # anchored locations (seen by libvirt, qemu and the stack)
    @property
    def socket(self) -> Path:
        return self.anchor / "libvirt-sock"

    @property
    def pool_dir(self) -> Path:
        return self.anchor / "pool"

    @property
    def base_image(self) -> Path:
        return self.anchor / "images" / BASE_VOLUME

    @property
    def kernel(self) -> Path:
        return self.anchor / "images" / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.anchor / "images" / "initrd.img"

    @property
    def keepalived_tarball(self) -> Path:
        return self.anchor / "images" / KEEPALIVED_TARBALL


def libvirt_uri(socket: Path) -> str:
    """The URI of the sandbox's libvirtd.

    ``qemu+unix:///system?socket=PATH`` is libvirt's documented form for a Unix socket
    at a non-default path (libvirt.org/uri.html, "socket" parameter), and
    terraform-provider-libvirt 0.8.x (behind pulumi-libvirt 0.5.4) dials exactly
    ``socket`` for the unix transport (libvirt/uri/unix.go) and sends the URI without
    its query as the connection name.
    """
    return f"qemu+unix:///system?socket={socket}"


KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=1"


def libvirtd_conf(paths: Paths) -> str:
    """libvirtd.conf: only a Unix socket, in the sandbox, root-only, no TCP/TLS.

    TCP and TLS stay off because libvirtd is started without ``--listen``.
    """
    return "\n".join(
        [
            "# generated by nginx-ha sandbox; the sandbox's private libvirtd",
            f'unix_sock_dir = "{paths.anchor}"',
            'unix_sock_group = "root"',
            'unix_sock_ro_perms = "0700"',
            'unix_sock_rw_perms = "0700"',
            'unix_sock_admin_perms = "0700"',
            'auth_unix_ro = "none"',
            'auth_unix_rw = "none"',
            # libvirt's own log; domain consoles go to /var/log/libvirt/qemu (private).
            # Warnings and errors, plus debug of the network driver and of the commands
            # libvirtd runs (dnsmasq, iptables, ip): what a network that Pulumi's
            # libvirt provider waits for did and when (docs/sandbox.md, "The network's
            # active wait").
            "log_level = 3",
            'log_filters = "1:network 1:util.command 3:remote 4:event 3:util.json 3:rpc"',
            f'log_outputs = "1:file:{paths.anchor}/log/libvirtd.log"',
            "",
        ]
    )


def virtlogd_conf(paths: Paths) -> str:
    return "\n".join(
        [
            "# generated by nginx-ha sandbox; the sandbox's private virtlogd",
            f'log_outputs = "3:file:{paths.anchor}/log/virtlogd.log"',
            "",
        ]
    )


def qemu_conf() -> str:
    """qemu.conf of the sandbox.

    QEMU runs as root: Debian's ``libvirt-qemu`` user comes with libvirt-daemon-system,
    which the sandbox does not install (its postinst wants to start services), and the
    images live in the checkout, which need not be searchable by other users. No
    security driver (no AppArmor profile generation outside the sandbox).
    """
    return "\n".join(
        [
            "# generated by nginx-ha sandbox; the sandbox's private qemu driver config",
            'user = "root"',
            'group = "root"',
            'security_driver = "none"',
            "dynamic_ownership = 0",
            "remember_owner = 0",
            "",
        ]
    )


def pool_xml(paths: Paths) -> str:
    return (
        f"<pool type='dir'>\n  <name>{POOL}</name>\n"
        f"  <target>\n    <path>{paths.pool_dir}</path>\n  </target>\n</pool>\n"
    )


def nat_network_xml(name: str, bridge: str, gateway: str, prefix: int) -> str:
    """A libvirt NAT network without DHCP (static guest addresses), as the stack makes."""
    return (
        f"<network>\n  <name>{name}</name>\n  <forward mode='nat'/>\n"
        f"  <bridge name='{bridge}' stp='off'/>\n"
        f"  <dns enable='no'/>\n"
        f"  <ip address='{gateway}' prefix='{prefix}'/>\n</network>\n"
    )


def debian_sources(texts: dict[str, str]) -> str:
    """Debian's own archive entries from the host's apt sources, as deb822.

    ``texts``: file name -> content of /etc/apt/sources.list and sources.list.d/*.
    Keeps entries whose suites are all ``bookworm*`` (the same mirror the machine uses:
    Debian's archive and its security archive) and drops third-party repositories.
    """
    stanzas: list[str] = []
    for name in sorted(texts):
        text = texts[name]
        if name.endswith(".sources"):
            for block in text.split("\n\n"):
                fields: dict[str, str] = {}
                for line in block.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    k, _, v = line.partition(":")
                    fields[k.strip()] = v.strip()
                suites = fields.get("Suites", "").split()
                if "deb" not in fields.get("Types", "").split():
                    continue
                if suites and all(s.startswith(SUITE) for s in suites) and fields.get("URIs"):
                    stanza = [
                        "Types: deb",
                        f"URIs: {fields['URIs']}",
                        f"Suites: {' '.join(suites)}",
                        f"Components: {fields.get('Components', 'main')}",
                    ]
                    if "Signed-By" in fields:
                        stanza.append(f"Signed-By: {fields['Signed-By']}")
                    stanzas.append("\n".join(stanza))
        else:
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) < 3 or parts[0] != "deb":
                    continue
                opts = ""
                if parts[1].startswith("["):
                    end = next(i for i, p in enumerate(parts) if p.endswith("]"))
                    opts_list = " ".join(parts[1 : end + 1]).strip("[]").split()
                    parts = [parts[0], *parts[end + 1 :]]
                    signed = [o.split("=", 1)[1] for o in opts_list if o.startswith("signed-by=")]
                    opts = f"\nSigned-By: {signed[0]}" if signed else ""
                uri, suite, comps = parts[1], parts[2], parts[3:] or ["main"]
                if suite.startswith(SUITE):
                    stanzas.append(
                        f"Types: deb\nURIs: {uri}\nSuites: {suite}\n"
                        f"Components: {' '.join(comps)}{opts}"
                    )
    if not stanzas:
        raise ValueError(
            f"no Debian {SUITE} entry in the machine's apt sources; add Debian's archive to "
            "/etc/apt/sources.list.d/debian.sources"
        )
    return "\n\n".join(stanzas) + "\n"


def image_recipe_hash(sources: str) -> str:
    """What decides the base image's content; the build is skipped when it is unchanged."""
    recipe = {
        "version": IMAGE_RECIPE_VERSION,
        "suite": SUITE,
        "base": sorted(BASE_PACKAGES),
        "cached": sorted(CACHED_PACKAGES),
        "sources": sources,
        "cmdline": KERNEL_CMDLINE,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


FSTAB = "# generated by nginx-ha sandbox\n/dev/vda / ext4 rw,discard,errors=remount-ro 0 1\n"

CLOUD_CFG = (
    "# generated by nginx-ha sandbox: seeds come only from the cidata disk\n"
    "datasource_list: [NoCloud, None]\n"
)
