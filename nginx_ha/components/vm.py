"""Libvirt resources. The only module that imports pulumi_libvirt.

``ClonedVm``: a copy-on-write clone of the base image, its own cloud-init disk, and a
domain with the node's MAC, address and hostname. ``HostResources``: what each
libvirt host needs once (provider, base image, NAT network).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_libvirt as libvirt

from nginx_ha.topology import Node, Topology

GIB = 1024**3


@dataclass
class ClonedVmArgs:
    node: Node
    base_volume_id: pulumi.Input[str] | None  # None: clone image.volume by name
    base_volume_name: str | None
    pool: str
    network_id: pulumi.Input[str] | None  # nat mode
    bridge: str | None  # bridge mode
    # Holds the node's private SSH host key: a secret Output.
    user_data: pulumi.Input[str]
    meta_data: str
    network_config: str
    # Serving stacks: the previous node's activation (its gate passed), so no two
    # nodes' VMs are created or replaced at once (nginx-ha:serving).
    after: Sequence[pulumi.Resource] = ()
    # The host's previous libvirt write: this VM's first one goes only after it (see
    # HostResources.writes).
    libvirt_after: Sequence[pulumi.Resource] = ()


class ClonedVm(pulumi.ComponentResource):
    """One VM: CoW volume on the base image, cloud-init disk, domain."""

    TYPE = "nginx-ha:index:ClonedVm"

    def __init__(self, name: str, args: ClonedVmArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        node = args.node
        # One libvirt write at a time per host (HostResources.writes): the disk after the
        # host's previous write, the cloud-init disk after the disk, the domain after both.
        child = pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *args.libvirt_after])

        self.disk = libvirt.Volume(
            f"{name}-disk",
            name=node.volume,
            pool=args.pool,
            base_volume_id=args.base_volume_id,
            base_volume_name=args.base_volume_name if args.base_volume_id is None else None,
            base_volume_pool=args.pool if args.base_volume_id is None else None,
            format="qcow2",
            size=node.size.disk_gib * GIB,
            opts=child,
        )
        self.cloudinit = libvirt.CloudInitDisk(
            f"{name}-cloudinit",
            name=node.cloudinit,
            pool=args.pool,
            user_data=args.user_data,
            meta_data=args.meta_data,
            network_config=args.network_config,
            # One name per node: the old disk goes before the new one is made (a
            # changed disk replaces the domain, which is deleted first anyway).
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.after, self.disk],
                delete_before_replace=True,
            ),
        )
        size = node.size
        self.domain = libvirt.Domain(
            f"{name}-domain",
            name=node.domain,
            type=size.domain_type,
            memory=size.memory_mib,
            vcpu=size.vcpus,
            autostart=True,
            cloudinit=self.cloudinit.id,
            kernel=size.kernel,
            initrd=size.initrd,
            cmdlines=kernel_cmdlines(size.cmdline) if size.cmdline else None,
            disks=[libvirt.DomainDiskArgs(volume_id=self.disk.id)],
            network_interfaces=[
                libvirt.DomainNetworkInterfaceArgs(
                    network_id=args.network_id,
                    bridge=args.bridge,
                    mac=node.mac,
                    # No addresses/hostname here: the provider uses them only for DHCP
                    # host entries (the network has DHCP off; a bridge has none) and reads
                    # addresses back from leases or the guest agent, i.e. [], so passing
                    # them made every later `up` replace the domain. The address is
                    # static, matched to the MAC by cloud-init's network-config.
                    wait_for_lease=False,
                )
            ],
            consoles=[libvirt.DomainConsoleArgs(type="pty", target_port="0", target_type="serial")],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.after),
                # A domain's disks and cloud-init ISO are attached at definition: replace
                # the domain whole, and free its name before defining the new one.
                delete_before_replace=True,
                replace_on_changes=["cloudinit", "disks", "networkInterfaces"],
                # The one libvirt resource whose waits take custom timeouts (the
                # provider ignores them, with a warning, on volumes, cloud-init disks and
                # networks; its network wait is a fixed minute).
                custom_timeouts=pulumi.CustomTimeouts(create="10m", delete="5m"),
            ),
        )
        self.name = node.domain
        self.ip = str(node.ip)
        self.mac = node.mac
        self.register_outputs({"name": self.name, "ip": self.ip, "mac": self.mac})


def kernel_cmdlines(cmdline: str) -> list[dict[str, str]]:
    """The kernel command line in the form the libvirt provider reads it back in
    (terraform-provider-libvirt ``splitKernelCmdLine``): ``key=value`` words in maps, a
    repeated key starting a new map, keyless words joined last under ``"_"``. Any other
    form (e.g. the whole line under ``"_"``) reads back different, so every ``up`` after
    the first replaced the domain."""
    maps: list[dict[str, str]] = []
    current: dict[str, str] = {}
    keyless: list[str] = []
    for word in cmdline.split(" "):
        if "=" not in word:
            keyless.append(word)
            continue
        key, value = word.split("=", 1)
        if key in current:
            maps.append(current)
            current = {}
        current[key] = value
    if current:
        maps.append(current)
    if keyless:
        maps.append({"_": " ".join(keyless)})
    return maps


class HostResources:
    """Per libvirt host: an explicit provider (several hosts), base image, NAT network.

    ``writes`` is what the host's next libvirt write waits for: its network, then the
    base image, then each VM's disk, cloud-init disk and domain in turn. The legacy
    libvirt provider hangs or fails when one connection uploads several volumes at once
    (terraform-provider-libvirt issues 594, 324 and 1021), and an upload's read-back
    failed ("error while retrieving remote ISO: ... corrupted-image: EOF") while a
    domain was being created on the same connection (an end-to-end run at Pulumi's
    default parallelism): so a host's libvirt writes go one at a time, each under a
    second; other hosts, and every step over SSH, stay parallel."""

    def __init__(self, parent: pulumi.Resource, topo: Topology, host: str | None):
        suffix = f"-{host}" if host else ""
        # Always an explicit provider: libvirt:uri's default lives in the settings, and
        # every host's resources say which hypervisor they are on.
        self.provider = libvirt.Provider(
            f"libvirt{suffix}", uri=topo.host_uri(host), opts=pulumi.ResourceOptions(parent=parent)
        )
        opts = pulumi.ResourceOptions(parent=parent, provider=self.provider)
        image = topo.image
        self.pool = image.pool
        self.writes: list[pulumi.Resource] = []
        self.network_id: pulumi.Output[str] | None = None
        self.bridge: str | None = None
        net = topo.network
        if net.mode == "nat":
            network = libvirt.Network(
                f"network{suffix}",
                name=net.name,
                mode="nat",
                addresses=[str(net.cidr)],
                bridge=net.bridge,
                autostart=True,
                # Addresses are static (cloud-init); libvirt's DHCP would hand out the same
                # range to strangers.
                dhcp=libvirt.NetworkDhcpArgs(enabled=False),
                dns=libvirt.NetworkDnsArgs(enabled=True, local_only=True),
                opts=opts,
            )
            self.network_id = network.id
            self.writes = [network]
        else:
            self.bridge = net.bridge
        self.base_volume_id: pulumi.Output[str] | None = None
        self.base_volume_name: str | None = image.volume
        if image.url is not None:
            base = libvirt.Volume(
                f"base-image{suffix}",
                name=topo.base_volume,
                pool=image.pool,
                source=image.url,
                format="qcow2",
                # Every clone is a CoW overlay on this volume; protect it in long-lived
                # stacks (lab stacks are torn down whole).
                opts=pulumi.ResourceOptions.merge(
                    opts,
                    pulumi.ResourceOptions(protect=image.protect, depends_on=list(self.writes)),
                ),
            )
            self.base_volume_id = base.id
            self.writes = [base]
