"""nginx.conf of a load balancer."""

from __future__ import annotations

import posixpath
from decimal import Decimal

from nginx_ha.render.templates import render_template
from nginx_ha.render.tls import nginx_tls
from nginx_ha.topology import NGINX_UPSTREAM, Layout, Node, Topology
from nginx_ha.topology.plans import NGINX_STATE_PATH

# The upstream's shared memory zone (every worker sees a backend's failures; 64 KiB
# holds hundreds of servers), idle keep-alive connections per worker to the backends,
# how long an idle one is kept: below Tomcat's keepAliveTimeout (its
# connectionTimeout, 20 s in Debian's server.xml), so Tomcat never closes one under a
# request nginx is sending (a failed cached connection counts against max_fails), and
# how long one is used at most (keepalive_time, nginx 1.19.10): a cached connection
# bypasses the new-connection refusal of a drained backend (render/app.py), so each
# ends within this time of the drain and nginx's next one finds the port refusing.
UPSTREAM_ZONE_SIZE = "64k"
UPSTREAM_KEEPALIVE = 16
UPSTREAM_KEEPALIVE_SECONDS = 4
UPSTREAM_KEEPALIVE_TIMEOUT = f"{UPSTREAM_KEEPALIVE_SECONDS}s"
UPSTREAM_KEEPALIVE_TIME = f"{UPSTREAM_KEEPALIVE_SECONDS}s"


def nginx_time(seconds: Decimal) -> str:
    """An nginx time value: whole seconds as "1s", fractions as milliseconds."""
    ms = seconds * 1000
    if ms != ms.to_integral_value():
        raise ValueError(f"{seconds} s is finer than nginx's millisecond resolution")
    return f"{int(seconds)}s" if seconds == seconds.to_integral_value() else f"{int(ms)}ms"


def nginx_conf(topo: Topology, node: Node, layout: Layout) -> str:
    """nginx.conf of a load balancer: the Tomcat upstream, health location, headers."""
    ng = topo.nginx
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
        health_allow=["127.0.0.1", "::1", str(node.ip), *lvs_health_peers(topo, node)],
        state_path=NGINX_STATE_PATH,
        state_allow=["127.0.0.1", "::1", *(str(lb.ip) for lb in topo.load_balancers)],
        state_file=posixpath.join(layout.vrrp_state_dir, "all"),
        upstream=NGINX_UPSTREAM,
        balancing=ng.balancing,
        zone_size=UPSTREAM_ZONE_SIZE,
        keepalive=UPSTREAM_KEEPALIVE,
        keepalive_timeout=UPSTREAM_KEEPALIVE_TIMEOUT,
        keepalive_time=UPSTREAM_KEEPALIVE_TIME,
        servers=servers,
        max_fails=ng.max_fails,
        fail_timeout=f"{ng.fail_timeout}s",
        connect_timeout=nginx_time(ng.connect_timeout),
        send_timeout=nginx_time(ng.send_timeout),
        read_timeout=nginx_time(ng.read_timeout),
        retry_non_idempotent=ng.retry_non_idempotent,
        next_upstream=" ".join(ng.next_upstream),
        next_upstream_tries=len(servers),
        tls=nginx_tls(topo, layout),
    )


def lvs_health_peers(topo: Topology, node: Node) -> list[str]:
    """With LVS, every director's keepalived checks this nginx's health location
    (HTTP_GET from its own address): the other load balancers are allowed too."""
    if topo.lvs is None:
        return []
    return [str(lb.ip) for lb in topo.load_balancers if lb.name != node.name]
