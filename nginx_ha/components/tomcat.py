"""TomcatNode: Tomcat on a backend: the package, then the stage phase of its port, its
firewall rule (the port from the load balancers only) and its ROOT page (which names
the node and its role, so a request through the VIP shows which backend answered).
The node's activation applies them, one backend at a time."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from nginx_ha import render
from nginx_ha.components.remote import NodeStepArgs, StagedFile, script_command
from nginx_ha.render.rollout import backend_artefacts


class TomcatNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:TomcatNode"

    def __init__(self, name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        after_ready = pulumi.ResourceOptions(parent=self, depends_on=[args.ready])

        install = script_command("install_tomcat.sh", {"ACTION": "install"})
        self.install = remote.Command(
            f"{name}-tomcat-install",
            connection=args.conn,
            create=install,
            triggers=[render.sha256(install)],
            opts=after_ready,
        )
        self.staged: dict[str, StagedFile] = {
            a.role: StagedFile(
                f"{name}-{a.role}",
                conn=args.conn,
                artefact=a,
                layout=args.layout,
                depends_on=[args.ready, self.install],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for a in backend_artefacts(args.topo, args.node, args.layout)
        }
        self.page_digest = self.staged["tomcat-page"].digest
        self.steps: list[pulumi.Resource] = [self.install, *self.staged.values()]
        self.register_outputs({"pageDigest": self.page_digest})
