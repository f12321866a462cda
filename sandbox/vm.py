"""One throwaway VM of our own in the sandbox libvirt, reached over SSH.

What ``smoke`` does, as a building block for runs that need a real kernel (the LVS lab:
``bench.lvs``): a qcow2 overlay on the base volume, a NoCloud ``cidata`` ISO, a domain
booting the image's kernel (type ``qemu``, software emulation), on a transient libvirt
NAT network of its own inside the sandbox's namespace (or the fallback bridge). SSH runs
from the namespace with a throwaway key; files go in as a tar stream over SSH.
Everything it makes carries its name and is removed by :meth:`Vm.destroy` (also called
on every way out of the ``with`` block, Ctrl-C included), so it never touches the
domains, volumes or networks of a stack or of another run.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sandbox import config, daemons

USER = "debian"


SSH_FAILED = 255  # ssh's own exit status: no connection, or the connection cut


def ssh_argv(
    key: Path | str,
    address: str,
    command: str,
    *,
    connect_timeout: int = 5,
    options: Sequence[str] = (),
) -> list[str]:
    """``ssh`` as USER to a VM in the sandbox (run it inside the namespace): the key
    given, batch mode, no host key kept or checked (the VMs here are throwaway and
    reached only from the namespace), ``command`` as the remote command line, and
    ``options`` (``-o`` values) added."""
    argv = ["ssh", "-i", str(key)]
    for option in (
        "BatchMode=yes",
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        f"ConnectTimeout={connect_timeout}",
        *options,
        "LogLevel=ERROR",
    ):
        argv += ["-o", option]
    return [*argv, f"{USER}@{address}", command]


@dataclass(frozen=True)
class VmSpec:
    name: str
    mac: str
    nat_bridge: str  # the transient NAT network's bridge (15 characters at most)
    nat_gateway: str  # its /24 gateway; the VM gets .10
    fallback_address: str  # on the fallback bridge, where NAT is not usable
    memory_mib: int = 2048
    vcpus: int = 2
    disk_gib: int = 4
    # Packages cloud-init installs at first boot (from the image's apt cache).
    packages: tuple[str, ...] = ()
    # Shaped like the libvirt provider's domains (spice graphics, a guest-agent
    # channel): the smoke VM, which proves the sandbox for the stack's VMs.
    provider_like: bool = False

    @property
    def network(self) -> str:
        return self.name

    @property
    def nat_address(self) -> str:
        return self.nat_gateway.rsplit(".", 1)[0] + ".10"


def user_data(spec: VmSpec, public_key: str) -> str:
    return (
        "#cloud-config\n"
        f"hostname: {spec.name}\n"
        "locale: C.UTF-8\n"
        "users:\n"
        f"  - name: {USER}\n"
        "    sudo: 'ALL=(ALL) NOPASSWD:ALL'\n"
        "    shell: /bin/bash\n"
        "    lock_passwd: true\n"
        f"    ssh_authorized_keys: ['{public_key}']\n"
        "ssh_pwauth: false\n"
        "manage_etc_hosts: true\n"
        + (f"packages: [{', '.join(spec.packages)}]\n" if spec.packages else "")
    )


def meta_data(spec: VmSpec, instance_id: str) -> str:
    return f"instance-id: {instance_id}\nlocal-hostname: {spec.name}\n"


def network_config(spec: VmSpec, address: str, gateway: str) -> str:
    return (
        "version: 2\n"
        "ethernets:\n"
        "  enp1s0:\n"
        "    match:\n"
        f"      macaddress: '{spec.mac}'\n"
        "    set-name: enp1s0\n"
        f"    addresses: ['{address}/24']\n"
        f"    routes: [{{to: 0.0.0.0/0, via: '{gateway}'}}]\n"
        f"    nameservers: {{addresses: ['{gateway}']}}\n"
    )


def domain_xml(paths: config.Paths, spec: VmSpec, interface: str, console_log: Path) -> str:
    pool = paths.pool_dir
    provider_like = (
        "\n    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
        "\n    <graphics type='spice' autoport='yes'/>"
        if spec.provider_like
        else ""
    )
    return f"""<domain type='qemu'>
  <name>{spec.name}</name>
  <memory unit='MiB'>{spec.memory_mib}</memory>
  <vcpu placement='static'>{spec.vcpus}</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{paths.kernel}</kernel>
    <initrd>{paths.initrd}</initrd>
    <cmdline>{config.KERNEL_CMDLINE}</cmdline>
  </os>
  <features><pae/><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{pool}/{spec.name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='{pool}/{spec.name}-cidata.iso'/>
      <target dev='hdd' bus='ide'/>
      <readonly/>
    </disk>
    {interface}
    <serial type='pty'>
      <log file='{console_log}' append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'><target type='serial' port='0'/></console>{provider_like}
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
"""


class Vm:
    """``with Vm(paths, spec) as vm: vm.boot(); vm.ssh([...])``: destroyed on exit."""

    def __init__(self, paths: config.Paths, spec: VmSpec, out=print):
        self.paths, self.spec, self.out = paths, spec, out
        self.work = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=paths.root))
        self.key = self.work / "id_ed25519"
        self.address = ""
        self.made_net = False
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> Vm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    @property
    def console_log(self) -> Path:
        return self.paths.root / "log" / f"{self.spec.name}-console.log"

    def boot(self, ssh_timeout: float = 600) -> None:
        """Define and start the domain; return once SSH answers and cloud-init is done."""
        spec, paths = self.spec, self.paths
        info = daemons.status(paths)
        if not info["up"]:
            raise daemons.SandboxError("the sandbox is not up: run `python -m sandbox up`")
        if config.BASE_VOLUME not in info["pool_volumes"]:
            raise daemons.SandboxError("no base volume in the sandbox pool: `python -m sandbox up`")
        if spec.name in info["domains"]:
            self.out(f"  a domain {spec.name} is left from an earlier run: removing it")
            self.destroy()
        self.destroy_leftovers()
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.name, "-f", str(self.key)],
            check=True,
        )
        state = daemons.State.load(paths)
        if state.nat:
            self.address, gateway = spec.nat_address, spec.nat_gateway
            net_file = self.work / "network.xml"
            net_file.write_text(config.nat_network_xml(spec.network, spec.nat_bridge, gateway, 24))
            self.made_net = True
            daemons.virsh(paths, "net-create", str(net_file))
            interface = (
                f"<interface type='network'><source network='{spec.network}'/>"
                f"<mac address='{spec.mac}'/><model type='virtio'/></interface>"
            )
        else:
            self.address = spec.fallback_address
            gateway = daemons.FALLBACK_BRIDGE_ADDRESS.split("/")[0]
            interface = (
                f"<interface type='bridge'><source bridge='{daemons.FALLBACK_BRIDGE}'/>"
                f"<mac address='{spec.mac}'/><model type='virtio'/></interface>"
            )
        seed = self.work / "seed"
        seed.mkdir()
        pub = self.key.with_suffix(".pub").read_text().strip()
        (seed / "user-data").write_text(user_data(spec, pub))
        (seed / "meta-data").write_text(meta_data(spec, f"{spec.name}-{int(time.time())}"))
        (seed / "network-config").write_text(network_config(spec, self.address, gateway))
        subprocess.run(
            ["mkisofs", "-quiet", "-output", str(self._iso), "-volid", "cidata", "-joliet"]
            + ["-rock", *(str(seed / n) for n in ("user-data", "meta-data", "network-config"))],
            check=True,
        )
        daemons.virsh(
            paths,
            "vol-create-as",
            config.POOL,
            f"{spec.name}.qcow2",
            f"{spec.disk_gib}G",
            "--format",
            "qcow2",
            "--backing-vol",
            config.BASE_VOLUME,
            "--backing-vol-format",
            "qcow2",
        )
        daemons.virsh(paths, "pool-refresh", config.POOL)
        dom = self.work / "domain.xml"
        dom.write_text(
            domain_xml(paths, spec, interface, paths.anchor / "log" / self.console_log.name)
        )
        t = time.monotonic()
        daemons.virsh(paths, "create", str(dom), timeout=60)
        self.out(
            f"  {spec.name} started; waiting up to {ssh_timeout:.0f} s for SSH on {self.address}"
        )
        deadline = t + ssh_timeout
        while True:
            try:
                r = self.ssh(["true"], timeout=20, check=False)
            except subprocess.TimeoutExpired:
                r = None
            if r is not None and r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise daemons.SandboxError(
                    f"no SSH on {self.address} within {ssh_timeout:.0f} s; console log: "
                    f"{self.console_log}"
                )
            time.sleep(3)
        self.seconds["boot_to_ssh"] = round(time.monotonic() - t, 1)
        r = self._cloud_init_wait(max(deadline, time.monotonic() + 60.0))
        self.seconds["boot_to_cloud_init_done"] = round(time.monotonic() - t, 1)
        if "status: done" not in r.stdout:
            raise daemons.SandboxError(
                f"cloud-init did not finish in {spec.name} (ssh exit {r.returncode}): "
                f"{(r.stdout + r.stderr).strip()[-1500:]}; the console's last lines "
                f"({self.console_log}):\n{self._console_tail()}"
            )
        self.out(
            f"  SSH after {self.seconds['boot_to_ssh']} s, cloud-init done after "
            f"{self.seconds['boot_to_cloud_init_done']} s"
        )

    def _console_tail(self, lines: int = 30) -> str:
        """The end of the VM's serial console (the sandbox's folder, and that log with
        it, may go before anyone reads it)."""
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError as e:
            return f"(not readable: {e})"
        return "\n".join(text.splitlines()[-lines:])

    def _cloud_init_wait(self, deadline: float) -> subprocess.CompletedProcess[str]:
        """``cloud-init status --wait`` over SSH until it answers or ``deadline``. SSH
        can answer before cloud-init's own SSH module has run: when that module restarts
        sshd, the session waiting is cut (ssh exits 255 with nothing printed, seen once
        in the LVS VM's boot), so a cut session is asked again."""
        while True:
            left = max(1.0, deadline - time.monotonic())
            try:
                r = self.ssh(["cloud-init", "status", "--wait"], timeout=left, check=False)
            except subprocess.TimeoutExpired as e:
                return subprocess.CompletedProcess(e.cmd, -1, "", f"no answer within {left:.0f} s")
            if r.returncode != SSH_FAILED or time.monotonic() + 3 > deadline:
                return r
            time.sleep(3)

    @property
    def _iso(self) -> Path:
        return self.paths.root / "pool" / f"{self.spec.name}-cidata.iso"

    def _ssh_argv(self, command: Sequence[str]) -> list[str]:
        # ssh hands the remote side one command line: each argument quoted.
        return daemons.in_netns(
            ssh_argv(
                self.key, self.address, shlex.join(command), options=("ServerAliveInterval=15",)
            )
        )

    def ssh(
        self,
        command: Sequence[str],
        *,
        timeout: float,
        check: bool = True,
        stdin: IO[bytes] | None = None,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (an argv, quoted for the remote shell) in the VM; its standard
        input is ``stdin`` (a file), ``input`` (bytes) or nothing."""
        if input is not None:
            r = subprocess.run(
                self._ssh_argv(command), input=input, capture_output=True, timeout=timeout
            )
        else:
            r = subprocess.run(
                self._ssh_argv(command),
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
            )
        res = subprocess.CompletedProcess(
            r.args,
            r.returncode,
            r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"),
        )
        if check and r.returncode != 0:
            raise daemons.SandboxError(
                f"in {self.spec.name}: {shlex.join(command)} exited {r.returncode}: "
                f"{(res.stderr or res.stdout).strip()[-1500:]}"
            )
        return res

    def put_tar(self, tarball: Path, dest: str, *, timeout: float = 600) -> None:
        """Unpack a local tar file into ``dest`` in the VM (as root)."""
        self.ssh(["sudo", "mkdir", "-p", dest], timeout=60)
        with tarball.open("rb") as f:
            self.ssh(["sudo", "tar", "-x", "-C", dest], stdin=f, timeout=timeout)

    def get(self, path: str, *, timeout: float = 120) -> str:
        return self.ssh(["sudo", "cat", path], timeout=timeout).stdout

    def destroy_leftovers(self) -> None:
        """What an earlier run of the same name left (domain, volumes, network)."""
        name = self.spec.name
        daemons.virsh(self.paths, "destroy", name, check=False, timeout=60)
        for vol in (f"{name}.qcow2", f"{name}-cidata.iso"):
            daemons.virsh(self.paths, "vol-delete", vol, "--pool", config.POOL, check=False)
        self._iso.unlink(missing_ok=True)
        daemons.virsh(self.paths, "net-destroy", self.spec.network, check=False)

    def destroy(self) -> None:
        """Remove the domain, its volumes and network, and the local work folder."""
        try:
            if daemons.answering(self.paths):
                self.destroy_leftovers()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
