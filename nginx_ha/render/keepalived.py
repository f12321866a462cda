"""keepalived's files on a load balancer: keepalived.conf, the check script, the fast
watcher, the notify script, and the secret file's content.

What is rendered follows the keepalived the topology says runs there
(``topo.keepalived``): an option newer than it is never rendered. The settings rules
refuse a stack that would need one (naming both versions).
"""

from __future__ import annotations

import posixpath
from decimal import Decimal
from urllib.parse import urlsplit

from nginx_ha.render.hold import (
    HOLD_CHAIN,
    HOLD_HUNG_COMMENT,
    HOLD_TABLE,
    hold_vips,
)
from nginx_ha.render.templates import render_template
from nginx_ha.topology import Layout, Node, Topology

CHECK_PROBE_TIMEOUT = Decimal("0.9")  # fraction of the check's timeout for the HTTP probe
NGINX_RESTART_TIMEOUT = 20  # seconds the one restart may take (it runs detached)
WATCH_PROBE_TIMEOUT = Decimal("0.75")  # fraction of the watch interval for the HTTP probe
# Seconds a watcher's probe may stay unanswered before the node is held (suspected hung;
# docs/keepalived.md, "Hold, don't refuse"), also the pause between its probes: 0.04 s,
# or a fifth of a longer watch interval (a stack that asks for slower probes gets them:
# the sandbox's 1 s interval under emulation probes 5 times a second, not 25), at most
# the probe's own bound. nginx answers its local health location in well under 1 ms.
WATCH_SUSPECT = Decimal("0.04")
WATCH_SUSPECT_SHARE = Decimal("0.2")  # of the watch interval, when that is more
TRACK_FILE = "nginx_health"  # keepalived.conf's track_file block the watcher feeds
VIP_LINGER = 10  # seconds the VIP stays on lo after keepalived stopped (vrrp_state.sh)
TRANSITIONS_KEPT = 200  # lines of the VRRP transition log on a node

# LVS (IPVS) in direct-routing mode (nginx-ha:lvs; docs/active-active-lvs.md).
# fwmark of a VIP's virtual service: this base + its virtual router id (unique per VIP).
LVS_FWMARK_BASE = 0x4E480000  # "NH"; clear of small marks other tools use
LVS_DELAY_LOOP = 2  # seconds between HTTP_GET checks of each real server
LVS_CONNECT_TIMEOUT = 1  # seconds; nginx answers its health location locally
LVS_RETRY = 1
LVS_DELAY_BEFORE_RETRY = 1


# ------------------------------------------------------------------- the VRRP secret


def vrrp_auth_path(topo: Topology, layout: Layout) -> str | None:
    """The root-only file holding the VRRP secret on the node (None: no authentication)."""
    return {"pass": layout.auth_pass_file, "hmac": layout.auth_key_file}.get(topo.vrrp.auth)


def vrrp_auth_file_text(topo: Topology, secret: str) -> str:
    """The content of that file: a keepalived.conf fragment for PASS (``auth_pass``
    quoted, so keepalived does not take ``!`` or ``#`` for a comment; the settings
    refuse quotes in it), the bare key for auth_hmac."""
    if topo.vrrp.auth == "pass":
        return f'auth_pass "{secret}"\n'
    return secret + "\n"  # keepalived drops the trailing line terminator


# -------------------------------------------------------------------- keepalived.conf


