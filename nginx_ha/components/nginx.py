"""NginxNode: nginx on a load balancer: the package, then the stage phase of nginx.conf
(validated with ``nginx -t`` against the staged copy) and of its HTTP firewall rule.
The node's activation swaps them in and reloads nginx, one node at a time."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from nginx_ha import render
from nginx_ha.components.remote import NodeStepArgs, StagedFile, script_command
from nginx_ha.render.rollout import NGINX_ROLES, load_balancer_artefacts


class NginxNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:NginxNode"

    def __init__(self, name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        topo, layout = args.topo, args.layout
        after_ready = pulumi.ResourceOptions(parent=self, depends_on=[args.ready])

        # The package (its default site answers until the activation swaps our file in).
        install = script_command(
            "install_nginx.sh", {"ACTION": "install", "NGINX_PID": layout.nginx_pid}
        )
        self.install = remote.Command(
            f"{name}-nginx-install",
            connection=args.conn,
            create=install,
            triggers=[render.sha256(install)],
            opts=after_ready,
        )

        self.staged: dict[str, StagedFile] = {}
        for artefact in load_balancer_artefacts(topo, args.node, layout):
            if artefact.role not in NGINX_ROLES:
                continue
            self.staged[artefact.role] = StagedFile(
                f"{name}-{artefact.role}",
                conn=args.conn,
                artefact=artefact,
                layout=layout,
                depends_on=[args.ready, self.install],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.conf_digest = self.staged["nginx-conf"].digest
        self.steps: list[pulumi.Resource] = [self.install, *self.staged.values()]
        self.register_outputs({"confDigest": self.conf_digest})
