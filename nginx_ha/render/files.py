"""Jinja2 rendering: one pure function per produced file, plain values in, str out.

No ``import pulumi`` here: the program, the offline ``render`` command and the lab
all call these functions. Templates get decided values; logic and defaults live in
Python (settings/topology).
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import jinja2

from nginx_ha.config.capabilities import supports
from nginx_ha.topology import Layout, Node, Topology

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
    next_upstream: list[str] = list(NGINX_NEXT_UPSTREAM)
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
        health_allow=["127.0.0.1", "::1", str(node.ip), *lvs_health_peers(topo, node)],
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


def lvs_health_peers(topo: Topology, node: Node) -> list[str]:
    """With LVS, every director's keepalived checks this nginx's health location
    (HTTP_GET from its own address): the other load balancers are allowed too."""
    if not topo.settings.lvs.enabled:
        return []
    return [str(lb.ip) for lb in topo.load_balancers if lb.name != node.name]


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

    ``secrets`` are for the files that carry a secret: without them those files are
    left out (the stack exports the hashes of node_files without secrets)."""
    files: dict[str, str] = {}
    # --- nginx and Tomcat (issue 5) ---
    if node.is_load_balancer:
        files[layout.nginx_conf] = nginx_conf(topo, node, layout)
    else:
        files[tomcat_page_path(layout)] = tomcat_page(topo, node, layout)
    # --- end nginx and Tomcat ---
    # --- keepalived (issue 4); modes in keepalived_file_modes ---
    if node.is_load_balancer:
        files.update(keepalived_files(topo, node, layout, (secrets or {}).get("vrrpAuthPass")))
    # --- end keepalived ---
    return files


# ----------------------------------------------------------------------- keepalived
# What is rendered depends on the keepalived the node runs (layout.keepalived_version):
# an option newer than it is never rendered. The settings rules refuse a stack that
# would need one (naming both versions); this table is the renderer's safety net.
KEEPALIVED_OPTION_SINCE: dict[str, tuple[int, int, int]] = {
    # keepalived 2.4.0 release notes: "new auth_hmac authentication extension".
    "auth_hmac": (2, 4, 0),
}
VRRP_INSTANCE = "VI_{vrid}"
CHECK_PROBE_TIMEOUT = Decimal("0.9")  # fraction of the check's timeout for the HTTP probe
NGINX_RESTART_TIMEOUT = 20  # seconds the one restart may take (it runs detached)


def check_seconds(layout: Layout, value: Decimal) -> Decimal:
    """vrrp_script interval/timeout as the node's keepalived reads them: keepalived
    before 2.3.2 takes whole seconds only, so a fraction is rounded up there (the
    settings refuse fractions for such a stack; this serves layouts such as the lab's
    that run an older keepalived than the stack names)."""
    if supports(layout.keepalived_version, "fractional_check"):
        return value
    return value.to_integral_value(rounding=ROUND_CEILING)


def _version_text(v: tuple[int, int, int]) -> str:
    return ".".join(str(x) for x in v)


def keepalived_option_allowed(layout: Layout, option: str) -> bool:
    return layout.keepalived_version >= KEEPALIVED_OPTION_SINCE.get(option, (0, 0, 0))


def vrrp_auth_kind(topo: Topology, layout: Layout) -> str:
    """How adverts are authenticated: "pass" (VRRPv2 PASS), "hmac" (auth_hmac) or "none"."""
    s = topo.settings
    if s.vrrp_auth_pass is None:
        return "none"
    if s.vrrp.version == 2:
        return "pass"
    if keepalived_option_allowed(layout, "auth_hmac"):
        return "hmac"
    if s.vrrp.allow_unauthenticated:
        return "none"
    raise ValueError(
        f"auth_hmac needs keepalived {_version_text(KEEPALIVED_OPTION_SINCE['auth_hmac'])} "
        f"or newer; this node runs {_version_text(layout.keepalived_version)} "
        "(nginx-ha:keepalived.version)"
    )


def vrrp_auth_path(topo: Topology, layout: Layout) -> str | None:
    """The root-only file holding the VRRP secret on the node (None: no authentication)."""
    kind = vrrp_auth_kind(topo, layout)
    return {"pass": layout.auth_pass_file, "hmac": layout.auth_key_file}.get(kind)


def vrrp_auth_file_text(topo: Topology, layout: Layout, secret: str) -> str:
    """The content of that file: a keepalived.conf fragment for PASS (``auth_pass``
    quoted, so keepalived does not take ``!`` or ``#`` for a comment; the settings
    refuse quotes in it), the bare key for auth_hmac."""
    if vrrp_auth_kind(topo, layout) == "pass":
        return f'auth_pass "{secret}"\n'
    return secret + "\n"  # keepalived drops the trailing line terminator


