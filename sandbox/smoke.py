"""Boot one throwaway VM in the sandbox, reach it over SSH, destroy it.

Proves the sandbox before any Pulumi run: a qcow2 overlay volume on the base volume (as
the stack's clones are), a NoCloud ``cidata`` ISO made with ``mkisofs`` (as the libvirt
provider makes it), a domain shaped like the provider's (type ``qemu``, direct kernel
boot, IDE cdrom, spice graphics, guest-agent channel, virtio RNG), on a transient
libvirt NAT network inside the namespace (or the fallback bridge). SSH runs from the
namespace with a throwaway key. Everything it makes is removed, also on failure.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox import config, daemons, vm

NAME = "nginx-ha-sandbox-smoke"
NETWORK = NAME
NAT_BRIDGE = "nhsmoke0"
NAT_GATEWAY = "192.168.158.1"
NAT_ADDRESS = "192.168.158.10"
FALLBACK_ADDRESS = "192.168.159.250"
MAC = "52:54:00:5a:00:10"
USER = "debian"


# The smoke VM: shaped like the stack's (the provider's domain, cloud-init installing a
# package as the stack's user-data does, so its apt step is proven to finish without
# egress: the image carries the package lists and the packages).
SPEC = vm.VmSpec(
    name=NAME,
    mac=MAC,
    nat_bridge=NAT_BRIDGE,
    nat_gateway=NAT_GATEWAY,
    fallback_address=FALLBACK_ADDRESS,
    memory_mib=1024,
    vcpus=1,
    packages=("qemu-guest-agent",),
    provider_like=True,
)
assert SPEC.nat_address == NAT_ADDRESS and vm.USER == USER


def user_data(public_key: str) -> str:
    return vm.user_data(SPEC, public_key)


def meta_data(instance_id: str) -> str:
    return vm.meta_data(SPEC, instance_id)


def network_config(address: str, gateway: str) -> str:
    return vm.network_config(SPEC, address, gateway)


def domain_xml(paths: config.Paths, interface: str, console_log: Path) -> str:
    return vm.domain_xml(paths, SPEC, interface, console_log)


def _ssh(key: Path, address: str, command: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        daemons.in_netns(vm.ssh_argv(key, address, command)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run(paths: config.Paths, *, ssh_timeout: float = 360, out=print) -> dict:
    """Boot, check, destroy; return what was seen and the phase times."""
    info = daemons.status(paths)
    if not info["up"]:
        raise daemons.SandboxError("the sandbox is not up: run `python -m sandbox up`")
    if config.BASE_VOLUME not in info["pool_volumes"]:
        raise daemons.SandboxError(
            "no base volume in the pool: run `python -m sandbox image`, then up"
        )
    state = daemons.State.load(paths)
    work = Path(tempfile.mkdtemp(prefix="smoke-", dir=paths.root))
    result: dict = {"ok": False, "seconds": {}}
    made_net = False
    t0 = time.monotonic()
    try:
        key = work / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "smoke", "-f", str(key)],
            check=True,
        )
        if state.nat:
            address, gateway = NAT_ADDRESS, NAT_GATEWAY
            net_file = work / "network.xml"
            net_file.write_text(config.nat_network_xml(NETWORK, NAT_BRIDGE, gateway, 24))
            daemons.virsh(paths, "net-create", str(net_file))
            made_net = True
            interface = (
                f"<interface type='network'><source network='{NETWORK}'/>"
                f"<mac address='{MAC}'/><model type='virtio'/></interface>"
            )
        else:
            address, gateway = FALLBACK_ADDRESS, daemons.FALLBACK_BRIDGE_ADDRESS.split("/")[0]
            interface = (
                f"<interface type='bridge'><source bridge='{daemons.FALLBACK_BRIDGE}'/>"
                f"<mac address='{MAC}'/><model type='virtio'/></interface>"
            )
        seed = work / "seed"
        seed.mkdir()
        (seed / "user-data").write_text(user_data((key.with_suffix(".pub")).read_text().strip()))
        (seed / "meta-data").write_text(meta_data(f"{NAME}-{int(time.time())}"))
        (seed / "network-config").write_text(network_config(address, gateway))
        iso = paths.root / "pool" / f"{NAME}-cidata.iso"
        subprocess.run(
            ["mkisofs", "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet", "-rock"]
            + [str(seed / n) for n in ("user-data", "meta-data", "network-config")],
            check=True,
        )
        daemons.virsh(
            paths,
            "vol-create-as",
            config.POOL,
            f"{NAME}.qcow2",
            "4G",
            "--format",
            "qcow2",
            "--backing-vol",
            config.BASE_VOLUME,
            "--backing-vol-format",
            "qcow2",
        )
        daemons.virsh(paths, "pool-refresh", config.POOL)
        dom = work / "domain.xml"
        console_log = paths.anchor / "log" / f"{NAME}-console.log"
        dom.write_text(domain_xml(paths, interface, console_log))
        t = time.monotonic()
        daemons.virsh(paths, "create", str(dom), timeout=60)
        result["seconds"]["define_start"] = round(time.monotonic() - t, 1)
        out(f"  domain started; waiting up to {ssh_timeout:.0f} s for SSH on {address}")

        deadline = time.monotonic() + ssh_timeout
        while True:
            try:
                r = _ssh(key, address, "true", timeout=20)
            except subprocess.TimeoutExpired:
                r = None
            if r is not None and r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise daemons.SandboxError(
                    f"no SSH on {address} within {ssh_timeout:.0f} s; console log: "
                    f"{paths.root / 'log' / (NAME + '-console.log')}"
                )
            time.sleep(3)
        result["seconds"]["boot_to_ssh"] = round(time.monotonic() - t, 1)
        out(f"  SSH answers after {result['seconds']['boot_to_ssh']} s")
        r = _ssh(key, address, "cloud-init status --wait --long", timeout=600)
        result["seconds"]["boot_to_cloud_init_done"] = round(time.monotonic() - t, 1)
        result["cloud_init"] = r.stdout.strip()
        result["cloud_init_rc"] = r.returncode
        result["hostname"] = _ssh(key, address, "hostname", timeout=60).stdout.strip()
        result["interfaces"] = _ssh(key, address, "ip -br -4 addr", timeout=60).stdout.strip()
        # The install scripts run `apt-get update` before installing: it must succeed
        # without egress.
        r = _ssh(key, address, "sudo apt-get update -q", timeout=300)
        result["apt_update_rc"] = r.returncode
        result["apt_update"] = (r.stdout + r.stderr).strip()[-600:]
        pkgs = " ".join(config.CACHED_PACKAGES)
        r = _ssh(
            key,
            address,
            f"sudo apt-get install --print-uris -qq {pkgs}",
            timeout=300,
        )
        # One line per .deb that is not in the image's cache: none expected.
        missing = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("'")]
        result["debs_to_download"] = len(missing) if r.returncode == 0 else -1
        result["debs_missing"] = missing[:20]
        result["ok"] = (
            result["cloud_init_rc"] == 0
            and "status: done" in result["cloud_init"]
            and result["hostname"] == NAME
            and result["apt_update_rc"] == 0
            and result["debs_to_download"] == 0
        )
    finally:
        daemons.virsh(paths, "destroy", NAME, check=False, timeout=60)
        for vol in (f"{NAME}.qcow2", f"{NAME}-cidata.iso"):
            daemons.virsh(paths, "vol-delete", vol, "--pool", config.POOL, check=False)
        (paths.root / "pool" / f"{NAME}-cidata.iso").unlink(missing_ok=True)
        if made_net:
            daemons.virsh(paths, "net-destroy", NETWORK, check=False)
        shutil.rmtree(work, ignore_errors=True)
        result["seconds"]["total"] = round(time.monotonic() - t0, 1)
    return result
