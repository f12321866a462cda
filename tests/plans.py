"""Test helpers over a node's plan (nginx_ha/render/plan.py)."""

from __future__ import annotations

from nginx_ha.render.plan import node_plan
from nginx_ha.topology import Layout, Node, Topology


def keepalived_files(
    topo: Topology, node: Node, layout: Layout, secret: str | None = None
) -> dict[str, tuple[str, str]]:
    """keepalived's files on a load balancer (its part's files, not its units), by path,
    with their modes; the secret file only when ``secret`` is given."""
    part = node_plan(topo, node, layout).part("keepalived")
    files = {a.target: (a.text, a.mode) for a in part.artefacts if a.kind == "file"}
    if secret is not None:
        files |= {s.target: (s.text_of(secret), s.mode) for s in part.secrets}
    return files