def _smtp_server(value: str) -> str:
    host, sep, port = value.rpartition(":")
    return f"{host} {port}" if sep and port.isdigit() and host else value


def keepalived_conf(
    topo: Topology, node: Node, layout: Layout, *, auth_secret: str | None = None
) -> str:
    """keepalived.conf of a load balancer. It never contains the VRRP secret: that is
    in a root-only file the config references (``include`` for PASS, ``file:`` for
    auth_hmac), written by :func:`vrrp_auth_file_text`. ``auth_secret`` is accepted
    for callers that have it and is not used."""
    del auth_secret
    s = topo.settings
    vrrp = s.vrrp
    email = None
    if s.notify.email_to and s.notify.smtp_server:
        email = {
            "to": list(s.notify.email_to),
            "sender": s.notify.email_from or f"keepalived@{node.name}",
            "server": _smtp_server(s.notify.smtp_server),
        }
    return render_template(
        "keepalived/keepalived.conf.j2",
        node_name=node.name,
        keepalived_version=_version_text(layout.keepalived_version),
        script_user=layout.script_user,
        email=email,
        check={
            "interval": check_seconds(layout, vrrp.check.interval),
            "timeout": check_seconds(layout, vrrp.check.timeout),
            "fall": vrrp.check.fall,
            "rise": vrrp.check.rise,
            "weight": vrrp.check.weight,
        },
        check_script=layout.check_script,
        track_file=TRACK_FILE,
        health_file=layout.health_file,
        instances=vrrp_instances(topo, node),
        interface=layout.interface,
        vrrp_version=vrrp.version,
        advert_int=vrrp.advert_interval,
        unicast=vrrp.unicast,
        unicast_src=str(topo.vrrp[node.name].unicast_src),
        unicast_peers=[str(p) for p in topo.vrrp[node.name].unicast_peers],
        garp_master_refresh=vrrp.garp_master_refresh,
        auth=vrrp_auth_kind(topo, layout),
        auth_file=vrrp_auth_path(topo, layout),
        virtual_servers=lvs_virtual_servers(topo, layout),
        notify_script=layout.notify_script if s.notify.script else None,
    )


def vrrp_instances(topo: Topology, node: Node) -> list[dict[str, object]]:
    """This node's view of every VRRP instance (one per VIP), for the template. With
    one VIP the instance renders exactly as before active-active existed."""
    several = len(topo.instances) > 1
    out: list[dict[str, object]] = []
    for inst in topo.instances:
        peer = inst.peers[node.name]
        mine = "this node" if inst.master == node.name else inst.master
        out.append(
            {
                "name": inst.name,
                "state": peer.state,
                "nopreempt": peer.nopreempt,
                "vrid": inst.vrid,
                "priority": peer.priority,
                "vip": f"{inst.vip}/{topo.prefix_len}",
                "comment": (
                    f"VIP {inst.vip}: meant to be held by {mine} (priority order rotates "
                    "per VIP, so every load balancer is MASTER for some VIP)"
                    if several
                    else ""
                ),
                # notify.sh gets the instance as $2 when there are several.
                "notify_arg": f" {inst.name}" if several else "",
            }
        )
    return out


# LVS (IPVS) in direct-routing mode (nginx-ha:lvs; docs/active-active-lvs.md).
# fwmark of a VIP's virtual service: this base + its virtual router id (unique per VIP).
LVS_FWMARK_BASE = 0x4E480000  # "NH"; clear of small marks other tools use
LVS_DELAY_LOOP = 2  # seconds between HTTP_GET checks of each real server
LVS_CONNECT_TIMEOUT = 1  # seconds; nginx answers its health location locally
LVS_RETRY = 1
LVS_DELAY_BEFORE_RETRY = 1


def lvs_fwmark(vrid: int) -> int:
    return LVS_FWMARK_BASE + vrid


