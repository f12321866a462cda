"""Jinja2 rendering: one pure function per produced file, plain values in, str out.

No ``import pulumi`` here: the program, the offline ``render`` command and the lab
all call these functions. Templates get decided values; logic and defaults live in
Python (settings/topology).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2

from components.topology import Node, Topology

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


def render_template(name: str, **values: object) -> str:
    """Render one template; every file starts with a generated-by header."""
    return _env.get_template(name).render(template=name, **values)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------- cloud-init


def cloud_init_user_data(topo: Topology, node: Node) -> str:
    s = topo.settings
    return render_template(
        "cloud-init/user-data.j2",
        hostname=node.name,
        user=s.ssh.user,
        public_key=s.ssh.public_key,
    )


def cloud_init_meta_data(topo: Topology, node: Node) -> str:
    return render_template(
        "cloud-init/meta-data.j2",
        instance_id=node.instance_id,
        hostname=node.name,
    )


def cloud_init_network_config(topo: Topology, node: Node) -> str:
    net = topo.settings.network
    return render_template(
        "cloud-init/network-config.j2",
        interface=topo.settings.vrrp.interface,
        mac=node.mac,
        address=f"{node.ip}/{net.cidr.prefixlen}",
        gateway=str(net.gateway_ip),
        dns=[str(d) for d in net.dns_servers],
    )
