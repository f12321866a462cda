"""The smoke test: after every node's steps, a request through the VIP must be
answered by the MASTER load balancer and a primary Tomcat.

It runs on a backend, not on a load balancer: every load balancer keeps a copy of the
VIP on lo while keepalived runs (docs/keepalived.md, "Hold, don't refuse"), so a request
to the VIP from one of them is answered by its own nginx and proves nothing (an
end-to-end run's smoke test, asked from the BACKUP, saw only the BACKUP). From a
backend the request crosses the network to whoever answers ARP for the VIP, so
``X-Served-By`` naming the MASTER shows the VIP is on the MASTER and reachable. Its
stdout (one summary line) is the stack output ``smoke``; when it does not pass, the
command fails and so does ``pulumi up``, with what it saw. Where it runs, what it
asks and when it runs again: render/plan.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
from pulumi_command import remote

from nginx_ha.render.plan import NodePlan, smoke_ca, smoke_runner, smoke_step, smoke_triggers
from nginx_ha.topology import Topology


def smoke_test(
    name: str,
    topo: Topology,
    plans: Mapping[str, NodePlan],
    connections: Mapping[str, remote.ConnectionArgs],
    secrets: Mapping[str, pulumi.Output[str]],
    depends_on: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
) -> remote.Command:
    """``{name}-smoke`` on a backend, after ``depends_on`` (every node component).

    It runs again when any rendered file of any node, any VM or the script changes.
    With TLS it verifies the served chain (the stack's CA comes on stdin)."""
    runner = plans[smoke_runner(topo).name]
    step = smoke_step(topo, runner.layout)
    ca = smoke_ca(topo)
    stdin: pulumi.Input[str] | None = None
    if isinstance(ca, tuple):
        key, make = ca
        stdin = pulumi.Output.unsecret(secrets[key].apply(make))  # a certificate: public
    elif ca is not None:
        stdin = ca
    return remote.Command(
        f"{name}-{step.role}",
        connection=connections[runner.name],
        create=step.command,
        stdin=stdin,
        triggers=smoke_triggers(topo, plans),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=list(depends_on))
        ),
    )
