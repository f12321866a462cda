"""cloud-init's NoCloud files of a VM: user-data, meta-data, network-config."""

from __future__ import annotations

from nginx_ha.render.templates import render_template
from nginx_ha.topology import Node, Topology


def cloud_init_user_data(topo: Topology, node: Node) -> str:
    return render_template(
        "cloud-init/user-data.j2",
        hostname=node.name,
        user=topo.ssh.user,
        public_key=topo.ssh.public_key,
    )


def cloud_init_meta_data(topo: Topology, node: Node) -> str:
    return render_template(
        "cloud-init/meta-data.j2",
        instance_id=node.instance_id,
        hostname=node.name,
    )


def cloud_init_network_config(topo: Topology, node: Node) -> str:
    net = topo.network
    return render_template(
        "cloud-init/network-config.j2",
        interface=topo.vrrp.interface,
        mac=node.mac,
        address=f"{node.ip}/{net.prefix_len}",
        gateway=str(net.gateway),
        dns=[str(d) for d in net.dns],
    )
