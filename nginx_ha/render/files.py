"""Every rendered file a node gets, by its path on the node, and each file's mode."""

from __future__ import annotations

from collections.abc import Mapping

from nginx_ha.render.cloudinit import USER_DATA
from nginx_ha.render.keepalived import keepalived_file_modes, keepalived_files
from nginx_ha.render.nginx import nginx_conf
from nginx_ha.render.tomcat import tomcat_page, tomcat_page_path
from nginx_ha.topology import Layout, Node, Topology


def node_files(
    topo: Topology, node: Node, layout: Layout, secrets: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every rendered file a node gets, by its path on the node (the program's
    configHashes output, the offline render command and the lab use this).

    ``secrets`` are for the files that carry a secret: without them those files are
    left out (the stack exports the hashes of node_files without secrets)."""
    files: dict[str, str] = {}
    if node.is_load_balancer:
        files[layout.nginx_conf] = nginx_conf(topo, node, layout)
        files.update(keepalived_files(topo, node, layout, (secrets or {}).get("vrrpAuthPass")))
    else:
        files[tomcat_page_path(layout)] = tomcat_page(topo, node, layout)
    return files


def file_mode(layout: Layout, path: str) -> str:
    """The mode a rendered file gets on the node (root-owned; 0644 unless listed);
    the offline render's user-data holds the node's private host key: 0600."""
    if path == USER_DATA:
        return "0600"
    return keepalived_file_modes(layout).get(path, "0644")
