"""One plan per node, computed once from the topology: its kind, its parts' artefacts
and secrets, its steps, its activation and handback. Everything else is read off it:

- the Pulumi components take their part's slice (``NodePlan.part``);
- ``NodePlan.files``: every file the node keeps, by path (the lab installs these);
- ``NodePlan.rendered``: those and the steps as the node receives them, under
  ``/steps`` (the offline render);
- ``NodePlan.hashes``: the sha256 of everything rendered but secrets (the
  ``configHashes`` output, and the smoke test's triggers).

So each file a node gets is rendered once per run, and a change to any of them (a
unit, a firewall rule set, an install step) shows in the hashes and reruns the smoke
test. Pure.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import nginx_ha.render.files as files
from nginx_ha.render.artefacts import Artefact, PartPlan, SecretFile, Step, Upload, step_path
from nginx_ha.render.params import smoke_params, wait_ready_params
from nginx_ha.render.params import ssh_firewall_params as ssh_rule_params
from nginx_ha.render.parts import PARTS
from nginx_ha.render.rollout import activation_script, handback_script
from nginx_ha.render.templates import sha256
from nginx_ha.topology import Layout, Node, Topology
from nginx_ha.topology.selfsigned import self_signed

SMOKE_SCRIPT = "smoke.sh"


@dataclass(frozen=True)
class NodePlan:
    node: Node
    layout: Layout
    parts: tuple[PartPlan, ...]  # in the kind's order
    wait_ready: Step  # every remote step of the node runs after it
    ssh_firewall: Step | None  # ssh.allowFrom (None: anywhere, no rule)
    activation: str  # the activation as the node runs it
    handback: str | None  # VRRP nodes: the handback after the rollout

    @property
    def name(self) -> str:
        return self.node.name

    def part(self, name: str) -> PartPlan:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(f"{self.node.name} ({self.node.kind.name}) has no part {name!r}")

    @property
    def artefacts(self) -> tuple[Artefact, ...]:
        return tuple(a for p in self.parts for a in p.artefacts)

    @property
    def secrets(self) -> tuple[SecretFile, ...]:
        return tuple(s for p in self.parts for s in p.secrets)

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every command the program runs on the node outside the rollout's files."""
        own = (self.wait_ready, *((self.ssh_firewall,) if self.ssh_firewall else ()))
        return (*own, *(s for p in self.parts for s in p.steps))

    @property
    def uploads(self) -> tuple[Upload, ...]:
        return tuple(u for p in self.parts for u in p.uploads)

    def files(self, secrets: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every file the node keeps, by its path on the node: the files and units of
        its parts, and each secret file whose secret is in ``secrets`` (by config key,
        e.g. ``vrrpAuthPass``; left out otherwise). A file kept as bytes (a ticket key)
        is given base64-encoded: :meth:`on_disk` is what a writer writes."""
        out = {a.target: a.text for a in self.artefacts if a.kind != "run"}
        for s in self.secrets:
            if secrets and s.key in secrets:
                out[s.target] = s.text_of(secrets[s.key])
        return out

    def on_disk(self, path: str, text: str) -> bytes:
        """What a writer writes at ``path``: the text, or the bytes it encodes."""
        for s in self.secrets:
            if s.target == path and s.decode == "base64":
                return base64.b64decode(text, validate=True)
        return text.encode()

    def rendered(self, secrets: Mapping[str, str] | None = None) -> dict[str, str]:
        """:meth:`files` and, under ``/steps``, every script the program runs on the
        node: its steps, the rollout's run-once scripts, the activation, the handback."""
        out = self.files(secrets)
        out |= {s.path: s.text for s in self.steps}
        out |= {a.path: a.text for a in self.artefacts if a.kind == "run"}
        out[step_path("activate")] = self.activation
        if self.handback is not None:
            out[step_path("handback")] = self.handback
        return out

    def mode(self, path: str) -> str:
        """The mode of a rendered file (:meth:`rendered`'s paths)."""
        for a in self.artefacts:
            if a.path == path:
                return a.mode
        for s in self.secrets:
            if s.target == path:
                return s.mode
        if path.startswith(files.STEPS_DIR + "/"):
            return files.STEP
        raise KeyError(f"{self.node.name} gets no file {path}")

    def hashes(self) -> dict[str, str]:
        """sha256 of every rendered file but the secrets, by path."""
        return {path: sha256(text) for path, text in sorted(self.rendered().items())}


def node_plan(topo: Topology, node: Node, layout: Layout) -> NodePlan:
    """The plan of one node: its kind's parts, built once."""
    parts = tuple(PARTS[p](topo, node, layout) for p in node.kind.parts)
    rule = ssh_rule_params(topo)
    return NodePlan(
        node=node,
        layout=layout,
        parts=parts,
        wait_ready=Step("wait-ready", "wait_ready.sh", wait_ready_params()),
        ssh_firewall=Step("ssh-firewall", "firewall.sh", rule) if rule else None,
        activation=activation_script(topo, node, layout, parts),
        handback=handback_script(topo, node, layout),
    )


def plans(topo: Topology, layout_of: Callable[[Node], Layout]) -> dict[str, NodePlan]:
    """Every node's plan, by node name, in the topology's node order."""
    return {n.name: node_plan(topo, n, layout_of(n)) for n in topo.nodes}


def rollout_digest(topo: Topology, plans: Mapping[str, NodePlan]) -> str:
    """One digest of everything an activation may have changed: every node's instance
    and activation (the handbacks run again when it changes)."""
    return sha256(
        "".join(
            sorted(str(c) for n in topo.rollout for c in (n.instance_id, plans[n.name].activation))
        )
    )


# ------------------------------------------------------------------- the smoke test


def smoke_runner(topo: Topology) -> Node:
    """The node the smoke test runs on: an upstream node (a backup-role one first: it
    serves nothing while the primaries answer), never a VRRP node (every load balancer
    keeps the VIP on lo, so it would ask its own nginx)."""
    return min(topo.backends, key=lambda b: (b.role != "backup", b.name))


def smoke_step(topo: Topology, layout: Layout) -> Step:
    """The smoke test as its runner runs it (``layout``: the runner's)."""
    return Step("smoke", SMOKE_SCRIPT, smoke_params(topo, layout.system_trust))


def smoke_ca(topo: Topology) -> str | tuple[str, Callable[[str], str]] | None:
    """What the smoke test gets on stdin: the trust anchors it verifies the stack's
    certificate with, as text (``tls.ca``) or as (the secret's key, how to make it from
    the secret) for the stack's own CA (selfSigned); None: nothing (plain HTTP, or
    the node's system store)."""
    tls = topo.tls
    if tls is None:
        return None
    if tls.self_signed:
        return "sshHostKeySeed", lambda seed: stack_ca(topo, seed)
    return tls.ca


def stack_ca(topo: Topology, seed: str) -> str:
    """The stack's own CA certificate (tls.selfSigned): the output ``tlsCa``."""
    assert topo.tls is not None
    return self_signed(seed, topo.project, topo.stack, topo.tls.server_names).ca


def smoke_triggers(topo: Topology, plans: Mapping[str, NodePlan]) -> list[str]:
    """The smoke test runs again when its script, any VM or any rendered file of any
    node changes."""
    runner = plans[smoke_runner(topo).name]
    return [
        sha256(smoke_step(topo, runner.layout).text),
        *(n.instance_id for n in topo.nodes),
        *(
            f"{name}:{path}:{digest}"
            for name, plan in sorted(plans.items())
            for path, digest in plan.hashes().items()
        ),
    ]
