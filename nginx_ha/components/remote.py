"""Helpers around pulumi_command: the SSH connection, wait-ready, scripts, files.

Every remote step of a VM depends on its wait-ready step. Scripts run through
``sudo bash -c`` with their parameters set at the top of the command (sshd drops
client environment variables unless AcceptEnv allows them, so ``environment=`` is
never used); secrets travel on stdin, never in a command string.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from nginx_ha.render import sha256
from nginx_ha.render.params import param_header
from nginx_ha.topology import Layout, Node, Topology

STAGING_DIR = "/var/tmp/nginx-ha"  # survives reboots of the VM, unlike /tmp
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


def script_command(script: str, params: Mapping[str, str | int] | None = None) -> str:
    """A command that runs ``script`` as root with ``params`` set at its top."""
    return "sudo bash -c " + shlex.quote("set -euo pipefail\n" + param_header(params) + script)


def wait_ready(
    name: str, conn: remote.ConnectionArgs, instance_id: str, opts: pulumi.ResourceOptions
) -> remote.Command:
    """Retries until SSH answers, then waits for cloud-init to finish on the VM."""
    return remote.Command(
        f"{name}-wait-ready",
        connection=conn,
        create=script_command(
            "status=0; cloud-init status --wait >/dev/null || status=$?\n"
            "# 0: done; 2: done with recoverable errors (cloud-init >= 23.4)\n"
            'if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then\n'
            "  cloud-init status --long >&2 || true\n"
            '  echo "nginx-ha: cloud-init failed on $(hostname) (status $status)" >&2\n'
            "  exit 1\n"
            "fi\n"
            'echo "ready: $(hostname) $(cat /etc/machine-id)"\n'
        ),
        # A new instance (replaced domain) is a new machine to wait for.
        triggers=[instance_id],
        opts=opts,
    )


class ValidatedFile(pulumi.ComponentResource):
    """Upload a rendered file to a staging path, validate it there with the real tool,
    move it into place atomically, then reload. On a failed validation the old file
    stays and the step fails with the tool's message."""

    TYPE = "nginx-ha:index:ValidatedFile"

    def __init__(
        self,
        name: str,
        *,
        conn: remote.ConnectionArgs,
        text: str,
        target: str,
        validate: str,
        reload: str,
        mode: str = "0644",
        opts: pulumi.ResourceOptions | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ):
        """``validate`` is a shell command in which ``$STAGED`` is the uploaded copy.
        ``depends_on``: what both steps wait for (a component's own depends_on does
        not reach its children), e.g. the step that installs the validating tool."""
        super().__init__(self.TYPE, name, None, opts)
        digest = sha256(text)
        staged = posixpath.join(STAGING_DIR, f"{digest[:12]}-{posixpath.basename(target)}")
        self.digest = digest
        upload = remote.CopyToRemote(
            f"{name}-upload",
            connection=conn,
            source=pulumi.StringAsset(text),
            remote_path=staged,
            triggers=[digest],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        self.command = remote.Command(
            f"{name}-install",
            connection=conn,
            create=script_command(
                INSTALL_FILE,
                {
                    "STAGED": staged,
                    "TARGET": target,
                    "MODE": mode,
                    "VALIDATE": validate,
                    "RELOAD": reload,
                },
            ),
            triggers=[digest],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[upload, *depends_on]),
        )
        self.register_outputs({"digest": self.digest})


# Parameters: STAGED TARGET MODE VALIDATE RELOAD (set at the top by script_command).
INSTALL_FILE = r"""
if ! out=$(STAGED="$STAGED" bash -c "$VALIDATE" 2>&1); then
  printf '%s\n' "$out" >&2
  echo "nginx-ha: $TARGET left unchanged: the new version failed validation" >&2
  exit 1
fi
install -d -m 0755 "$(dirname "$TARGET")"
install -m "$MODE" -o root -g root "$STAGED" "$TARGET.nginx-ha-new"
mv -f "$TARGET.nginx-ha-new" "$TARGET"
rm -f "$STAGED"
bash -c "$RELOAD"
echo "installed $TARGET ($(sha256sum "$TARGET" | cut -c1-12))"
"""


def secret_file(
    name: str,
    *,
    conn: remote.ConnectionArgs,
    secret: pulumi.Output[str],
    target: str,
    opts: pulumi.ResourceOptions,
    depends_on: Sequence[pulumi.Resource] = (),
) -> remote.Command:
    """Write a secret to a root-owned 0600 file; the value travels on stdin only."""
    return remote.Command(
        name,
        connection=conn,
        create=script_command(
            'umask 077\ninstall -d -m 0700 "$(dirname "$TARGET")"\n'
            'cat > "$TARGET.nginx-ha-new"\nmv -f "$TARGET.nginx-ha-new" "$TARGET"\n'
            'echo "wrote $TARGET (0600)"\n',
            {"TARGET": target},
        ),
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
