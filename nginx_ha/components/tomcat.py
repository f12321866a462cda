"""TomcatNode: Tomcat on a backend: the package, then the stage phase of its part's
files (its port, its firewall rule set: the port from the load balancers only, and its
ROOT page, which names the node and its role so a request through the VIP shows which
backend answered) and, with nginx-ha:app, the application: its WAR uploaded (or
fetched by the node), verified and unpacked into a release folder of its own, then its
context descriptor (checked against that release) and JVM options staged. The node's
activation applies them, one backend at a time, Tomcat drained and restarted."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from nginx_ha.components.remote import NodeStepArgs, StagedFile, run_step, upload_files
from nginx_ha.render.app import app_summary, staged_version
from nginx_ha.topology import Topology


class TomcatNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:TomcatNode"

    def __init__(self, name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        part = args.plan.part("tomcat")

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[args.ready, *deps])

        install = part.step("tomcat-install")
        assert install is not None
        self.install = run_step(name, args.conn, install, after())
        # -- the application (nginx-ha:app): uploaded, verified, unpacked
        uploads = upload_files(name, args.conn, part.uploads, after())
        app = part.step("app-stage")
        self.app: remote.Command | None = (
            run_step(name, args.conn, app, after(self.install, *uploads)) if app else None
        )
        self.staged: dict[str, StagedFile] = {
            a.role: StagedFile(
                f"{name}-{a.role}",
                conn=args.conn,
                artefact=a,
                layout=args.layout,
                # The descriptor is checked against the release it names.
                depends_on=[args.ready, self.install, *([self.app] if self.app else [])],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for a in part.artefacts
        }
        self.page_digest = self.staged["tomcat-page"].digest
        self.steps: list[pulumi.Resource] = [
            self.install,
            *uploads,
            *([self.app] if self.app else []),
            *self.staged.values(),
        ]
        self.register_outputs({"pageDigest": self.page_digest})


def app_output(topo: Topology, nodes: dict[str, TomcatNode]) -> dict[str, object] | None:
    """The stack's ``app`` output: the application (its source, SHA-256, release,
    context, health path) and per backend the version its stage step unpacked (the
    WAR manifest's; known before the run for a local WAR)."""
    if topo.app is None:
        return None
    summary = app_summary(topo.app)
    known = topo.app.version

    def version(node: TomcatNode) -> pulumi.Input[str | None]:
        if node.app is None:
            return known
        return node.app.stdout.apply(lambda out: staged_version(out or "") or known)

    backends = {
        name: {"sha256": topo.app.sha256, "version": version(node)} for name, node in nodes.items()
    }
    return {**summary, "backends": backends}
