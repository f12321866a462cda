"""The SSH port's firewall rule (ssh.allowFrom), one step per node; kept apart from the
service rules each node component opens. No step at all with the default (anywhere)."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from nginx_ha import render
from nginx_ha.components.remote import NodeStepArgs, script_command
from nginx_ha.render.params import ssh_firewall_params


def ssh_firewall(
    name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions
) -> remote.Command | None:
    """``{name}-ssh-firewall``: SSH from ssh.allowFrom only (None: from anywhere)."""
    params = ssh_firewall_params(args.topo)
    if params is None:
        return None
    command = script_command("firewall.sh", params)
    return remote.Command(
        f"{name}-ssh-firewall",
        connection=args.conn,
        create=command,
        triggers=[render.sha256(command)],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[args.ready])),
    )
