"""Remote steps over SSH (pulumi_command): the connection, wait-ready, staged files and
secrets, and a node's activation.

Every remote step of a VM depends on its wait-ready step. Scripts are template files
(``nginx_ha/templates/scripts``) run through ``sudo bash -c`` with their parameters
set at the top (``render.params.param_header``; sshd drops client environment
variables unless AcceptEnv allows them, so ``environment=`` is never used); secrets
travel on stdin, never in a command string.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from nginx_ha.render import script, sha256
from nginx_ha.render.params import script_text
from nginx_ha.render.rollout import Artefact, stage_params
from nginx_ha.topology import Layout, Node, Topology
from nginx_ha.topology.hostkeys import PUBLIC_KEY_FILE

NO_LOG = remote.Logging.NONE
SECRET_OUTPUTS = ["stdout", "stderr"]


@dataclass
class NodeStepArgs:
    """What every node component gets: the deployment, its node, where files live on
    it, the SSH connection, and the node's wait-ready step (everything runs after it)."""

    topo: Topology
    node: Node
    layout: Layout
    conn: remote.ConnectionArgs
    ready: pulumi.Resource


def connection(
    host: str, user: str, private_key: pulumi.Input[str], host_key: pulumi.Input[str]
) -> remote.ConnectionArgs:
    """The SSH connection to a VM. ``private_key`` must be a secret Output.
    ``host_key`` ("ssh-ed25519 AAAA...") is the node's own host key
    (nginx_ha/topology/hostkeys.py): the provider refuses any other server key, so
    whoever else answers at the address gets neither a command nor a secret."""
    return remote.ConnectionArgs(
        host=host,
        user=user,
        private_key=private_key,
        host_key=host_key,
        # A fresh clone needs a few minutes to boot (software emulation: ~2 min); the
        # first dial retries for up to 90 x 10 s before the step fails.
        dial_error_limit=90,
        per_dial_timeout=10,
    )


def script_command(name: str, params: Mapping[str, str | int] | None = None) -> str:
    """A command that runs templates/scripts/``name`` as root with ``params`` at its top."""
    return script_text_command(script(name), params)


def script_text_command(text: str, params: Mapping[str, str | int] | None = None) -> str:
    return "sudo bash -c " + shlex.quote(script_text(text, params))


def wait_ready(
    name: str, conn: remote.ConnectionArgs, instance_id: str, opts: pulumi.ResourceOptions
) -> remote.Command:
    """Retries until SSH answers, then waits for cloud-init to finish on the VM (and
    makes the pinned public host key readable, templates/scripts/wait_ready.sh)."""
    return remote.Command(
        f"{name}-wait-ready",
        connection=conn,
        create=script_command("wait_ready.sh", {"HOST_KEY_PUB": PUBLIC_KEY_FILE}),
        # A new instance (replaced domain) is a new machine to wait for.
        triggers=[instance_id],
        opts=opts,
    )


class StagedFile(pulumi.ComponentResource):
    """The stage phase of one file: uploaded, validated with the real tool, and kept in
    its release folder until the node's activation swaps it in. A file that fails
    validation is not staged, and the step fails with the tool's message."""

    TYPE = "nginx-ha:index:StagedFile"

    def __init__(
        self,
        name: str,
        *,
        conn: remote.ConnectionArgs,
        artefact: Artefact,
        layout: Layout,
        opts: pulumi.ResourceOptions | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ):
        """``depends_on``: what both steps wait for (a component's own depends_on does
        not reach its children), e.g. the step that installs the validating tool."""
        super().__init__(self.TYPE, name, None, opts)
        self.artefact = artefact
        self.digest = artefact.digest
        self.staged = artefact.staged(layout)
        upload = remote.CopyToRemote(
            f"{name}-upload",
            connection=conn,
            source=pulumi.StringAsset(artefact.text),
            remote_path=artefact.uploaded(layout),
            triggers=[self.digest],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.command = remote.Command(
            f"{name}-stage",
            connection=conn,
            create=script_command("stage.sh", stage_params(artefact, layout)),
            triggers=[self.digest],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[upload, *depends_on]),
        )
        self.register_outputs({"digest": self.digest, "staged": self.staged})


def stage_secret(
    name: str,
    *,
    conn: remote.ConnectionArgs,
    secret: pulumi.Output[str],
    staged: str,
    opts: pulumi.ResourceOptions,
    depends_on: Sequence[pulumi.Resource] = (),
) -> remote.Command:
    """Stage a secret as a root-owned 0600 file; the value travels on stdin only."""
    return remote.Command(
        name,
        connection=conn,
        create=script_command("stage_secret.sh", {"STAGED": staged}),
        stdin=secret,
        logging=NO_LOG,
        triggers=[secret.apply(sha256)],
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                depends_on=list(depends_on), additional_secret_outputs=SECRET_OUTPUTS
            ),
        ),
    )
