"""The sandbox libvirt: its pure parts, its stack file, and a real up/status/down.

The real run needs root, the sandbox's Debian packages and the libvirt-qemu user
(scripts/sandbox-prereqs.sh), skips with the reason where they are missing, and fails
instead under CI=true; it starts the daemons without building the image and
checks that `down` leaves nothing: no namespace, no process, no anchor, no mount point.
Booting a VM takes minutes: tests/e2e/test_sandbox_boot.py (NGINX_HA_E2E=1).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from nginx_ha.config import parse_settings
from nginx_ha.config.collisions import host_key
from sandbox import config, daemons
from support import netns, stacks

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------- URI


def test_uri_names_the_socket_and_system_instance():
    paths = config.Paths(root=Path("/somewhere/deep/checkout/.run/sandbox"))
    uri = urlsplit(config.libvirt_uri(paths.socket))
    assert uri.scheme == "qemu+unix"
    assert uri.netloc == ""
    assert uri.path == "/system"
    assert parse_qs(uri.query) == {"socket": ["/run/nginx-ha-sandbox/libvirt-sock"]}


def test_socket_path_does_not_depend_on_the_checkout_and_fits_sun_path():
    deep = config.Paths(root=Path("/x" * 80) / ".run/sandbox")
    shallow = config.Paths.for_checkout()
    assert deep.socket == shallow.socket
    assert len(str(deep.socket).encode()) < 108  # sockaddr_un.sun_path


def test_sandbox_is_its_own_libvirt_host_for_collision_checks():
    sandbox = config.libvirt_uri(config.Paths.for_checkout().socket)
    assert host_key(sandbox) != host_key("qemu:///system")
    assert host_key(sandbox) == host_key("qemu:///system?socket=/run/nginx-ha-sandbox/libvirt-sock")


# --------------------------------------------------------------------------- configs


def _conf(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip().strip('"')
    return out


def test_libvirtd_conf_socket_in_the_sandbox_root_only():
    paths = config.Paths(root=Path("/co/.run/sandbox"))
    conf = _conf(config.libvirtd_conf(paths))
    assert conf["unix_sock_dir"] == "/run/nginx-ha-sandbox"
    assert conf["unix_sock_rw_perms"] == conf["unix_sock_ro_perms"] == "0700"
    assert conf["unix_sock_group"] == "root"
    assert not any(k.startswith(("listen_", "tcp_", "tls_")) for k in conf)
    assert conf["log_outputs"].endswith(":file:/run/nginx-ha-sandbox/log/libvirtd.log")
    # Debug only for the network driver and the commands libvirtd runs; warnings else.
    assert conf["log_level"] == "3"
    assert {"1:network", "1:util.command"} <= set(conf["log_filters"].split())


def test_qemu_runs_as_root_without_a_security_driver():
    conf = _conf(config.qemu_conf())
    assert conf["user"] == conf["group"] == "root"
    assert conf["security_driver"] == "none"


def test_start_script_binds_every_system_folder_before_starting_the_daemons():
    paths = config.Paths(root=Path("/co/.run/sandbox"))
    lines = daemons._start_script(paths).splitlines()
    binds = [line.split() for line in lines if line.startswith("mount --bind")]
    assert {(b[2], b[3]) for b in binds} == {
        (f"/co/.run/sandbox/{name}", system) for system, name in config.SYSTEM_DIRS.items()
    }
    starts = [i for i, line in enumerate(lines) if line.startswith(("virtlogd", "libvirtd"))]
    assert [lines[i].split()[0] for i in starts] == ["virtlogd", "libvirtd"]
    assert max(i for i, line in enumerate(lines) if line.startswith("mount")) < starts[0]
    assert "-p /co/.run/sandbox/libvirtd.pid" in lines[starts[1]]
    assert "--listen" not in lines[starts[1]] and " -l" not in lines[starts[1]]


def test_pool_and_network_xml_parse():
    import xml.etree.ElementTree as ET

    pool = ET.fromstring(config.pool_xml(config.Paths(root=Path("/co/.run/sandbox"))))  # noqa: S314
    assert pool.get("type") == "dir"
    assert pool.findtext("name") == config.POOL
    assert pool.findtext("target/path") == "/run/nginx-ha-sandbox/pool"
    net = ET.fromstring(config.nat_network_xml("n", "br9", "192.168.158.1", 24))  # noqa: S314
    assert net.findall("forward")[0].get("mode") == "nat"
    assert net.findall("ip")[0].get("address") == "192.168.158.1"
    assert net.find("ip/dhcp") is None


# ------------------------------------------------------------------------ apt sources

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
NODESOURCE = """\
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
"""


def test_debian_sources_keep_the_machines_debian_mirror_only():
    out = config.debian_sources(
        {
            "/etc/apt/sources.list.d/debian.sources": DEB822,
            "/etc/apt/sources.list.d/nodesource.sources": NODESOURCE,
            "/etc/apt/sources.list.d/google.list": "deb https://packages.example/apt cloud-sdk-bookworm main\n",
        }
    )
    stanzas = out.strip().split("\n\n")
    assert len(stanzas) == 2
    assert "URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates" in stanzas[0]
    assert "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in stanzas[1]
    assert "nodesource" not in out and "cloud-sdk" not in out


def test_debian_sources_from_one_line_format():
    out = config.debian_sources(
        {
            "/etc/apt/sources.list": "# comment\ndeb [signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"
            "deb-src http://mirror.example/debian bookworm main\n"
        }
    )
    assert out == (
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
        "Components: main contrib\nSigned-By: /k.gpg\n"
    )


def test_debian_sources_without_debian_entry_is_an_error():
    with pytest.raises(ValueError, match="no Debian bookworm entry"):
        config.debian_sources({"/etc/apt/sources.list.d/nodesource.sources": NODESOURCE})


# ----------------------------------------------------------------------- image recipe


def test_recipe_hash_changes_with_packages_and_sources(monkeypatch):
    base = config.image_recipe_hash(DEB822)
    assert config.image_recipe_hash(DEB822) == base
    assert config.image_recipe_hash(DEB822.replace("deb.debian.org", "m.example")) != base
    monkeypatch.setattr(config, "CACHED_PACKAGES", (*config.CACHED_PACKAGES, "haproxy"))
    assert config.image_recipe_hash(DEB822) != base


def _script_packages(script: str, pattern: str, section: tuple[str, str] | None = None) -> set[str]:
    text = (ROOT / "nginx_ha/templates/scripts" / script).read_text()
    if section:
        text = text[text.index(section[0]) : text.index(section[1])]
    found: set[str] = set()
    for m in re.finditer(pattern, text):
        found |= {p for p in re.split(r"[\s()]+", m.group(1)) if re.fullmatch(r"[a-z0-9.+-]+", p)}
    return found


# Pulled in as dependencies of packages in the lists (libc6-dev depends on it).
DEPENDENCIES = {"linux-libc-dev"}


def test_image_carries_every_package_the_remote_steps_install():
    wanted = (
        # its apt branch; the sandbox stack uploads the tarball (no git, no url kind)
        _script_packages(
            "install_keepalived.sh",
            r"\n  pkgs=\(([^)]*)\)",
            section=("if command -v apt-get", "elif command -v dnf"),
        )
        | _script_packages("install_nginx.sh", r"pkg_install ([^\n|]+)")
        | _script_packages("install_tomcat.sh", r'pkg_install "\$PKG" ([^\n|]+)')
        | _script_packages("firewall.sh", r"  pkg_install ([^\n|]+)")
    )
    assert {"build-essential", "nginx", "curl", "nftables"} <= wanted  # the patterns matched
    available = set(config.CACHED_PACKAGES) | set(config.BASE_PACKAGES) | DEPENDENCIES
    assert wanted - available == set()
    assert "tomcat10" in config.CACHED_PACKAGES


# ------------------------------------------------------------------------ stack file


def test_sandbox_stack_parses_and_is_small():
    s = parse_settings(
        stacks.raw_config("sandbox"), stack="sandbox", secret_keys=stacks.SECRET_KEYS
    )
    assert s.vm.domain_type == "qemu"
    assert (s.vm.vcpus, s.vm.memory_mib) == (1, 1024)
    assert len(s.load_balancers) == 2
    assert sorted(b.role for b in s.backends) == ["backup", "primary"]
    assert all(n.vm is None for n in s.all_nodes())  # no node grows past the default
    assert s.network.mode == "nat"


def test_sandbox_stack_points_at_what_the_sandbox_makes():
    s = parse_settings(
        stacks.raw_config("sandbox"), stack="sandbox", secret_keys=stacks.SECRET_KEYS
    )
    paths = config.Paths.for_checkout()
    assert s.libvirt_uri == config.libvirt_uri(paths.socket)
    assert (s.image.pool, s.image.volume) == (config.POOL, config.BASE_VOLUME)
    assert s.vm.kernel == str(paths.kernel)
    assert s.vm.initrd == str(paths.initrd)
    assert s.vm.cmdline == config.KERNEL_CMDLINE
    k = s.keepalived
    assert (k.version, k.path, k.sha256) == (
        config.KEEPALIVED_VERSION,
        str(paths.keepalived_tarball),
        config.KEEPALIVED_SHA256,
    )
    from sandbox import image

    assert s.vm.disk_gib * 2**30 >= _size(image.IMAGE_SIZE)


def _size(text: str) -> int:
    return int(text[:-1]) * {"G": 2**30, "M": 2**20}[text[-1]]


def test_sandbox_stack_with_fallback_bridge_parses():
    raw = stacks.raw_config(
        "sandbox",
        network={
            "name": "lan",
            "mode": "bridge",
            "bridge": daemons.FALLBACK_BRIDGE,
            "cidr": "192.168.159.0/24",
            "gateway": daemons.FALLBACK_BRIDGE_ADDRESS.split("/")[0],
        },
    )
    s = parse_settings(raw, stack="sandbox", secret_keys=stacks.SECRET_KEYS)
    assert s.network.bridge == daemons.FALLBACK_BRIDGE
    assert f"{s.network.gateway_ip}/{s.network.cidr.prefixlen}" == daemons.FALLBACK_BRIDGE_ADDRESS


# ---------------------------------------------------------------- real up/status/down


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespace, libvirtd)"
    missing = {t: p for t, p in daemons.missing_tools().items() if t not in ("mmdebstrap",)}
    if missing:
        return (
            "missing: " + ", ".join(sorted(set(missing.values()))) + " (scripts/sandbox-prereqs.sh)"
        )
    try:
        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        return "no libvirt-qemu user (scripts/sandbox-prereqs.sh)"
    if daemons.netns_id() is not None or config.ANCHOR.is_symlink():
        return "a sandbox is already up on this machine (python -m sandbox down)"
    return None


def _require_sandbox_prerequisites() -> None:
    """Skip with the reason printed on a developer's machine; fail in CI (CI=true),
    where .ci/run installs the prerequisites (scripts/sandbox-prereqs.sh)."""
    reason = _skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        if os.environ.get("CI") == "true":
            pytest.fail(f"the sandbox tests must run in CI: {reason}")
        pytest.skip(reason)


def _root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@pytest.mark.slow
@pytest.mark.root
def test_up_status_down_leaves_nothing(tmp_path):
    _require_sandbox_prerequisites()
    paths = config.Paths(root=tmp_path / "sandbox")
    links_before = _root_links()
    created = [d for d in config.SYSTEM_DIRS if not Path(d).exists()]
    try:
        daemons.up(paths, with_image=False, out=lambda *_: None)
        info = daemons.status(paths)
        assert info["up"] and info["netns"] == config.NETNS
        assert info["libvirtd"] and info["virtlogd"]
        assert info["anchor"] == str(paths.root)
        ident = daemons.netns_id()
        assert ident is not None
        assert netns.pid_ns_id(info["libvirtd"]) == ident != netns.pid_ns_id(os.getpid())
        uri = config.libvirt_uri(paths.socket)
        r = subprocess.run(
            daemons.in_netns(["virsh", "-c", uri, "pool-list", "--name"]),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [config.POOL]
        # The daemons' state is in the runtime folder, not in the host's libvirt folders.
        assert (paths.root / "etc" / "storage" / f"{config.POOL}.xml").exists()
        assert not Path(f"/etc/libvirt/storage/{config.POOL}.xml").exists()
        assert _root_links() == links_before
    finally:
        daemons.down(paths, out=lambda *_: None)
    assert daemons.netns_id() is None
    assert netns.pids_in([ident]) == {}
    assert not config.ANCHOR.is_symlink()
    assert [p.name for p in paths.root.iterdir()] == []
    assert [d for d in created if Path(d).exists()] == []
    assert [p.name for p in paths.root.iterdir()] == []
    assert daemons.status(paths)["up"] is False
    assert _root_links() == links_before


@pytest.mark.slow
@pytest.mark.root
def test_down_after_a_crash_kills_what_is_left(tmp_path):
    """libvirtd killed, a stray process left: down still finds the rest by namespace."""
    _require_sandbox_prerequisites()
    paths = config.Paths(root=tmp_path / "sandbox")
    try:
        daemons.up(paths, with_image=False, out=lambda *_: None)
        ident = daemons.netns_id()
        assert ident is not None
        pid = netns.read_pid(paths.libvirtd_pid)
        assert pid is not None
        os.kill(pid, 9)
        # A straggler in the namespace, as a crashed run would leave.
        sleeper = subprocess.Popen(daemons.in_netns(["sleep", "300"]))
    finally:
        daemons.down(paths, out=lambda *_: None)
    assert sleeper.wait(timeout=15) != 0
    assert daemons.netns_id() is None
    assert netns.pids_in([ident]) == {}
    assert not config.ANCHOR.is_symlink()
    assert [p.name for p in paths.root.iterdir()] == []


@pytest.mark.slow
@pytest.mark.root
def test_down_from_another_checkout_refuses_and_touches_nothing(tmp_path):
    _require_sandbox_prerequisites()
    ours = config.Paths(root=tmp_path / "ours")
    other = config.Paths(root=tmp_path / "other")
    try:
        daemons.up(ours, with_image=False, out=lambda *_: None)
        with pytest.raises(daemons.SandboxError, match="belongs to another checkout"):
            daemons.down(other, out=lambda *_: None)
        with pytest.raises(daemons.SandboxError, match="another checkout"):
            daemons.up(other, with_image=False, out=lambda *_: None)
        assert daemons.status(ours)["up"]
    finally:
        daemons.down(ours, out=lambda *_: None)
    assert daemons.netns_id() is None


@pytest.mark.slow
@pytest.mark.root
def test_without_nat_up_makes_the_fallback_bridge_in_the_namespace(tmp_path, monkeypatch):
    _require_sandbox_prerequisites()
    monkeypatch.setattr(daemons, "nat_usable", lambda: False)
    paths = config.Paths(root=tmp_path / "sandbox")
    links_before = _root_links()
    try:
        daemons.up(paths, with_image=False, out=lambda *_: None)
        info = daemons.status(paths)
        assert (info["nat"], info["bridge"]) == (False, daemons.FALLBACK_BRIDGE)
        r = subprocess.run(
            ["ip", "-n", config.NETNS, "-br", "addr", "show", daemons.FALLBACK_BRIDGE],
            capture_output=True,
            text=True,
            check=True,
        )
        assert daemons.FALLBACK_BRIDGE_ADDRESS in r.stdout.split()
        assert daemons.FALLBACK_BRIDGE not in _root_links()
    finally:
        daemons.down(paths, out=lambda *_: None)
    assert _root_links() == links_before


def test_state_names_the_namespace_by_device_and_inode_also_from_an_older_file(tmp_path):
    paths = config.Paths(root=tmp_path / "sandbox")
    assert daemons.State.load(paths).netns_id is None
    daemons.State(root=str(paths.root), netns_inode=1234, netns_dev=7).save(paths)
    assert daemons.State.load(paths).netns_id == (7, 1234)
    # A state file written before the device was recorded: the nsfs device, which
    # every network namespace shares (this process's own namespace's).
    paths.state_file.write_text(json.dumps({"root": str(paths.root), "netns_inode": 1234}))
    own = netns.pid_ns_id(os.getpid())
    assert own is not None
    assert daemons.State.load(paths).netns_id == (own[0], 1234)
