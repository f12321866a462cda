"""The pieces of a node's plan (pure values): the files a rollout brings (artefacts),
the secrets staged on stdin, the commands the program runs outside the rollout
(steps), and one part's share of them.

render/parts.py builds each part's pieces; render/plan.py puts a node's parts together;
the Pulumi components turn the pieces into resources, the lab and the offline render
write them.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from nginx_ha.render.files import OWNER, STEPS_DIR
from nginx_ha.render.params import script_text
from nginx_ha.render.templates import script, sha256
from nginx_ha.topology import Layout

ItemKind = Literal["file", "secret", "unit", "link", "run"]
Validator = Literal[
    "nginx", "keepalived", "bash", "marker", "unit", "x509", "tomcat-context", "none"
]


@dataclass(frozen=True)
class Artefact:
    """One file a node gets through a rollout: uploaded and validated by the stage
    phase, swapped in by the activation."""

    role: str  # the step's name part: "nginx-conf", "vrrp-firewall", ...
    part: str  # the part (and so the component) that stages it: "nginx", ...
    kind: ItemKind
    target: str  # its path on the node ("run": a name)
    text: str
    mode: str  # render/files.py
    validator: Validator
    action: str  # what a change needs: see activate.sh
    validate: dict[str, str] = field(default_factory=dict)  # the validator's parameters
    owner: str = OWNER

    @property
    def digest(self) -> str:
        return sha256(self.text)

    @property
    def path(self) -> str:
        """Where the offline render (and configHashes) shows it: its path on the node,
        or, for a script the activation runs, ``/steps/<name>.sh``."""
        return step_path(self.target) if self.kind == "run" else self.target

    def staged(self, layout: Layout) -> str:
        return posixpath.join(layout.release_dir, self.digest[:16], posixpath.basename(self.target))

    def uploaded(self, layout: Layout) -> str:
        return posixpath.join(
            layout.upload_dir, f"{self.digest[:16]}-{posixpath.basename(self.target)}"
        )

    def item(self, layout: Layout) -> Item:
        return Item(self.kind, self.target, self.staged(layout), self.mode, self.action, self.owner)


@dataclass(frozen=True)
class SecretFile:
    """A file holding a secret: its text is known only from the secret's value (a
    Pulumi secret, or the lab's), which travels on stdin into its one staged slot."""

    role: str  # "keepalived-auth"
    part: str
    key: str  # the secret's config key without the namespace ("vrrpAuthPass")
    target: str
    staged: str  # render/artefacts.py staged_secret
    mode: str
    action: str
    text_of: Callable[[str], str]  # the file's text from the secret's value
    owner: str = OWNER
    # "base64": the text is the file's bytes base64-encoded (a ticket key); the stage
    # step decodes it on the node.
    decode: Literal["", "base64"] = ""

    def item(self) -> Item:
        return Item("secret", self.target, self.staged, self.mode, self.action, self.owner)

    @property
    def stage(self) -> Step:
        """Its stage step: the text on stdin into its slot, root-only
        (templates/scripts/stage_secret.sh)."""
        params = {"STAGED": self.staged} | ({"DECODE": self.decode} if self.decode else {})
        return Step(self.role, "stage_secret.sh", params)


@dataclass(frozen=True)
class Item:
    """One line of a node's manifest (what its activation applies)."""

    kind: ItemKind
    target: str
    staged: str
    mode: str
    action: str
    owner: str = OWNER

    def line(self) -> str:
        return "\t".join((self.kind, self.target, self.staged, self.mode, self.action, self.owner))


@dataclass(frozen=True)
class Step:
    """A command the program runs on the node outside the rollout's files (an install,
    a build, a setup with its undo): templates/scripts/``script`` with its
    parameters at its top, as root."""

    role: str  # the resource's name part: "nginx-install", "keepalived-build", ...
    script: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    delete_params: Mapping[str, str | int] | None = None  # its undo (the resource's delete)

    @property
    def text(self) -> str:
        """The script as the node runs it (the offline render's steps/ copy)."""
        return script_text(script(self.script), self.params)

    @property
    def command(self) -> str:
        return node_command(self.text)

    @property
    def delete_command(self) -> str | None:
        if self.delete_params is None:
            return None
        return node_command(script_text(script(self.script), self.delete_params))

    @property
    def path(self) -> str:
        return step_path(self.role)


@dataclass(frozen=True)
class Upload:
    """A file of the operator's machine copied to the node (a keepalived tarball)."""

    role: str
    local: str
    remote: str
    digest: str  # what it must be (its trigger)


@dataclass(frozen=True)
class PartPlan:
    """What one part of a node (nginx, keepalived, Tomcat) brings to it."""

    name: str
    artefacts: tuple[Artefact, ...] = ()
    secrets: tuple[SecretFile, ...] = ()
    links: tuple[Item, ...] = ()  # binaries put on PATH by the activation
    steps: tuple[Step, ...] = ()
    uploads: tuple[Upload, ...] = ()
    # activate.sh's parameters for this part (its daemons' restart commands, ...).
    activation: Mapping[str, str] = field(default_factory=dict)

    def artefact(self, role: str) -> Artefact:
        return next(a for a in self.artefacts if a.role == role)

    def step(self, role: str) -> Step | None:
        return next((s for s in self.steps if s.role == role), None)


def node_command(text: str) -> str:
    """The command line that runs a script as root on a node: ``sudo bash -c`` with the
    text quoted (parameters are at its top: sshd drops client environment variables)."""
    return "sudo bash -c " + shlex.quote(text)


def step_path(name: str) -> str:
    return f"{STEPS_DIR}/{name}.sh"


def staged_secret(layout: Layout, target: str) -> str:
    """The one staged slot of a secret file (root-only folder; its content never names a
    digest, which would leak a hash of the secret into plain state)."""
    return posixpath.join(layout.release_dir, "secret", posixpath.basename(target))


def stage_step(artefact: Artefact, layout: Layout) -> Step:
    """The stage step of an uploaded artefact (templates/scripts/stage.sh)."""
    return Step(f"{artefact.role}-stage", "stage.sh", stage_params(artefact, layout))


def stage_params(artefact: Artefact, layout: Layout) -> dict[str, str]:
    """stage.sh's parameters for one artefact."""
    return {
        "UPLOADED": artefact.uploaded(layout),
        "STAGED": artefact.staged(layout),
        "MODE": artefact.mode,
        "OWNER": artefact.owner,
        "VALIDATOR": artefact.validator,
        **artefact.validate,
    }
