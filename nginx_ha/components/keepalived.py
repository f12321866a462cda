"""KeepalivedNode: keepalived on a load balancer, the stage phase of its files.

wait-ready → build (verified source, idempotent, into a folder of its own per build)
→ staged files (VRRP firewall, the VRRP secret on stdin, check, state and watcher
scripts, the watcher's and keepalived's units, keepalived.conf checked by the build
that will read it) → LVS real server (nginx-ha:lvs). Nothing here changes what the
node runs: the node's activation (nginx_ha.components.stack) swaps the staged files in,
one node at a time behind gates. The VRRP secret travels on stdin into a root-only
file; keepalived.conf references that file and never holds the secret.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from nginx_ha import render
from nginx_ha.components.remote import NodeStepArgs, StagedFile, script_command, stage_secret
from nginx_ha.config.models import Keepalived
from nginx_ha.render.params import LVS_SCRIPT, lvs_params
from nginx_ha.render.rollout import NGINX_ROLES, load_balancer_artefacts, staged_secret
from nginx_ha.topology import Layout

INSTALL_SCRIPT = "install_keepalived.sh"
# VRRP only unless nginx-ha:lvs is on: keepalived is built without IPVS then.
CONFIGURE_OPTIONS = "--disable-lvs"
# With nginx-ha:lvs: IPVS support, and the checker process that runs the virtual
# servers' health checks besides the VRRP one.
CONFIGURE_OPTIONS_LVS = "--enable-lvs"


@dataclass
class KeepalivedNodeArgs(NodeStepArgs):
    # The stack's VRRP secret as a secret Output (None: adverts unauthenticated).
    auth_secret: pulumi.Output[str] | None = None
    # What validating nginx-dependent files needs (nginx installed).
    nginx_installed: pulumi.Resource | None = None


def build_params(
    source: Keepalived, ipvs: bool, prefix: str, uploaded: str | None
) -> dict[str, str]:
    """The install script's parameters (set at the top of its command): build
    ``source`` with or without IPVS into ``prefix`` (the build's own folder)."""
    params = {
        "KEEPALIVED_VERSION": source.version,
        "PREFIX": prefix,
        "CONFIGURE_OPTIONS": configure_options(ipvs),
    }
    if source.git:
        params |= {"SOURCE_KIND": "git", "SOURCE": source.git, "GIT_COMMIT": source.commit or ""}
    elif source.url:
        params |= {"SOURCE_KIND": "url", "SOURCE": source.url, "SHA256": source.sha256 or ""}
    else:
        assert uploaded is not None, "a path source is uploaded first"
        params |= {"SOURCE_KIND": "file", "SOURCE": uploaded, "SHA256": source.sha256 or ""}
    return params


def configure_options(ipvs: bool) -> str:
    """./configure options: IPVS only where the node's keepalived needs it (a changed
    choice is another build, in a folder of its own)."""
    return CONFIGURE_OPTIONS_LVS if ipvs else CONFIGURE_OPTIONS


def uploaded_tarball_path(source: Keepalived, layout: Layout) -> str:
    return posixpath.join(layout.upload_dir, f"keepalived-{source.version}-{source.sha256}.tar.gz")


class KeepalivedNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:KeepalivedNode"

    def __init__(
        self, name: str, args: KeepalivedNodeArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(self.TYPE, name, None, opts)
        topo, node, layout = args.topo, args.node, args.layout
        source = topo.keepalived.source

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[args.ready, *deps])

        # -- build: from a URL, a git tag, or a tarball uploaded from the operator's
        # machine, into a folder of its own (the running build is not touched)
        self.build: remote.Command | None = None
        build_deps: list[pulumi.Resource] = []
        if not layout.keepalived_bin:  # the program builds it (the lab runs a given one)
            uploaded = None
            if source.path:
                uploaded = uploaded_tarball_path(source, layout)
                build_deps.append(
                    remote.CopyToRemote(
                        f"{name}-keepalived-tarball",
                        connection=args.conn,
                        source=pulumi.FileAsset(source.path),
                        remote_path=uploaded,
                        triggers=[source.sha256],
                        opts=after(),
                    )
                )
            prefix = posixpath.join(layout.keepalived_builds, topo.keepalived.build_id)
            build_command = script_command(
                INSTALL_SCRIPT, build_params(source, topo.keepalived.ipvs, prefix, uploaded)
            )
            self.build = remote.Command(
                f"{name}-keepalived-build",
                connection=args.conn,
                create=build_command,
                triggers=[render.sha256(build_command)],
                # A cold build on a small VM takes minutes (12-14 under emulation); its
                # downloads are bounded in the script (pulumi-command ignores
                # customTimeouts).
                opts=after(*build_deps),
            )
            build_deps = [self.build]

        # -- the VRRP secret, staged in the root-only file keepalived.conf references
        self.auth: remote.Command | None = None
        self.auth_digest: pulumi.Output[str] | None = None
        auth_path = render.vrrp_auth_path(topo, layout)
        if auth_path is not None:
            if args.auth_secret is None:
                raise ValueError(f"{name}: VRRP authentication is on but no secret was given")
            text = pulumi.Output.secret(
                args.auth_secret.apply(lambda secret: render.vrrp_auth_file_text(topo, secret))
            )
            self.auth = stage_secret(
                f"{name}-keepalived-auth",
                conn=args.conn,
                secret=text,
                staged=staged_secret(layout, auth_path),
                opts=pulumi.ResourceOptions(parent=self),
                depends_on=[args.ready],
            )
            # A new secret needs an activation even when no file changes.
            self.auth_digest = text.apply(render.sha256)  # secret, like its source

        # -- staged files: scripts, units, firewall, keepalived.conf (checked last, by
        # the build that will read it, with the staged copies of what it names)
        self.staged: dict[str, StagedFile] = {}
        for artefact in load_balancer_artefacts(topo, node, layout):
            if artefact.role in NGINX_ROLES:
                continue
            deps: list[pulumi.Resource] = [args.ready]
            if artefact.role == "keepalived-conf":
                deps += [*build_deps, *self.staged.values(), *([self.auth] if self.auth else [])]
            if artefact.role == "keepalived-unit":
                deps += build_deps  # the unit names the build's binary
            self.staged[artefact.role] = StagedFile(
                f"{name}-{artefact.role}",
                conn=args.conn,
                artefact=artefact,
                layout=layout,
                depends_on=deps,
                opts=pulumi.ResourceOptions(parent=self),
            )

        # -- LVS real server (nginx-ha:lvs): VIPs on lo, arp sysctls, the fwmark rule.
        # Its delete command removes all of it, so turning LVS off (the resource goes
        # away) cleans the node; delete_before_replace: a changed setup is removed
        # before the new one is applied, never after it.
        self.lvs: remote.Command | None = None
        if topo.lvs is not None:
            lvs_up = script_command(LVS_SCRIPT, lvs_params(topo, node, "up"))
            self.lvs = remote.Command(
                f"{name}-lvs-realserver",
                connection=args.conn,
                create=lvs_up,
                delete=script_command(LVS_SCRIPT, lvs_params(topo, node, "down")),
                triggers=[render.sha256(lvs_up)],
                opts=pulumi.ResourceOptions.merge(
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
