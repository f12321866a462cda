"""TomcatNode: Tomcat on a backend: the package, then the stage phase of its part's
files (its port, its firewall rule set: the port from the load balancers only, and its
ROOT page, which names the node and its role so a request through the VIP shows which
backend answered). The node's activation applies them, one backend at a time."""

from __future__ import annotations

import pulumi

from nginx_ha.components.remote import NodeStepArgs, StagedFile, run_step


class TomcatNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:TomcatNode"

    def __init__(self, name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        part = args.plan.part("tomcat")
        install = part.step("tomcat-install")
        assert install is not None
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
        self.page_digest = self.staged["tomcat-page"].digest
        self.steps: list[pulumi.Resource] = [self.install, *self.staged.values()]
        self.register_outputs({"pageDigest": self.page_digest})
