"""Bring the sandbox's libvirt up and down, and tell its state.

``up``: a network namespace ``nginx-ha-sandbox`` (only ``lo`` up: the VMs' networks are
made inside it by libvirt, so nothing is added to the root namespace); inside it, in a
private mount namespace where the runtime folder's ``etc``, ``lib``, ``cache``, ``log``
and ``rundir`` are bound over libvirt's system folders, virtlogd and libvirtd are
started by hand (``-d -p PIDFILE``; PID 1 need not be systemd); then a dir pool on the
runtime folder with the base image imported as a volume.

``down`` works from what is left, also after a crash: it destroys the domains while
libvirtd answers, ends every process whose network namespace is the sandbox's (pid
files first, each checked against the namespace), deletes the namespace, the anchor
and the mount points ``up`` created, and the runtime folder except the base image
(``--purge``: that too). The private bind mounts vanish with the last process that
holds them; none is made in the host's mount namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import config
from support import netns

REQUIRED_TOOLS = {
    "ip": "iproute2",
    "unshare": "util-linux",
    "libvirtd": "libvirt-daemon (plus libvirt-daemon-driver-qemu)",
    "virtlogd": "libvirt-daemon",
    "virsh": "libvirt-clients",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "dnsmasq": "dnsmasq-base",
    "iptables": "iptables",
    "mkisofs": "genisoimage",
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "ssh": "openssh-client",
}

# Where NAT is not usable in the namespace, VMs attach to this bridge (network mode
# bridge); it carries the stack's gateway address so the namespace reaches the VMs.
FALLBACK_BRIDGE = "nhsb0"
FALLBACK_BRIDGE_ADDRESS = "192.168.159.1/24"


class SandboxError(netns.NetnsError):
    """A sandbox operation failed (a failed namespace command raises its base,
    ``support.netns.NetnsError``)."""


def missing_tools() -> dict[str, str]:
    """Tools the sandbox needs that are not on PATH, with the Debian package to install."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return {t: pkg for t, pkg in REQUIRED_TOOLS.items() if shutil.which(t, path=path) is None}


def _sh(cmd: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)


def in_netns(cmd: list[str]) -> list[str]:
    """The argv that runs ``cmd`` in the sandbox's namespace."""
    return netns.in_ns(config.NETNS, *cmd)


# ----------------------------------------------------------------------------- state


