"""The SSH port's firewall rule (ssh.allowFrom), one step per node; kept apart from the
service rules each node component stages. No step at all with the default (anywhere)."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from nginx_ha.components.remote import NodeStepArgs, run_step


def ssh_firewall(
    name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions
) -> remote.Command | None:
    """``{name}-ssh-firewall``: SSH from ssh.allowFrom only (None: from anywhere)."""
    step = args.plan.ssh_firewall
    if step is None:
        return None
    return run_step(
        name,
        args.conn,
        step,
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[args.ready])),
    )
