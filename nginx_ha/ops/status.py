"""``python -m nginx_ha status --stack NAME [--json] [--netns NS]``: the live view of a
deployed stack.

From the stack's outputs (``nodes``, ``vips``: what ``pulumi up`` made) and its config
(the SSH user and key, the seed of the nodes' host keys), it asks every node over SSH,
with the node's pinned host key, for what it knows about itself
(``templates/scripts/status.sh``, read-only, no sudo) and prints, per VIP, who holds
it now (the address on the node's interface and keepalived's own state) against the
load balancer meant to hold it, per node its VRRP state per VIP with priority and age,
its units (keepalived, nginx, the health watcher, Tomcat), the watcher's verdict and
the keepalived on PATH, and the stack's last VRRP transitions with their times.
``--json`` prints the same as JSON. Exit status: 0 when everything is as it should be,
1 when something needs attention (a node unreachable, a unit not active, a watcher
saying down, a VIP with no or two holders), 2 when the stack cannot be read (its
stack file or ``Pulumi.yaml`` breaking a bound of the project's reader, stackread.py,
among them: named before Pulumi's CLI, which has no such bounds, is asked).

The sandbox's VMs are reachable only from its network namespace: ``--netns
nginx-ha-sandbox`` (``make status STACK=sandbox`` adds it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nginx_ha.config import SettingsError, stackfiles
from nginx_ha.ops import env as pulumi_env
from nginx_ha.ops.ssh import PinnedSsh, Target
from nginx_ha.ops.stackinfo import StackError, StackView, read_stack
from nginx_ha.render.app import context_path
from nginx_ha.topology import Layout, NodeKind, Topology, build_topology, kind_named, vm_layout
from nginx_ha.topology.hostkeys import host_key
from nginx_ha.view import status as view

SANDBOX_NETNS = "nginx-ha-sandbox"


def kind_of(name: str, node: Mapping[str, Any], topo: Topology) -> NodeKind:
    """A deployed node's kind: the ``kind`` its output names (stacks deployed before
    that output existed: the kind of that node in the stack's settings)."""
    if "kind" in node:
        return kind_named(str(node["kind"]))
    known = {n.name: n.kind for n in topo.nodes}
    if name not in known:
        raise StackError(
            f"node {name} of the stack's outputs is not in its settings and its output "
            "names no kind: run `pulumi up` to refresh the outputs"
        )
    return known[name]


def collect(
    stack: StackView,
    netns: str | None = None,
    layout_of: Callable[[str], Layout] | None = None,
    systemctl_of: Callable[[str], str] | None = None,
    user: str | None = None,
) -> view.StackStatus:
    """Ask every node of ``stack`` (its outputs) and build the view.

    ``layout_of`` (node name → Layout; default the VM layout) and ``systemctl_of``
    (node name → the command answering ``is-active``; default systemctl) say where a
    node keeps its state and what answers for its units; ``user`` logs in instead of
    the stack's ``ssh.user`` (tests point all three at their own)."""
    nodes: Mapping[str, Mapping[str, Any]] = stack.outputs.get("nodes") or {}
    vips = stack.outputs.get("vips") or []
    if not nodes or not vips:
        raise StackError(
            f"stack {stack.name} has no nodes/vips outputs: is it deployed? (pulumi up)"
        )
    settings = stack.settings()
    topo = build_topology(settings)
    if settings.ssh_private_key is None or settings.ssh_host_key_seed is None:
        raise StackError(
            f"stack {stack.name} has no sshPrivateKey or sshHostKeySeed in its config: "
            "status needs both (the key to log in, the seed of the pinned host keys)"
        )
    seed = settings.ssh_host_key_seed.get_secret_value()
    targets = {
        name: Target(
            name,
            str(node["ip"]),
            user or topo.ssh.user,
            host_key(seed, topo.project, stack.name, name).public_no_comment,
        )
        for name, node in nodes.items()
    }
    default_layout = vm_layout(topo)
    kinds = {name: kind_of(name, node, topo) for name, node in nodes.items()}

    def ask(ssh: PinnedSsh, name: str) -> view.NodeReport:
        node = nodes[name]
        kind = kinds[name]
        layout = layout_of(name) if layout_of else default_layout
        systemctl = systemctl_of(name) if systemctl_of else "systemctl"
        descriptor = context_path(topo.app, layout) if topo.app is not None else None
        script = view.probe_script(
            kind, layout, systemctl=systemctl, tls=topo.tls, app_descriptor=descriptor
        )
        res = ssh.run(targets[name], script)
        error = res.error or (
            f"status script failed: {res.stderr.strip()[-200:]}" if res.returncode else ""
        )
        return view.parse_probe(
            name, str(node.get("role", "")), str(node["ip"]), kind.vrrp, res.stdout, error
        )

    key = settings.ssh_private_key.get_secret_value()
    with (
        PinnedSsh(key, list(targets.values()), netns=netns) as ssh,
        ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool,
    ):
        reports = list(pool.map(lambda n: ask(ssh, n), list(nodes)))
    return view.build_status(stack.name, vips, reports)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m nginx_ha status",
        description="The live view of a deployed stack: who holds each VIP, every node's "
        "VRRP state, units, health watcher and last transitions (over SSH, host keys pinned).",
    )
    p.add_argument("--stack", required=True, help="the stack (its outputs name the nodes)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument(
        "--netns",
        help=f"run ssh in this network namespace ({SANDBOX_NETNS} for the sandbox's VMs)",
    )
    p.add_argument(
        "--project-dir",
        type=Path,
        default=Path.cwd(),
        help="the Pulumi project folder (default: the working directory)",
    )
    args = p.parse_args(argv)
    try:
        # Pulumi's CLI reads these with no bound: a FIFO there would stall it.
        stackfiles.check_stack_files(args.stack, args.project_dir)
    except stackfiles.StackFileError as e:
        print(f"status: {e}", file=sys.stderr)
        return 2
    pulumi_env.apply(pulumi_env.pulumi_env(args.project_dir))
    try:
        status = collect(read_stack(args.stack, args.project_dir), netns=args.netns)
    except (StackError, SettingsError) as e:
        print(f"status: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(view.status_json(status), indent=2))
    else:
        print(view.format_status(status))
    return 0 if status.healthy else 1
