"""Remote steps over SSH (pulumi_command): the connection, a node's steps (wait-ready,
installs, builds, setups), staged files and secrets, a node's activation and handback.

Every remote step of a VM depends on its wait-ready step. What each step runs comes
from the node's plan (render/plan.py): scripts are template files run through
``sudo bash -c`` with their parameters set at the top (sshd drops client environment
variables unless AcceptEnv allows them, so ``environment=`` is never used); secrets
travel on stdin, never in a command string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_command import remote

from nginx_ha.render import sha256
from nginx_ha.render.artefacts import (
    Artefact,
    SecretFile,
    Step,
    Upload,
    node_command,
    stage_step,
)
from nginx_ha.render.params import script_text
from nginx_ha.render.plan import NodePlan
from nginx_ha.topology import Layout, Topology

NO_LOG = remote.Logging.NONE
SECRET_OUTPUTS = ["stdout", "stderr"]


@dataclass
class NodeStepArgs:
    """What every node component gets: the deployment, the node's plan, the SSH
    connection, the node's wait-ready step (everything runs after it), and the stack's
    secrets by config key (secret Outputs: ``vrrpAuthPass``, ``tls.key``, ...), from
    which the plan's secret files are made."""

    topo: Topology
    plan: NodePlan
    conn: remote.ConnectionArgs
    ready: pulumi.Resource
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)

    def secret(self, slot: SecretFile) -> pulumi.Output[str]:
        if slot.key not in self.secrets:
            raise ValueError(
                f"{self.plan.name}: {slot.target} needs the secret {slot.key}, which was "
                "not given (NginxHaStackArgs, or the stack's config)"
            )
        return self.secrets[slot.key]

    @property
    def layout(self) -> Layout:
        return self.plan.layout


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


def run_step(
    name: str,
    conn: remote.ConnectionArgs,
    step: Step,
    opts: pulumi.ResourceOptions,
    triggers: Sequence[pulumi.Input[str]] | None = None,
) -> remote.Command:
    """``{name}-{step.role}``: the step's command (and its undo as the delete), run again
    when the command changes (or ``triggers``, when given)."""
    return remote.Command(
        f"{name}-{step.role}",
        connection=conn,
        create=step.command,
        delete=step.delete_command,
        triggers=list(triggers) if triggers is not None else [sha256(step.command)],
        opts=opts,
    )


def upload_files(
    name: str, conn: remote.ConnectionArgs, uploads: Sequence[Upload], opts: pulumi.ResourceOptions
) -> list[remote.CopyToRemote]:
    """``{name}-{role}`` per file of the operator's machine the part uploads (a
    keepalived tarball, the application's WAR), copied again when its digest changes."""
    return [
        remote.CopyToRemote(
            f"{name}-{u.role}",
            connection=conn,
            source=pulumi.FileAsset(u.local),
            remote_path=u.remote,
            triggers=[u.digest],
            opts=opts,
        )
        for u in uploads
    ]


def wait_ready(
    plan: NodePlan, conn: remote.ConnectionArgs, opts: pulumi.ResourceOptions
) -> remote.Command:
    """Retries until SSH answers, then waits for cloud-init to finish on the VM (and
    makes the pinned public host key readable, templates/scripts/wait_ready.sh)."""
    # A new instance (replaced domain) is a new machine to wait for.
    return run_step(plan.name, conn, plan.wait_ready, opts, triggers=[plan.node.instance_id])


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
            create=stage_step(artefact, layout).command,
            triggers=[self.digest],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[upload, *depends_on]),
        )
        self.register_outputs({"digest": self.digest, "staged": self.staged})


def stage_secret(
    name: str,
    *,
    conn: remote.ConnectionArgs,
    slot: SecretFile,
    secret: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
    depends_on: Sequence[pulumi.Resource] = (),
) -> tuple[remote.Command, pulumi.Output[str]]:
    """Stage a secret file as a root-owned 0600 file in its slot; the text travels on
    stdin only. Returns the step and the text's digest (a secret, like its source:
    a new secret needs an activation even when no file changes)."""
    text = pulumi.Output.secret(secret.apply(slot.text_of))
    command = remote.Command(
        name,
        connection=conn,
        create=slot.stage.command,
        stdin=text,
        logging=NO_LOG,
        triggers=[text.apply(sha256)],
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                depends_on=list(depends_on), additional_secret_outputs=SECRET_OUTPUTS
            ),
        ),
    )
    return command, text.apply(sha256)


def stage_secrets(
    name: str, args: NodeStepArgs, slots: Sequence[SecretFile], parent: pulumi.Resource
) -> tuple[list[remote.Command], list[pulumi.Output[str]]]:
    """``{name}-{slot.role}`` per secret file of a part: its steps, and the digests of
    their texts (secret: a new secret needs an activation even when no file changes)."""
    steps, digests = [], []
    for slot in slots:
        step, digest = stage_secret(
            f"{name}-{slot.role}",
            conn=args.conn,
            slot=slot,
            secret=args.secret(slot),
            opts=pulumi.ResourceOptions(parent=parent),
            depends_on=[args.ready],
        )
        steps.append(step)
        digests.append(digest)
    return steps, digests


def activation(
    plan: NodePlan,
    conn: remote.ConnectionArgs,
    triggers: Sequence[pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> remote.Command:
    """``{node}-activate``: the node's activation (templates/scripts/activate.sh): swap
    in what its stage phase validated, restart what it touches, gate, roll back on a
    failed gate."""
    return remote.Command(
        f"{plan.name}-activate",
        connection=conn,
        create=_text_command(plan.activation),
        triggers=list(triggers),
        opts=opts,
    )


def handback(
    plan: NodePlan, conn: remote.ConnectionArgs, digest: str, opts: pulumi.ResourceOptions
) -> remote.Command:
    """``{node}-handback``: a VRRP node hands the VIPs it holds for another node back
    to it (templates/scripts/handback.sh); it runs whenever an activation may have."""
    assert plan.handback is not None, f"{plan.name} takes no part in VRRP"
    return remote.Command(
        f"{plan.name}-handback",
        connection=conn,
        create=_text_command(plan.handback),
        triggers=[digest],
        opts=opts,
    )


def _text_command(text: str) -> str:
    """A whole script (its parameters at its top) as root: the preamble, then it."""
    return node_command(script_text(text))