def lvs_virtual_servers(topo: Topology, layout: Layout) -> list[dict[str, object]]:
    """One fwmark virtual service per VIP with every load balancer as a real server
    (none while nginx-ha:lvs.enabled is false)."""
    s = topo.settings
    if not s.lvs.enabled:
        return []
    if not layout.keepalived_ipvs:
        raise ValueError(
            "nginx-ha:lvs.enabled needs keepalived built with IPVS; this node's keepalived "
            "is built without it (--disable-lvs, nginx-ha:keepalived.ipvs)"
        )
    return [
        {
            "fwmark": lvs_fwmark(inst.vrid),
            "vip": str(inst.vip),
            "port": s.lvs_port,
            "scheduler": s.lvs.scheduler,
            "persistence_timeout": s.lvs.persistence_timeout,
            "delay_loop": LVS_DELAY_LOOP,
            "connect_timeout": LVS_CONNECT_TIMEOUT,
            "retry": LVS_RETRY,
            "delay_before_retry": LVS_DELAY_BEFORE_RETRY,
            "health_path": s.nginx.health_path,
            "real_servers": [str(lb.ip) for lb in topo.load_balancers],
        }
        for inst in topo.instances
    ]


def check_restart_marker(layout: Layout) -> str:
    return posixpath.join(layout.keepalived_state_dir, "check_nginx.restarted")


def vrrp_state_file(layout: Layout) -> str:
    return posixpath.join(layout.keepalived_state_dir, "vrrp.state")


def nginx_health_url(topo: Topology) -> str:
    """The URL the check script and the watcher ask: this node's own nginx."""
    s = topo.settings
    port = "" if s.nginx.port == 80 else f":{s.nginx.port}"
    return f"http://127.0.0.1{port}{s.nginx.health_path}"


def check_nginx_script(topo: Topology, node: Node, layout: Layout) -> str:
    """The health check keepalived runs: asks this node's nginx over HTTP."""
    s = topo.settings
    timeout = check_seconds(layout, s.vrrp.check.timeout)
    probe = timeout * CHECK_PROBE_TIMEOUT
    return render_template(
        "keepalived/check_nginx.sh.j2",
        node_name=node.name,
        url=shlex.quote(nginx_health_url(topo)),
        restart=shlex.quote(layout.nginx_restart),
        marker=shlex.quote(check_restart_marker(layout)),
        timeout=timeout,
        probe_timeout=probe.normalize(),
        restart_timeout=NGINX_RESTART_TIMEOUT,
    )


WATCH_PROBE_TIMEOUT = Decimal("0.75")  # fraction of the watch interval for the HTTP probe
TRACK_FILE = "nginx_health"  # keepalived.conf's track_file block the watcher feeds


def nginx_watch_script(topo: Topology, node: Node, layout: Layout) -> str:
    """The fast health path: a loop that asks this node's nginx every
    ``vrrp.check.watchInterval`` seconds and writes 0/1 to ``layout.health_file``
    (keepalived's track_file) when the verdict changes (fall/rise applied)."""
    check = topo.settings.vrrp.check
    probe = check.watch_interval * WATCH_PROBE_TIMEOUT
    return render_template(
        "keepalived/nginx_watch.sh.j2",
        node_name=node.name,
        url=shlex.quote(nginx_health_url(topo)),
        health_file=shlex.quote(layout.health_file),
        health_file_text=layout.health_file,
        interval=check.watch_interval.normalize(),
        probe_timeout=probe.normalize(),
        fall=check.fall,
        rise=check.rise,
    )


def notify_script(topo: Topology, node: Node, layout: Layout) -> str:
    """The state-change script (nginx-ha:notify.script)."""
    return render_template(
        "keepalived/notify.sh.j2",
        node_name=node.name,
        instance=topo.instances[0].name,
        state_file=shlex.quote(vrrp_state_file(layout)),
    )


def keepalived_files(
    topo: Topology, node: Node, layout: Layout, auth_secret: str | None
) -> dict[str, str]:
    """keepalived's files on a load balancer, by path; the secret file only when the
    secret is given (the program writes it with remote.secret_file instead)."""
    files = {
        layout.keepalived_conf: keepalived_conf(topo, node, layout),
        layout.check_script: check_nginx_script(topo, node, layout),
        layout.watch_script: nginx_watch_script(topo, node, layout),
    }
    if topo.settings.notify.script:
        files[layout.notify_script] = notify_script(topo, node, layout)
    auth_path = vrrp_auth_path(topo, layout)
    if auth_path is not None and auth_secret is not None:
        files[auth_path] = vrrp_auth_file_text(topo, layout, auth_secret)
    return files


def keepalived_file_modes(layout: Layout) -> dict[str, str]:
    """Modes of keepalived's files that are not 0644 (all are root-owned)."""
    return {
        layout.check_script: "0755",
        layout.watch_script: "0755",
        layout.notify_script: "0755",
        layout.auth_pass_file: "0600",
        layout.auth_key_file: "0600",
    }


def file_mode(layout: Layout, path: str) -> str:
    """The mode a rendered file gets on the node (root-owned; 0644 unless listed)."""
    return keepalived_file_modes(layout).get(path, "0644")
