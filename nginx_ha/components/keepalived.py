"""KeepalivedNode: keepalived on a load balancer, the stage phase of its part.

wait-ready → build (verified source, idempotent, into a folder of its own per build)
→ staged files (VRRP firewall, the VRRP secret on stdin, check, state and watcher
scripts, the watcher's and keepalived's units, keepalived.conf checked by the build
that will read it) → LVS real server (nginx-ha:lvs). Nothing here changes what the
node runs: the node's activation swaps the staged files in, one node at a time behind
gates. The VRRP secret travels on stdin into a root-only file; keepalived.conf
references that file and never holds the secret. What each step runs is the node's
plan (render/parts.py); this component only wires it.
"""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from nginx_ha.components.remote import (
    NodeStepArgs,
    StagedFile,
    run_step,
    stage_secrets,
    upload_files,
)


class KeepalivedNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:KeepalivedNode"

    def __init__(self, name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        part = args.plan.part("keepalived")

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[args.ready, *deps])

        # -- build: from a URL, a git tag, or a tarball uploaded from the operator's
        # machine, into a folder of its own (the running build is not touched)
        uploads = upload_files(name, args.conn, part.uploads, after())
        self.build: remote.Command | None = None
        build_deps: list[pulumi.Resource] = []
        build = part.step("keepalived-build")
        if build is not None:  # the program builds it (the lab runs a given one)
            # A cold build on a small VM takes minutes (12-14 under emulation); its
            # downloads are bounded in the script (pulumi-command ignores
            # customTimeouts).
            self.build = run_step(name, args.conn, build, after(*uploads))
            build_deps = [self.build]

        # -- the VRRP secret, staged in the root-only file keepalived.conf references
        secrets, self.secret_digests = stage_secrets(name, args, part.secrets, self)
        self.auth: remote.Command | None = secrets[0] if secrets else None

        # -- staged files: scripts, units, firewall, keepalived.conf (checked last, by
        # the build that will read it, with the staged copies of what it names)
        self.staged: dict[str, StagedFile] = {}
        for artefact in part.artefacts:
            deps: list[pulumi.Resource] = [args.ready]
            if artefact.role == "keepalived-conf":
                deps += [*build_deps, *self.staged.values(), *([self.auth] if self.auth else [])]
            if artefact.role == "keepalived-unit":
                deps += build_deps  # the unit names the build's binary
            self.staged[artefact.role] = StagedFile(
                f"{name}-{artefact.role}",
                conn=args.conn,
                artefact=artefact,
                layout=args.layout,
                depends_on=deps,
                opts=pulumi.ResourceOptions(parent=self),
            )

        # -- LVS real server (nginx-ha:lvs): VIPs on lo, arp sysctls, the fwmark rule.
        # Its delete command removes all of it, so turning LVS off (the resource goes
        # away) cleans the node; delete_before_replace: a changed setup is removed
        # before the new one is applied, never after it.
        self.lvs: remote.Command | None = None
        lvs = part.step("lvs-realserver")
        if lvs is not None:
            self.lvs = run_step(
                name,
                args.conn,
                lvs,
                pulumi.ResourceOptions.merge(
                    after(), pulumi.ResourceOptions(delete_before_replace=True)
                ),
            )

        self.conf_digest = self.staged["keepalived-conf"].digest
        self.steps: list[pulumi.Resource] = [
            *build_deps,
            *self.staged.values(),
            *([self.auth] if self.auth else []),
            *([self.lvs] if self.lvs else []),
        ]
        self.register_outputs({"confDigest": self.conf_digest})
