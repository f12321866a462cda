"""TomcatNode: Tomcat on a backend (install, firewall, ROOT page, service).

The Tomcat port is reachable from the load balancers only (and the node itself, for
its own check); the ROOT page names the node and its role, so a request through the
VIP shows which backend answered.
"""

from __future__ import annotations

import shlex

import pulumi
from pulumi_command import remote

from nginx_ha import render
from nginx_ha.components.remote import NodeStepArgs, ValidatedFile, script_command
from nginx_ha.render import script
from nginx_ha.topology import Topology


def tomcat_sources(topo: Topology) -> list[str]:
    """Who may reach a Tomcat port: every load balancer (by its own address, and every
    VIP in case the kernel picks one as the source), and the node itself."""
    vips = [str(i.vip) for i in topo.instances]
    return [str(lb.ip) for lb in topo.load_balancers] + vips + ["127.0.0.1"]


class TomcatNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:TomcatNode"

    def __init__(self, name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        topo, node, layout = args.topo, args.node, args.layout
        port = node.port or 8080
        after_ready = pulumi.ResourceOptions(parent=self, depends_on=[args.ready])

        install = script("install_tomcat.sh")
        self.install = remote.Command(
            f"{name}-tomcat-install",
            connection=args.conn,
            create=script_command(install, {"ACTION": "install", "TOMCAT_PORT": port}),
            triggers=[render.sha256(install)],
            opts=after_ready,
        )

        firewall = script_command(
            script("firewall.sh"),
            {
                "FW_NAME": "tomcat",
                "FW_PROTO": "tcp",
                "FW_PORT": port,
                "FW_SOURCES": " ".join(tomcat_sources(topo)),
                "FW_RESTRICT": "yes",
            },
        )
        self.firewall = remote.Command(
            f"{name}-tomcat-firewall",
            connection=args.conn,
            create=firewall,
            triggers=[render.sha256(firewall)],
            opts=after_ready,
        )

        marker = node.page_marker
        self.page = ValidatedFile(
            f"{name}-tomcat-page",
            conn=args.conn,
            text=render.tomcat_page(topo, node, layout),
            target=render.tomcat_page_path(layout),
            # The staged page must be this node's (a mix-up would hide a failover).
            validate=f'grep -qF {shlex.quote(marker)} "$STAGED"',
            reload="true",  # Tomcat serves the new static file as it is
            depends_on=[args.ready, self.install],
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.service = remote.Command(
            f"{name}-tomcat-service",
            connection=args.conn,
            create=script_command(
                install, {"ACTION": "service", "TOMCAT_PORT": port, "PAGE_MARKER": marker}
            ),
            triggers=[render.sha256(install)],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.ready, self.page, self.firewall]
            ),
        )
        self.page_digest = self.page.digest
        self.register_outputs({"pageDigest": self.page_digest})
