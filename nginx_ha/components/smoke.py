"""The smoke test: after every node's steps, a request through the VIP must be
answered by the MASTER load balancer and a primary Tomcat.

It runs on a backend, not on a load balancer: every load balancer keeps a copy of the
VIP on lo while keepalived runs (docs/keepalived.md, "Hold, don't refuse"), so a request
to the VIP from one of them is answered by its own nginx and proves nothing (an
end-to-end run's smoke test, asked from the BACKUP, saw only the BACKUP). From a
backend the request crosses the network to whoever answers ARP for the VIP, so
``X-Served-By`` naming the MASTER shows the VIP is on the MASTER and reachable. Its
stdout (one summary line) is the stack output ``smoke``; when it does not pass, the
command fails and so does ``pulumi up``, with what it saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
from pulumi_command import remote

from nginx_ha import render
from nginx_ha.components.remote import script_command
from nginx_ha.render import script
from nginx_ha.topology import Node, Topology
from nginx_ha.topology.naming import PAGE_MARKER_KEY

TRIES = 30
INTERVAL = 1
TIMEOUT = 3


def smoke_runner(topo: Topology) -> Node:
    """The node the smoke test runs on: a backend (a backup-role one first: it serves
    nothing while the primaries answer), never a load balancer (the VIP on its lo)."""
    return min(topo.backends, key=lambda b: (b.role != "backup", b.name))


def smoke_params(topo: Topology) -> dict[str, str | int]:
    return {
        "URL": topo.vip_url,
        "MARKER_KEY": PAGE_MARKER_KEY,
        "EXPECT_LB": topo.master.name,
        "PRIMARIES": " ".join(b.name for b in topo.backends if b.role == "primary"),
        "TRIES": TRIES,
        "INTERVAL": INTERVAL,
        "TIMEOUT": TIMEOUT,
    }


def smoke_test(
    name: str,
    topo: Topology,
    connections: Mapping[str, remote.ConnectionArgs],
    config_hashes: Mapping[str, Mapping[str, str]],
    depends_on: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> remote.Command:
    """``{name}-smoke`` on a backend, after ``depends_on`` (every node component).

    It runs again when any rendered file, any VM or the script changes."""
    text = script("smoke.sh")
    triggers = [
        render.sha256(text),
        *(n.instance_id for n in topo.nodes),
        *(
            f"{node}:{path}:{digest}"
            for node, files in sorted(config_hashes.items())
            for path, digest in sorted(files.items())
        ),
    ]
    return remote.Command(
        f"{name}-smoke",
        connection=connections[smoke_runner(topo).name],
        create=script_command("smoke.sh", smoke_params(topo)),
        triggers=triggers,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=list(depends_on))
        ),
    )
