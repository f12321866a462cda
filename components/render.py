"""Jinja2 rendering: one pure function per produced file, plain values in, str out.

No ``import pulumi`` here: the program, the offline ``render`` command and the lab
all call these functions. Templates get decided values; logic and defaults live in
Python (settings/topology).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import jinja2

from components.topology import Layout, Node, Topology

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - config files and shell, not HTML
)


def render_template(name: str, **values: object) -> str:
    """Render one template; every file starts with a generated-by header."""
    return _env.get_template(name).render(template=name, **values)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------- cloud-init


def cloud_init_user_data(topo: Topology, node: Node) -> str:
    s = topo.settings
    return render_template(
        "cloud-init/user-data.j2",
        hostname=node.name,
        user=s.ssh.user,
        public_key=s.ssh.public_key,
    )


def cloud_init_meta_data(topo: Topology, node: Node) -> str:
    return render_template(
        "cloud-init/meta-data.j2",
        instance_id=node.instance_id,
        hostname=node.name,
    )


def cloud_init_network_config(topo: Topology, node: Node) -> str:
    net = topo.settings.network
    return render_template(
        "cloud-init/network-config.j2",
        interface=topo.settings.vrrp.interface,
        mac=node.mac,
        address=f"{node.ip}/{net.cidr.prefixlen}",
        gateway=str(net.gateway_ip),
        dns=[str(d) for d in net.dns_servers],
    )


# ---------------------------------------------------------------------------- nginx

NGINX_UPSTREAM = "tomcat"
# Failures after which nginx tries the next server (primaries first, then backups).
NGINX_NEXT_UPSTREAM = ("error", "timeout", "http_502", "http_503", "http_504")
NGINX_BALANCING = {
    "round_robin": None,  # nginx's default: no directive
    "least_conn": "least_conn",
    "ip_hash": "ip_hash",
    "hash": "hash $remote_addr consistent",
    "random": "random",
}


def nginx_time(seconds: Decimal) -> str:
    """An nginx time value: whole seconds as "1s", fractions as milliseconds."""
    ms = seconds * 1000
    if ms != ms.to_integral_value():
        raise ValueError(f"{seconds} s is finer than nginx's millisecond resolution")
    return f"{int(seconds)}s" if seconds == seconds.to_integral_value() else f"{int(ms)}ms"


def nginx_conf(topo: Topology, node: Node, layout: Layout) -> str:
    """nginx.conf of a load balancer: the Tomcat upstream, health location, headers."""
    ng = topo.settings.nginx
    servers = [
        {
            "name": b.name,
            "role": b.role,
            "address": f"{b.ip}:{b.port}",
            "backup": b.role == "backup",
        }
        # primaries first: the order nginx lists them in $upstream_addr and the log
        for b in sorted(topo.backends, key=lambda b: b.role != "primary")
    ]
    next_upstream = list(NGINX_NEXT_UPSTREAM)
    if ng.retry_non_idempotent:
        next_upstream.append("non_idempotent")
    return render_template(
        "nginx/nginx.conf.j2",
        lb_name=node.name,
        lb_role=node.role,
        user=layout.nginx_user,
        pid=layout.nginx_pid,
        log_dir=layout.nginx_log_dir,
        mime_types=layout.nginx_mime_types,
        temp_dir=layout.nginx_temp_dir,
        port=ng.port,
        health_path=ng.health_path,
        health_allow=["127.0.0.1", "::1", str(node.ip)],
        upstream=NGINX_UPSTREAM,
        balancing=NGINX_BALANCING[ng.balancing],
        servers=servers,
        max_fails=ng.max_fails,
        fail_timeout=f"{ng.fail_timeout}s",
        connect_timeout=nginx_time(ng.connect_timeout),
        send_timeout=nginx_time(ng.send_timeout),
        read_timeout=nginx_time(ng.read_timeout),
        retry_non_idempotent=ng.retry_non_idempotent,
        next_upstream=" ".join(next_upstream),
        next_upstream_tries=len(servers),
    )


# --------------------------------------------------------------------------- tomcat


def tomcat_page_path(layout: Layout) -> str:
    return posixpath.join(layout.tomcat_webapps, layout.tomcat_page)


def tomcat_page(topo: Topology, node: Node, layout: Layout) -> str:
    """The ROOT page of a backend: names the node and its role (static, so any
    Tomcat serves it from <CATALINA_BASE>/webapps/ROOT/index.html)."""
    return render_template(
        "tomcat/index.html.j2",
        node_name=node.name,
        role=node.role,
        address=f"{node.ip}:{node.port}",
    )


# ------------------------------------------------------------------ files per node


def node_files(
    topo: Topology, node: Node, layout: Layout, secrets: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every rendered file a node gets, by its path on the node (the program's
    configHashes output, the offline render command and the lab use this).

    ``secrets`` are for the files that carry a secret; their hashes must not be
    exported (see NON_SECRET in the stack)."""
    files: dict[str, str] = {}
    # --- nginx and Tomcat (issue 5) ---
    if node.is_load_balancer:
        files[layout.nginx_conf] = nginx_conf(topo, node, layout)
    else:
        files[tomcat_page_path(layout)] = tomcat_page(topo, node, layout)
    # --- end nginx and Tomcat ---
    return files
