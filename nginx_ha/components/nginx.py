"""NginxNode: nginx on a load balancer: the package, then the stage phase of its part's
files (nginx.conf validated with ``nginx -t`` against the staged copy, its HTTP
firewall rule set, the VIP hold). The node's activation swaps them in and reloads
nginx, one node at a time."""

from __future__ import annotations

import pulumi

from nginx_ha.components.remote import NodeStepArgs, StagedFile, run_step


class NginxNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:NginxNode"

    def __init__(self, name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        part = args.plan.part("nginx")
        install = part.step("nginx-install")
        assert install is not None
        # The package (its default site answers until the activation swaps our file in).
        self.install = run_step(
            name, args.conn, install, pulumi.ResourceOptions(parent=self, depends_on=[args.ready])
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
            for a in part.artefacts
        }
        self.conf_digest = self.staged["nginx-conf"].digest
        self.steps: list[pulumi.Resource] = [self.install, *self.staged.values()]
        self.register_outputs({"confDigest": self.conf_digest})
