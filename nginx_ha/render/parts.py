"""What each part of a node brings to it: its files (with their modes, validators and
what a change needs), its secrets, its steps (installs, builds, setups) and its share
of the activation's parameters. A node kind lists its parts (topology/kinds.py); this
module is the table of what each part is. Pure.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

import nginx_ha.render.files as files
from nginx_ha.render.app import app_artefacts, app_step, app_uploads, backend_gate_params
from nginx_ha.render.artefacts import Artefact, Item, PartPlan, SecretFile, Step, Upload
from nginx_ha.render.artefacts import staged_secret as staged_secret_path
from nginx_ha.render.hold import VIP_HOLD_SCRIPT, vip_hold_params
from nginx_ha.render.keepalived import (
    check_nginx_script,
    keepalived_conf,
    nginx_watch_script,
    notify_script,
    vrrp_auth_file_text,
    vrrp_auth_path,
    vrrp_state_script,
)
from nginx_ha.render.nginx import nginx_conf
from nginx_ha.render.params import (
    KEEPALIVED_INSTALL_SCRIPT,
    LVS_SCRIPT,
    firewall_params,
    keepalived_build_params,
    lvs_params,
    nginx_install_params,
    param_header,
    tomcat_install_params,
    tomcat_port_params,
    uploaded_tarball_path,
)
from nginx_ha.render.templates import render_template, script
from nginx_ha.render.tls import gate_params as tls_gate_params
from nginx_ha.render.tls import tls_files
from nginx_ha.render.tomcat import tomcat_page, tomcat_page_path
from nginx_ha.topology import Layout, Node, Topology, keepalived_bin, keepalived_build_bin
from nginx_ha.topology.kinds import TOMCAT_UNIT, Part

# Seconds a node back from its activation waits at most for the peer's handback before
# it takes its VIPs back by itself (an interrupted rollout does not leave it held).
HOLD_MAX = 600


# ------------------------------------------------------------------------ units


def keepalived_unit(topo: Topology, node: Node, layout: Layout) -> str:
    return render_template(
        "systemd/keepalived.service.j2",
        node_name=node.name,
        version=topo.keepalived.source.version,
        what="VRRP and LVS" if topo.keepalived.ipvs else "VRRP",
        build_id=topo.keepalived.build_id,
        bin=keepalived_bin(topo, layout),
        conf=layout.keepalived_conf,
        runtime_dir=runtime_directories(layout),
    )


def watch_unit(node: Node, layout: Layout) -> str:
    return render_template(
        "systemd/nginx-ha-watch.service.j2",
        node_name=node.name,
        watch_script=layout.watch_script,
        runtime_dir=runtime_directories(layout),
    )


def runtime_directories(layout: Layout) -> str:
    """systemd's RuntimeDirectory= for the folders keepalived watches from its start
    (the health file's, the drain folder) and the state folder, where under /run."""
    folders = [posixpath.dirname(layout.health_file), layout.drain_dir, layout.vrrp_state_dir]
    names = [f.removeprefix("/run/") for f in folders if f.startswith("/run/")]
    return " ".join(dict.fromkeys(names))


def run_script(role: str, name: str, params: dict[str, str]) -> str:
    """A script with its parameters baked in, staged and run by the activation."""
    return "#!/usr/bin/env bash\n# nginx-ha: " + role + "\n" + param_header(params) + script(name)


def _run(part: str, role: str, target: str, name: str, params: dict[str, str]) -> Artefact:
    """A script the activation runs (a firewall rule set, a setting of the node);
    ``target`` names the record of the script last run there (activate.sh)."""
    text = run_script(role, name, params)
    return Artefact(role, part, "run", target, text, files.SCRIPT, "bash", "none")


def _firewall(part: str, rules: str, topo: Topology, node: Node) -> Artefact:
    return _run(
        part,
        f"{rules}-firewall",
        f"firewall-{rules}",
        "firewall.sh",
        firewall_params(rules, topo, node),
    )


# ------------------------------------------------------------------- the parts


def nginx_part(topo: Topology, node: Node, layout: Layout) -> PartPlan:
    """nginx on a load balancer: the package, nginx.conf (``nginx -t`` on the staged
    copy, with the staged TLS files it names), nginx's ports open to anyone, the VIP
    hold (render/hold.py), and with ``tls`` the certificate chain, its key and the
    session ticket keys (render/tls.py)."""
    tls_plain, tls_secrets = tls_files(topo, layout)
    # nginx -t reads the certificate, the key and the ticket keys nginx.conf names:
    # their staged copies, the targets may hold the previous ones (or nothing yet).
    subst = {a.target: a.staged(layout) for a in tls_plain if a.role != "tls-trust"}
    subst |= {s.target: s.staged for s in tls_secrets if s.role != "tls-trust"}
    validate = {"NGINX_BIN": layout.nginx_bin}
    if subst:
        validate["SUBST"] = "".join(f"{a}\t{b}\n" for a, b in subst.items())
    conf = Artefact(
        "nginx-conf",
        "nginx",
        "file",
        layout.nginx_conf,
        nginx_conf(topo, node, layout),
        files.CONFIG,
        "nginx",
        "nginx-reload",
        validate,
    )
    managed = [
        _firewall("nginx", "http", topo, node),
        *([_firewall("nginx", "https", topo, node)] if topo.tls else []),
        # New connections to the VIPs dropped, not refused, while no nginx listens or
        # the watcher finds it hung (render/hold.py).
        _run("nginx", "vip-hold", "vip-hold", VIP_HOLD_SCRIPT, vip_hold_params(topo)),
    ]
    return PartPlan(
        "nginx",
        artefacts=(*tls_plain, conf, *(managed if layout.manage_firewall else ())),
        secrets=tuple(tls_secrets),
        steps=(Step("nginx-install", "install_nginx.sh", nginx_install_params(layout)),),
        activation={
            "NGINX_PID": layout.nginx_pid,
            "NGINX_RESTART": layout.nginx_restart,
            **tls_gate_params(topo, layout),
        },
    )


def keepalived_part(topo: Topology, node: Node, layout: Layout) -> PartPlan:
    """keepalived on a load balancer: the build (verified source, a folder of its own
    per build), the VRRP firewall, the VRRP secret (on stdin), the check, state,
    watcher and notify scripts, the watcher's and keepalived's units, keepalived.conf
    (checked last by the build that will read it, with the staged copies of what it
    names), and the LVS real server (nginx-ha:lvs)."""
    out: list[Artefact] = []
    if layout.manage_firewall:
        out.append(_firewall("keepalived", "vrrp", topo, node))

    def file(role: str, target: str, text: str, mode: str, validator, action: str) -> None:
        out.append(Artefact(role, "keepalived", "file", target, text, mode, validator, action))

    file(
        "check-script",
        layout.check_script,
        check_nginx_script(topo, node, layout),
        files.SCRIPT,
        "bash",
        "keepalived-reload",
    )
    file(
        "state-script",
        layout.vrrp_state_script,
        vrrp_state_script(topo, node, layout),
        files.SCRIPT,
        "bash",
        "none",
    )
    file(
        "watch-script",
        layout.watch_script,
        nginx_watch_script(topo, node, layout),
        files.SCRIPT,
        "bash",
        "watch-restart",
    )
    out.append(
        Artefact(
            "watch-unit",
            "keepalived",
            "unit",
            layout.watch_unit,
            watch_unit(node, layout),
            files.UNIT,
            "unit",
            "watch-restart",
        )
    )
    if topo.notify.script:
        file(
            "notify-script",
            layout.notify_script,
            notify_script(topo, node, layout),
            files.SCRIPT,
            "bash",
            "none",
        )
    out.append(
        Artefact(
            "keepalived-unit",
            "keepalived",
            "unit",
            layout.keepalived_unit,
            keepalived_unit(topo, node, layout),
            files.UNIT,
            "unit",
            "keepalived-restart",
        )
    )
    secrets: tuple[SecretFile, ...] = ()
    auth = vrrp_auth_path(topo, layout)
    if auth is not None:
        secrets = (
            SecretFile(
                "keepalived-auth",
                "keepalived",
                "vrrpAuthPass",
                auth,
                staged_secret_path(layout, auth),
                files.SECRET,
                "keepalived-reload",
                lambda secret: vrrp_auth_file_text(topo, secret),
            ),
        )
    # keepalived.conf last: its check names the staged copies of the files it uses.
    conf = keepalived_conf(topo, node, layout)
    subst = {a.target: a.staged(layout) for a in out if a.kind == "file" and a.target in conf}
    subst |= {s.target: s.staged for s in secrets}
    out.append(
        Artefact(
            "keepalived-conf",
            "keepalived",
            "file",
            layout.keepalived_conf,
            conf,
            files.CONFIG,
            "keepalived",
            "keepalived-reload",
            {
                "KEEPALIVED_BIN": keepalived_bin(topo, layout),
                "SUBST": "".join(f"{a}\t{b}\n" for a, b in subst.items()),
            },
        )
    )
    steps: list[Step] = []
    uploads: list[Upload] = []
    links: list[Item] = []
    if not layout.keepalived_bin:  # the program builds it (the lab runs a given one)
        source = topo.keepalived.source
        uploaded = None
        if source.path:
            uploaded = uploaded_tarball_path(source, layout)
            uploads.append(Upload("keepalived-tarball", source.path, uploaded, source.sha256 or ""))
        prefix = posixpath.join(layout.keepalived_builds, topo.keepalived.build_id)
        build = keepalived_build_params(source, topo.keepalived.ipvs, prefix, uploaded)
        steps.append(Step("keepalived-build", KEEPALIVED_INSTALL_SCRIPT, build))
        # keepalived on PATH, root's and every user's: the active build's binary.
        binary = keepalived_build_bin(topo, layout)
        links = [
            Item("link", path, binary, "-", "none")
            for path in (layout.keepalived_link, layout.keepalived_user_link)
        ]
    if topo.lvs is not None:
        steps.append(
            Step(
                "lvs-realserver",
                LVS_SCRIPT,
                lvs_params(topo, node, layout, "up"),
                delete_params=lvs_params(topo, node, layout, "down"),
            )
        )
    return PartPlan(
        "keepalived",
        artefacts=tuple(out),
        secrets=secrets,
        links=tuple(links),
        steps=tuple(steps),
        uploads=tuple(uploads),
        activation={
            "KEEPALIVED_BIN": keepalived_bin(topo, layout),
            "KEEPALIVED_CONF": layout.keepalived_conf,
            "KEEPALIVED_PID": layout.keepalived_pid,
            "KEEPALIVED_START": layout.keepalived_start,
            "WATCH_SCRIPT": layout.watch_script,
            "WATCH_START": layout.watch_start,
            "HOLD_MAX": str(HOLD_MAX),
        },
    )


def tomcat_part(topo: Topology, node: Node, layout: Layout) -> PartPlan:
    """Tomcat on a backend: the package, its connector port, its port open to the load
    balancers only, and its ROOT page (which names the node and its role, so a
    request through the VIP shows which backend answered); with nginx-ha:app the
    application (render/app.py): its WAR staged into a release folder, its context
    descriptor and JVM options, and a gate that asks its health path."""
    managed: list[Artefact] = []
    if layout.manage_firewall:
        managed.append(_firewall("tomcat", "tomcat", topo, node))
    if layout.manage_tomcat_port:
        managed.append(
            _run(
                "tomcat",
                "tomcat-port",
                "tomcat-port",
                "install_tomcat.sh",
                tomcat_port_params(node),
            )
        )
    page = Artefact(
        "tomcat-page",
        "tomcat",
        "file",
        tomcat_page_path(layout),
        tomcat_page(topo, node, layout),
        files.CONFIG,
        "marker",
        "none",
        # The staged page must be this node's (a mix-up would hide a failover).
        {"MARKER": node.page_marker},
    )
    steps = [Step("tomcat-install", "install_tomcat.sh", tomcat_install_params())]
    if topo.app is not None:
        steps.append(app_step(topo.app, layout))
    return PartPlan(
        "tomcat",
        artefacts=(*managed, page, *app_artefacts(topo, node, layout)),
        steps=tuple(steps),
        uploads=app_uploads(topo.app, layout) if topo.app is not None else (),
        activation={
            "TOMCAT_SERVICE": TOMCAT_UNIT,
            "TOMCAT_RESTART": layout.tomcat_restart,
            **backend_gate_params(topo, node),
        },
    )


PARTS: dict[Part, Callable[[Topology, Node, Layout], PartPlan]] = {
    "nginx": nginx_part,
    "keepalived": keepalived_part,
    "tomcat": tomcat_part,
}
