"""NginxNode: nginx on a load balancer (install, firewall, nginx.conf, service).

One remote step per concern, each after the node's wait-ready: a changed nginx
setting re-renders nginx.conf and re-runs only the ``-nginx-conf`` steps (upload,
``nginx -t`` against the staged copy, atomic swap, reload).
"""

from __future__ import annotations

import shlex

import pulumi
from pulumi_command import remote

from nginx_ha import render
from nginx_ha.components.remote import NodeStepArgs, ValidatedFile, script_command
from nginx_ha.render import script
from nginx_ha.topology import Layout


def nginx_validate(layout: Layout) -> str:
    """Validate the staged copy (``$STAGED``): its include paths are absolute."""
    return f'{shlex.quote(layout.nginx_bin)} -t -q -c "$STAGED"'


def nginx_reload(layout: Layout) -> str:
    """Reload after the swap: systemd where it runs, else the nginx binary itself
    (signal the running master, or start one)."""
    nginx = f"{shlex.quote(layout.nginx_bin)} -c {shlex.quote(layout.nginx_conf)}"
    pid = shlex.quote(layout.nginx_pid)
    return (
        "if [ -d /run/systemd/system ]; then systemctl reload-or-restart nginx; "
        f'elif [ -s {pid} ] && kill -0 "$(cat {pid})" 2>/dev/null; then {nginx} -s reload; '
        f"else {nginx}; fi"
    )


class NginxNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:NginxNode"

    def __init__(self, name: str, args: NodeStepArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        topo, layout = args.topo, args.layout
        port = topo.nginx.port
        after_ready = pulumi.ResourceOptions(parent=self, depends_on=[args.ready])

        install = script("install_nginx.sh")
        self.install = remote.Command(
            f"{name}-nginx-install",
            connection=args.conn,
            create=script_command(install, {"ACTION": "install", "NGINX_PID": layout.nginx_pid}),
            triggers=[render.sha256(install)],
            opts=after_ready,
        )

        firewall = script_command(
            script("firewall.sh"),
            {"FW_NAME": "http", "FW_PROTO": "tcp", "FW_PORT": port, "FW_SOURCES": ""},
        )
        self.firewall = remote.Command(
            f"{name}-http-firewall",
            connection=args.conn,
            create=firewall,
            triggers=[render.sha256(firewall)],
            opts=after_ready,
        )

        self.conf = ValidatedFile(
            f"{name}-nginx-conf",
            conn=args.conn,
            text=render.nginx_conf(topo, args.node, layout),
            target=layout.nginx_conf,
            validate=nginx_validate(layout),
            reload=nginx_reload(layout),
            depends_on=[args.ready, self.install],
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.service = remote.Command(
            f"{name}-nginx-service",
            connection=args.conn,
            create=script_command(
                install,
                {
                    "ACTION": "service",
                    "NGINX_PID": layout.nginx_pid,
                    "HEALTH_URL": topo.nginx.health_url,
                },
            ),
            triggers=[render.sha256(install)],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.ready, self.conf, self.firewall]
            ),
        )
        self.conf_digest = self.conf.digest
        self.register_outputs({"confDigest": self.conf_digest})
