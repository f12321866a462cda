"""A backend's ROOT page."""

from __future__ import annotations

import posixpath

from nginx_ha.render.templates import render_template
from nginx_ha.topology import Layout, Node, Topology
from nginx_ha.topology.naming import PAGE_MARKER_KEY


def tomcat_page_path(layout: Layout) -> str:
    return posixpath.join(layout.tomcat_webapps, layout.tomcat_page)


def tomcat_page(topo: Topology, node: Node, layout: Layout) -> str:
    """The ROOT page of a backend: names the node and its role (static, so any
    Tomcat serves it from <CATALINA_BASE>/webapps/ROOT/index.html)."""
    del topo, layout  # the same page wherever it lives
    return render_template(
        "tomcat/index.html.j2",
        node_name=node.name,
        role=node.role,
        marker_key=PAGE_MARKER_KEY,
        marker=node.page_marker,
        address=f"{node.ip}:{node.port}",
    )