def keepalived_conf(topo: Topology, node: Node, layout: Layout) -> str:
    """keepalived.conf of a load balancer. It never contains the VRRP secret: that is
    in a root-only file the config references (``include`` for PASS, ``file:`` for
    auth_hmac), written from :func:`vrrp_auth_file_text`."""
    vrrp = topo.vrrp
    email = topo.notify.email
    check = vrrp.check
    return render_template(
        "keepalived/keepalived.conf.j2",
        node_name=node.name,
        keepalived_version=topo.keepalived.version_text,
        script_user=layout.script_user,
        email=(
            {
                "to": list(email.to),
                "sender": email.sender_for(node.name),
                "server": email.server.split(" "),
            }
            if email
            else None
        ),
        check={
            "interval": check.interval,
            "timeout": check.timeout,
            "fall": check.fall,
            "rise": check.rise,
            "weight": check.weight,
        },
        check_script=layout.check_script,
        track_file=TRACK_FILE,
        health_file=layout.health_file,
        drain_dir=layout.drain_dir,
        state_script=layout.vrrp_state_script,
        instances=vrrp_instances(topo, node),
        interface=layout.interface,
        vrrp_version=vrrp.version,
        advert_int=vrrp.advert_interval,
        unicast=vrrp.unicast,
        unicast_src=str(topo.peers[node.name].unicast_src),
        unicast_peers=[str(p) for p in topo.peers[node.name].unicast_peers],
        garp_master_refresh=vrrp.garp_master_refresh,
        auth=vrrp.auth,
        auth_file=vrrp_auth_path(topo, layout),
        virtual_servers=lvs_virtual_servers(topo),
        notify_script=layout.notify_script if topo.notify.script else None,
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


def lvs_fwmark(vrid: int) -> int:
    return LVS_FWMARK_BASE + vrid


def lvs_virtual_servers(topo: Topology) -> list[dict[str, object]]:
    """One fwmark virtual service per VIP with every load balancer as a real server
    (none while nginx-ha:lvs.enabled is false)."""
    if topo.lvs is None:
        return []
    if not topo.keepalived.ipvs:
        raise ValueError(
            "nginx-ha:lvs.enabled needs keepalived built with IPVS; this node's keepalived "
            "is built without it (--disable-lvs, nginx-ha:keepalived.ipvs)"
        )
    return [
        {
            "fwmark": lvs_fwmark(inst.vrid),
            "vip": str(inst.vip),
            "port": topo.lvs.port,
            "scheduler": topo.lvs.scheduler,
            "persistence_timeout": topo.lvs.persistence_timeout,
            "delay_loop": LVS_DELAY_LOOP,
            "connect_timeout": LVS_CONNECT_TIMEOUT,
            "retry": LVS_RETRY,
            "delay_before_retry": LVS_DELAY_BEFORE_RETRY,
            "health_path": topo.nginx.health_path,
            "real_servers": [str(lb.ip) for lb in topo.load_balancers],
        }
        for inst in topo.instances
    ]


# ------------------------------------------------------------------------- scripts


def check_restart_marker(layout: Layout) -> str:
    return posixpath.join(layout.keepalived_state_dir, "check_nginx.restarted")


def check_slow_counter(layout: Layout) -> str:
    """Where the check counts its unanswered probes in a row (check_nginx.sh.j2)."""
    return posixpath.join(layout.keepalived_state_dir, "check_nginx.slow")


def vrrp_state_file(layout: Layout) -> str:
    return posixpath.join(layout.keepalived_state_dir, "vrrp.state")


def check_nginx_script(topo: Topology, node: Node, layout: Layout) -> str:
    """The health check keepalived runs: asks this node's nginx over HTTP."""
    timeout = topo.vrrp.check.timeout
    probe = timeout * CHECK_PROBE_TIMEOUT
    return render_template(
        "keepalived/check_nginx.sh.j2",
        node_name=node.name,
        url=topo.nginx.health_url,
        restart=layout.nginx_restart,
        marker=check_restart_marker(layout),
        slow=check_slow_counter(layout),
        fall=topo.vrrp.check.fall,
        timeout=timeout,
        probe_timeout=probe.normalize(),
        restart_timeout=NGINX_RESTART_TIMEOUT,
    )


def watch_probe_timeout(interval: Decimal) -> Decimal:
    """The bound of the watcher's counted probe: a fraction of its interval."""
    return interval * WATCH_PROBE_TIMEOUT


def watch_suspect(interval: Decimal) -> Decimal:
    """How long the watcher's probe may stay unanswered before the hold goes on (and the
    pause between probes): :data:`WATCH_SUSPECT` or :data:`WATCH_SUSPECT_SHARE` of the
    interval, whichever is more, at most the probe's bound."""
    return min(max(WATCH_SUSPECT, interval * WATCH_SUSPECT_SHARE), watch_probe_timeout(interval))


def _micros(seconds: Decimal) -> int:
    return int(seconds * 1_000_000)


def nginx_watch_script(topo: Topology, node: Node, layout: Layout) -> str:
    """The fast health path: a loop that asks this node's nginx every
    ``vrrp.check.watchInterval`` seconds and writes 0/1 to ``layout.health_file``
    (keepalived's track_file) when the verdict changes (fall/rise applied)."""
    check = topo.vrrp.check
    probe = watch_probe_timeout(check.watch_interval)
    suspect = watch_suspect(check.watch_interval)
    url = urlsplit(topo.nginx.health_url)
    return render_template(
        "keepalived/nginx_watch.sh.j2",
        node_name=node.name,
        url=topo.nginx.health_url,
        probe_host=url.hostname,
        probe_port=url.port or 80,
        probe_path=url.path,
        host_header=url.netloc,
        interval_us=_micros(check.watch_interval),
        probe_us=_micros(probe),
        suspect_us=_micros(suspect),
        suspect=suspect.normalize(),
        health_file=layout.health_file,
        health_file_text=layout.health_file,
        interval=check.watch_interval.normalize(),
        probe_timeout=probe.normalize(),
        fall=check.fall,
        rise=check.rise,
        vips=" ".join(hold_vips(topo)),
        hold_table=HOLD_TABLE,
        hold_chain=HOLD_CHAIN,
        hung_comment=HOLD_HUNG_COMMENT,
    )


def vrrp_state_script(topo: Topology, node: Node, layout: Layout) -> str:
    """The state recorder keepalived runs on every transition (``notify``); with LVS off
    it also keeps a copy of each VIP on lo while keepalived runs (with LVS the VIPs
    live on lo anyway)."""
    return render_template(
        "keepalived/vrrp_state.sh.j2",
        node_name=node.name,
        instances=[{"name": i.name, "vip": str(i.vip)} for i in topo.instances],
        state_dir=layout.vrrp_state_dir,
        drain_dir=layout.drain_dir,
        transitions_kept=TRANSITIONS_KEPT,
        linger=0 if topo.lvs is not None else VIP_LINGER,
        interface=layout.interface,
    )


def notify_script(topo: Topology, node: Node, layout: Layout) -> str:
    """The state-change script (nginx-ha:notify.script)."""
    return render_template(
        "keepalived/notify.sh.j2",
        node_name=node.name,
        instance=topo.instances[0].name,
        state_file=vrrp_state_file(layout),
    )
