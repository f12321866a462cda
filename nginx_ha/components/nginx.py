"""NginxNode: nginx on a load balancer: the package, then the stage phase of its part's
files (nginx.conf validated with ``nginx -t`` against the staged copy, its HTTP(S)
firewall rule sets, the VIP hold) and, with nginx-ha:tls, of the certificate chain,
its key and the session ticket keys (the key and ticket keys on stdin into root-only
files, before nginx.conf, which ``nginx -t`` reads them with). The node's activation
swaps them in and reloads nginx, one node at a time."""

from __future__ import annotations

import pulumi

from nginx_ha.components.remote import NodeStepArgs, StagedFile, run_step, stage_secrets


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
        secrets, self.secret_digests = stage_secrets(name, args, part.secrets, self)
        self.staged: dict[str, StagedFile] = {}
        for a in part.artefacts:
            deps: list[pulumi.Resource] = [args.ready, self.install]
            if a.role == "nginx-conf":  # nginx -t reads the staged TLS files it names
                deps += [*secrets, *self.staged.values()]
            self.staged[a.role] = StagedFile(
                f"{name}-{a.role}",
                conn=args.conn,
                artefact=a,
                layout=args.layout,
                depends_on=deps,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.conf_digest = self.staged["nginx-conf"].digest
        self.steps: list[pulumi.Resource] = [self.install, *self.staged.values(), *secrets]
        self.register_outputs({"confDigest": self.conf_digest})