@dataclass
class State:
    """What ``up`` made, written before it is made, so ``down`` can undo a partial up."""

    root: str = ""
    netns_inode: int | None = None
    netns_dev: int | None = None
    created_dirs: list[str] = field(default_factory=list)
    bridge: str | None = None
    nat: bool | None = None

    @classmethod
    def load(cls, paths: config.Paths) -> State:
        try:
            data = json.loads(paths.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return cls(root=str(paths.root))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def netns_id(self) -> netns.NsId | None:
        """The namespace ``up`` made, as (device, inode); a state file without the
        device (older) gets the nsfs device every network namespace shares."""
        if self.netns_inode is None:
            return None
        dev = self.netns_dev
        if dev is None:
            own = netns.pid_ns_id(os.getpid())
            dev = own[0] if own else 0
        return (dev, self.netns_inode)

    def record_netns(self) -> None:
        ident = netns.ns_id(config.NETNS)
        self.netns_dev, self.netns_inode = ident if ident else (None, None)

    def save(self, paths: config.Paths) -> None:
        paths.root.mkdir(parents=True, exist_ok=True)
        tmp = paths.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        tmp.replace(paths.state_file)


def netns_id() -> netns.NsId | None:
    """The sandbox namespace's (device, inode); None when it has no name."""
    return netns.ns_id(config.NETNS)


def anchor_target() -> Path | None:
    try:
        return Path(os.readlink(config.ANCHOR))
    except (FileNotFoundError, OSError):
        return None


# ---------------------------------------------------------------------------- virsh


def virsh(paths: config.Paths, *args: str, check: bool = True, timeout: float = 30):
    uri = config.libvirt_uri(paths.socket)
    r = _sh(["virsh", "-q", "-c", uri, *args], check=False, timeout=timeout)
    if check and r.returncode != 0:
        raise SandboxError(f"virsh {' '.join(args)}: {r.stderr.strip()}")
    return r


def answering(paths: config.Paths) -> bool:
    if not Path(paths.socket).exists():
        return False
    try:
        return virsh(paths, "version", check=False, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def nat_usable() -> bool:
    """Whether netfilter's nat table works in the namespace (libvirt's NAT needs it)."""
    r = _sh(in_netns(["iptables", "-w", "-t", "nat", "-S"]), check=False)
    return r.returncode == 0


# -------------------------------------------------------------------------------- up


def _start_script(paths: config.Paths) -> str:
    """Runs under ``ip netns exec NS unshare -m --propagation private``."""
    etc = paths.private("etc")
    return config.TEMPLATES.render(
        "start_libvirt.sh.j2",
        binds=[(system, str(paths.private(name))) for system, name in config.SYSTEM_DIRS.items()],
        virtlogd_conf=str(etc / "virtlogd.conf"),
        virtlogd_pid=str(paths.virtlogd_pid),
        libvirtd_conf=str(etc / "libvirtd.conf"),
        libvirtd_pid=str(paths.libvirtd_pid),
    )


def up(paths: config.Paths, *, with_image: bool = True, out=print) -> dict:
    """Start the sandbox (idempotent); return the phase times in seconds."""
    if os.geteuid() != 0:
        raise SandboxError("the sandbox needs root (network namespaces, libvirtd)")
    missing = missing_tools()
    if missing:
        raise SandboxError(
            "missing tools: "
            + ", ".join(f"{t} (apt-get install {p})" for t, p in sorted(missing.items()))
        )
    times: dict[str, float] = {}
    target = anchor_target()
    if netns_id() is not None and target is not None and target != paths.root:
        raise SandboxError(
            f"a sandbox of another checkout ({target}) is up: run `python -m sandbox down` there"
        )
    if with_image:
        from sandbox import image

        t = time.monotonic()
        image.build(paths, out=out)
        image.fetch_keepalived_source(paths, out=out)
        times["image"] = time.monotonic() - t
    state = State.load(paths)
    if (
        netns_id() is not None
        and state.netns_id == netns_id()
        and answering(paths)
        and netns.pid_in(netns.read_pid(paths.libvirtd_pid), state.netns_id)
    ):
        out(f"sandbox already up: {config.libvirt_uri(paths.socket)}")
        _import_base(paths, out)
        return times
    if netns_id() is not None or paths.state_file.exists():
        out("cleaning up what a previous sandbox left")
        down(paths, purge=False, out=out)

    t = time.monotonic()
    state = State(root=str(paths.root))
    # Record what is about to be made first, so a crash half-way is still undone.
    for system in config.SYSTEM_DIRS:
        if not Path(system).exists():
            state.created_dirs.append(system)
    state.save(paths)
    for name in config.SYSTEM_DIRS.values():
        paths.private(name).mkdir(parents=True, exist_ok=True)
    for sub in config.PRIVATE_SUBDIRS:
        (paths.root / sub).mkdir(parents=True, exist_ok=True)
    (paths.root / "pool").mkdir(exist_ok=True)
    os.chmod(paths.private("etc"), 0o700)
    etc = paths.private("etc")
    (etc / "libvirtd.conf").write_text(config.libvirtd_conf(paths))
    (etc / "virtlogd.conf").write_text(config.virtlogd_conf(paths))
    (etc / "qemu.conf").write_text(config.qemu_conf())
    for system in state.created_dirs:
        Path(system).mkdir(parents=True, exist_ok=True)

    if config.ANCHOR.is_symlink() or config.ANCHOR.exists():
        if not config.ANCHOR.is_symlink():
            raise SandboxError(f"{config.ANCHOR} exists and is not the sandbox's symlink")
        config.ANCHOR.unlink()
    config.ANCHOR.symlink_to(paths.root)

    netns.add(config.NETNS)  # only lo, up; IPv6 as the kernel has it
    state.record_netns()
    state.save(paths)
    state.nat = nat_usable()
    if not state.nat:
        state.bridge = FALLBACK_BRIDGE
        state.save(paths)
        netns.add_bridge(config.NETNS, FALLBACK_BRIDGE, address=FALLBACK_BRIDGE_ADDRESS)
    state.save(paths)

    r = _sh(
        in_netns(["unshare", "-m", "--propagation", "private", "sh", "-c", _start_script(paths)]),
        check=False,
    )
    if r.returncode != 0:
        raise SandboxError(f"starting virtlogd/libvirtd failed: {r.stderr.strip()}")
    deadline = time.monotonic() + 30
    while not answering(paths):
        if time.monotonic() > deadline:
            log = paths.private("log") / "libvirtd.log"
            tail = log.read_text()[-2000:] if log.exists() else "(no log)"
            raise SandboxError(f"libvirtd did not answer within 30 s; its log ends:\n{tail}")
        time.sleep(0.3)
    times["daemons"] = time.monotonic() - t

    t = time.monotonic()
    pool_file = paths.private("etc") / "pool.xml"
    pool_file.write_text(config.pool_xml(paths))
    virsh(paths, "pool-define", str(pool_file))
    virsh(paths, "pool-start", config.POOL)
    virsh(paths, "pool-autostart", config.POOL)
    _import_base(paths, out)
    times["pool"] = time.monotonic() - t
    out(f"sandbox up: {config.libvirt_uri(paths.socket)}")
    out(
        "  network: libvirt NAT usable in the namespace"
        if state.nat
        else f"  network: NAT not usable here; VMs attach to bridge {FALLBACK_BRIDGE} "
        f"({FALLBACK_BRIDGE_ADDRESS}): set nginx-ha:network mode bridge, bridge {FALLBACK_BRIDGE}"
    )
    return times


def _import_base(paths: config.Paths, out) -> None:
    """The base image as a volume of the sandbox pool (a hard link: no copy)."""
    src = paths.images / config.BASE_VOLUME
    dst = paths.root / "pool" / config.BASE_VOLUME
    if not src.exists():
        out(f"  no base image yet ({src}): run `python -m sandbox image`")
        return
    if not dst.exists() or dst.stat().st_ino != src.stat().st_ino:
        dst.unlink(missing_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    virsh(paths, "pool-refresh", config.POOL)


# ------------------------------------------------------------------------------ down


def down(paths: config.Paths, *, purge: bool = False, out=print) -> dict:
    """Stop and remove everything the sandbox made; safe to run at any time."""
    if os.geteuid() != 0:
        raise SandboxError("the sandbox needs root")
    times: dict[str, float] = {}
    t = time.monotonic()
    target = anchor_target()
    if target is not None and target != paths.root and netns_id() is not None:
        raise SandboxError(
            f"the sandbox that is up belongs to another checkout ({target}): run "
            "`python -m sandbox down` there"
        )
    state = State.load(paths)
    ident = netns_id()
    if ident is None:
        ident = state.netns_id  # namespace file gone; processes may still hold it
    if (
        ident is not None
        and anchor_target() == paths.root
        and netns.pid_in(netns.read_pid(paths.libvirtd_pid), ident)
        and answering(paths)
    ):
        names = virsh(paths, "list", "--name", check=False).stdout.split()
        for name in names:
            virsh(paths, "destroy", name, check=False, timeout=60)
        if names:
            out(f"  destroyed {len(names)} domain(s): {', '.join(names)}")
        for net in virsh(paths, "net-list", "--name", check=False).stdout.split():
            virsh(paths, "net-destroy", net, check=False)
    if ident is not None:
        # The daemons first (by pid file, checked against the namespace), then anything
        # else still in the namespace (qemu, dnsmasq, a command someone ran there).
        pidfiles = (paths.libvirtd_pid, paths.virtlogd_pid)
        daemons = [p for p in map(netns.read_pid, pidfiles) if p is not None]
        netns.terminate(ident, daemons, grace=10)
        rest = netns.kill_all_in([ident], grace=10)
        if rest.found:
            out(
                f"  stopped {len(rest.found)} process(es) in the namespace "
                f"({len(rest.killed)} killed)"
            )
    if netns.exists(config.NETNS):
        netns.delete(config.NETNS)
    if anchor_target() == paths.root:
        config.ANCHOR.unlink()
    for d in state.created_dirs:
        with contextlib.suppress(OSError):
            Path(d).rmdir()
    keep = set() if purge else {"images"}
    if paths.root.exists():
        for entry in paths.root.iterdir():
            if entry.name in keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        if purge:
            paths.root.rmdir()
    times["down"] = time.monotonic() - t
    out("sandbox down" + (" (base image removed too)" if purge else ""))
    return times


# ---------------------------------------------------------------------------- status


def status(paths: config.Paths) -> dict:
    """What is running and where; ``up`` true when libvirtd answers in the namespace."""
    state = State.load(paths)
    ident = netns_id()
    libvirtd = netns.read_pid(paths.libvirtd_pid)
    virtlogd = netns.read_pid(paths.virtlogd_pid)
    info: dict = {
        "uri": config.libvirt_uri(paths.socket),
        "netns": config.NETNS if ident is not None else None,
        "anchor": str(anchor_target()) if anchor_target() else None,
        "libvirtd": libvirtd if netns.pid_in(libvirtd, ident) else None,
        "virtlogd": virtlogd if netns.pid_in(virtlogd, ident) else None,
        "processes_in_netns": len(netns.pids_in([ident])) if ident is not None else 0,
        "nat": state.nat,
        "bridge": state.bridge,
        "answering": False,
        "domains": [],
        "pool_volumes": [],
    }
    if info["libvirtd"] and anchor_target() == paths.root and answering(paths):
        info["answering"] = True
        info["domains"] = virsh(paths, "list", "--all", "--name", check=False).stdout.split()
        vols = virsh(paths, "vol-list", config.POOL, check=False).stdout.splitlines()
        info["pool_volumes"] = [v.split()[0] for v in vols if v.strip()]
    from sandbox import image

    m = image.manifest(paths.images)
    info["image"] = (
        {
            "path": str(paths.images / config.BASE_VOLUME),
            "bytes": m.get("image_bytes"),
            "build_seconds": m.get("seconds"),
        }
        if m
        else None
    )
    info["up"] = bool(info["answering"])
    return info
