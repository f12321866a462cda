"""cloud-init's NoCloud files of a VM: user-data, meta-data, network-config.

user-data carries the node's SSH host key (its private half: a secret wherever it
goes, a secret Output in the program, mode 0600 in the offline render)."""

from __future__ import annotations

from nginx_ha.render.templates import render_template
from nginx_ha.topology import Node, Topology
from nginx_ha.topology.hostkeys import HostKey

# Where the offline render puts a node's NoCloud files (not a path on the node).
CLOUD_INIT_DIR = "/cloud-init"
USER_DATA = f"{CLOUD_INIT_DIR}/user-data"


def cloud_init_user_data(topo: Topology, node: Node, host_key: HostKey) -> str:
    return render_template(
        "cloud-init/user-data.j2",
        hostname=node.name,
        user=topo.ssh.user,
        public_key=topo.ssh.public_key,
        host_private_key=host_key.private_openssh,
        host_public_key=host_key.public,
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


def cloud_init_files(topo: Topology, node: Node, host_key: HostKey) -> dict[str, str]:
    """A node's three NoCloud files, by their place in the offline render's output."""
    return {
        USER_DATA: cloud_init_user_data(topo, node, host_key),
        f"{CLOUD_INIT_DIR}/meta-data": cloud_init_meta_data(topo, node),
        f"{CLOUD_INIT_DIR}/network-config": cloud_init_network_config(topo, node),
    }
