"""What a rollout stages on a node and how the node's activation applies it (pure).

A change to a node has two phases (docs/operations.md, "Changing a serving stack"):

- **stage**, on every node at once: each file is uploaded, validated with the real tool
  and kept in its release folder (``Layout.release_dir/<digest>/``); builds go to a
  folder of their own. Nothing the node runs changes.
- **activate**, one node at a time in ``Topology.rollout`` order, each after the previous
  node's gate: ``templates/scripts/activate.sh`` swaps in what the manifest lists,
  reloads or restarts what it touches, and checks the node end to end; a node holding a
  VIP hands it to its peer first; a failed gate rolls the node back.

This module decides the artefacts, their staged paths and validators, the manifest and
the activation's parameters; the Pulumi components only turn them into steps.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal

from nginx_ha.render.hold import VIP_HOLD_SCRIPT, vip_hold_params
from nginx_ha.render.keepalived import (
    check_nginx_script,
    keepalived_conf,
    nginx_watch_script,
    notify_script,
    vrrp_auth_path,
    vrrp_state_script,
)
from nginx_ha.render.nginx import nginx_conf
from nginx_ha.render.params import firewall_params, param_header
from nginx_ha.render.templates import render_template, script, sha256
from nginx_ha.render.tomcat import tomcat_page, tomcat_page_path
from nginx_ha.topology import Layout, Node, Topology, keepalived_bin, keepalived_build_bin
from nginx_ha.topology.naming import PAGE_MARKER_KEY

ItemKind = Literal["file", "secret", "unit", "link", "run"]
Validator = Literal["nginx", "keepalived", "bash", "marker", "unit", "none"]

# Seconds the gate may wait: a request through the node (nginx answers within its 1 s
# timeouts; Tomcat may take a while to start under emulation), and VRRP to settle.
GATE_TIMEOUT_LB = 10
GATE_TIMEOUT_BACKEND = 180
SETTLE_TIMEOUT = 20
# Seconds a node back from its activation waits at most for the peer's handback before
# it takes its VIPs back by itself (an interrupted rollout does not leave it held).
HOLD_MAX = 600
TOMCAT_SERVICE = "tomcat10"
# A load balancer's files that belong to nginx (the rest are keepalived's).
NGINX_ROLES = ("nginx-conf", "http-firewall", "vip-hold")


@dataclass(frozen=True)
class Artefact:
    """One file a node gets through a rollout."""

    role: str  # the step's name part: "nginx-conf", "vrrp-firewall", ...
    kind: ItemKind
    target: str  # its path on the node ("run": a name)
    text: str
    mode: str
    validator: Validator
    action: str  # what a change needs: see activate.sh
    validate: dict[str, str] = field(default_factory=dict)  # the validator's parameters

    @property
    def digest(self) -> str:
        return sha256(self.text)

    def staged(self, layout: Layout) -> str:
        return posixpath.join(layout.release_dir, self.digest[:16], posixpath.basename(self.target))

    def uploaded(self, layout: Layout) -> str:
        return posixpath.join(
            layout.upload_dir, f"{self.digest[:16]}-{posixpath.basename(self.target)}"
        )


@dataclass(frozen=True)
class Item:
    """One line of a node's manifest."""

    kind: ItemKind
    target: str
    staged: str
    mode: str
    action: str

    def line(self) -> str:
        return "\t".join((self.kind, self.target, self.staged, self.mode, self.action))


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


def watch_unit(topo: Topology, node: Node, layout: Layout) -> str:
    del topo
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


# ------------------------------------------------------------------ the artefacts


def load_balancer_artefacts(topo: Topology, node: Node, layout: Layout) -> list[Artefact]:
    """Every file a load balancer gets through a rollout but the VRRP secret."""
    out = [
        Artefact(
            "nginx-conf",
            "file",
            layout.nginx_conf,
            nginx_conf(topo, node, layout),
            "0644",
            "nginx",
            "nginx-reload",
            {"NGINX_BIN": layout.nginx_bin},
        ),
        Artefact(
            "http-firewall",
            "run",
            "firewall-http",
            run_script("http-firewall", "firewall.sh", firewall_params("http", topo, node)),
            "0755",
            "bash",
            "none",
        ),
        Artefact(
            # New connections to the VIPs dropped, not refused, while no nginx listens
            # or the watcher finds it hung (render/hold.py).
            "vip-hold",
            "run",
            "vip-hold",
            run_script("vip-hold", VIP_HOLD_SCRIPT, vip_hold_params(topo)),
            "0755",
            "bash",
            "none",
        ),
        Artefact(
            "vrrp-firewall",
            "run",
            "firewall-vrrp",
            run_script("vrrp-firewall", "firewall.sh", firewall_params("vrrp", topo, node)),
            "0755",
            "bash",
            "none",
        ),
        Artefact(
            "check-script",
            "file",
            layout.check_script,
            check_nginx_script(topo, node, layout),
            "0755",
            "bash",
            "keepalived-reload",
        ),
        Artefact(
            "state-script",
            "file",
            layout.vrrp_state_script,
            vrrp_state_script(topo, node, layout),
            "0755",
            "bash",
            "none",
        ),
        Artefact(
            "watch-script",
            "file",
            layout.watch_script,
            nginx_watch_script(topo, node, layout),
            "0755",
            "bash",
            "watch-restart",
        ),
        Artefact(
            "watch-unit",
            "unit",
            layout.watch_unit,
            watch_unit(topo, node, layout),
            "0644",
            "unit",
            "watch-restart",
        ),
    ]
    if topo.notify.script:
        out.append(
            Artefact(
                "notify-script",
                "file",
                layout.notify_script,
                notify_script(topo, node, layout),
                "0755",
                "bash",
                "none",
            )
        )
    out.append(
        Artefact(
            "keepalived-unit",
            "unit",
            layout.keepalived_unit,
            keepalived_unit(topo, node, layout),
            "0644",
            "unit",
            "keepalived-restart",
        )
    )
    out = [a for a in out if managed(a, layout)]
    # keepalived.conf last: its check names the staged copies of the files it uses.
    conf = keepalived_conf(topo, node, layout)
    subst = {a.target: a.staged(layout) for a in out if a.kind == "file" and a.target in conf}
    secret = vrrp_auth_path(topo, layout)
    if secret is not None:
        subst[secret] = staged_secret(layout, secret)
    out.append(
        Artefact(
            "keepalived-conf",
            "file",
            layout.keepalived_conf,
            conf,
            "0644",
            "keepalived",
            "keepalived-reload",
            {
                "KEEPALIVED_BIN": keepalived_bin(topo, layout),
                "SUBST": "".join(f"{a}\t{b}\n" for a, b in subst.items()),
            },
        )
    )
    return out


def backend_artefacts(topo: Topology, node: Node, layout: Layout) -> list[Artefact]:
    """Every file a backend gets through a rollout."""
    port = str(node.port or 8080)
    out = [
        Artefact(
            "tomcat-firewall",
            "run",
            "firewall-tomcat",
            run_script("tomcat-firewall", "firewall.sh", firewall_params("tomcat", topo, node)),
            "0755",
            "bash",
            "none",
        ),
        Artefact(
            "tomcat-port",
            "run",
            "tomcat-port",
            run_script("tomcat-port", "install_tomcat.sh", {"ACTION": "port", "TOMCAT_PORT": port}),
            "0755",
            "bash",
            "none",
        ),
        Artefact(
            "tomcat-page",
            "file",
            tomcat_page_path(layout),
            tomcat_page(topo, node, layout),
            "0644",
            "marker",
            "none",
            # The staged page must be this node's (a mix-up would hide a failover).
            {"MARKER": node.page_marker},
        ),
    ]
    return [a for a in out if managed(a, layout)]


def artefacts(topo: Topology, node: Node, layout: Layout) -> list[Artefact]:
    if node.is_load_balancer:
        return load_balancer_artefacts(topo, node, layout)
    return backend_artefacts(topo, node, layout)


def managed(artefact: Artefact, layout: Layout) -> bool:
    """Whether the layout has the rollout manage this artefact (see Layout)."""
    if artefact.role.endswith("-firewall") or artefact.role == "vip-hold":
        return layout.manage_firewall
    if artefact.role == "tomcat-port":
        return layout.manage_tomcat_port
    return True


def staged_secret(layout: Layout, target: str) -> str:
    """The one staged slot of a secret file (root-only folder; its content never names a
    digest, which would leak a hash of the secret into plain state)."""
    return posixpath.join(layout.release_dir, "secret", posixpath.basename(target))


def stage_params(artefact: Artefact, layout: Layout) -> dict[str, str]:
    return {
        "UPLOADED": artefact.uploaded(layout),
        "STAGED": artefact.staged(layout),
        "MODE": artefact.mode,
        "VALIDATOR": artefact.validator,
        **artefact.validate,
    }


# ---------------------------------------------------------- manifest, activation


def manifest(topo: Topology, node: Node, layout: Layout) -> list[Item]:
    """What the node's activation applies, in order."""
    items = [
        Item(a.kind, a.target, a.staged(layout), a.mode, a.action)
        for a in artefacts(topo, node, layout)
    ]
    if node.is_load_balancer:
        secret = vrrp_auth_path(topo, layout)
        if secret is not None:
            items.insert(
                0,
                Item("secret", secret, staged_secret(layout, secret), "0600", "keepalived-reload"),
            )
        if not layout.keepalived_bin:
            # keepalived on PATH, root's and every user's: the active build's binary.
            build = keepalived_build_bin(topo, layout)
            for path in (layout.keepalived_user_link, layout.keepalived_link):
                items.insert(0, Item("link", path, build, "-", "none"))
    return items


def manifest_text(items: list[Item]) -> str:
    return "".join(item.line() + "\n" for item in items)


def activation_params(topo: Topology, node: Node, layout: Layout) -> dict[str, str]:
    """activate.sh's parameters for ``node``."""
    common = {
        "NODE": node.name,
        "KIND": "lb" if node.is_load_balancer else "backend",
        "MANIFEST": manifest_text(manifest(topo, node, layout)),
        "APPLIED_DIR": posixpath.join(posixpath.dirname(layout.release_dir), "applied"),
        "SETTLE_TIMEOUT": str(SETTLE_TIMEOUT),
    }
    if not node.is_load_balancer:
        return common | {
            "GATE_TIMEOUT": str(GATE_TIMEOUT_BACKEND),
            "TOMCAT_URL": f"http://127.0.0.1:{node.port or 8080}/",
            "EXPECT_MARKER": node.page_marker,
            "TOMCAT_SERVICE": TOMCAT_SERVICE,
            "TOMCAT_RESTART": layout.tomcat_restart,
        }
    return (
        common
        | vrrp_params(topo, node, layout)
        | {
            "GATE_TIMEOUT": str(GATE_TIMEOUT_LB),
            "NODE_URL": f"http://{node.ip}{topo.nginx.port_suffix}/",
            "MARKER_KEY": PAGE_MARKER_KEY,
            "NGINX_PID": layout.nginx_pid,
            "NGINX_RESTART": layout.nginx_restart,
            "KEEPALIVED_BIN": keepalived_bin(topo, layout),
            "KEEPALIVED_CONF": layout.keepalived_conf,
            "KEEPALIVED_PID": layout.keepalived_pid,
            "KEEPALIVED_START": layout.keepalived_start,
            "WATCH_SCRIPT": layout.watch_script,
            "WATCH_START": layout.watch_start,
            "HOLD_MAX": str(HOLD_MAX),
        }
    )


def vrrp_params(topo: Topology, node: Node, layout: Layout) -> dict[str, str]:
    """vrrp_lib.sh's parameters: the instances, the peers' state, the flags."""
    peers = [lb for lb in topo.load_balancers if lb.name != node.name]
    return {
        "NODE": node.name,
        "IFACE": layout.interface,
        # Each VRRP instance, its VIP, and the state the stack wants this node in once
        # settled: with preemption the node meant to hold a VIP gets it back.
        "INSTANCES": " ".join(
            f"{i.name}={i.vip}={wanted_state(topo, node, i.master)}" for i in topo.instances
        ),
        "PEERS": " ".join(f"{p.name}={topo.nginx.state_url(p.ip)}" for p in peers),
        "STATE_DIR": layout.vrrp_state_dir,
        "DRAIN_DIR": layout.drain_dir,
        "PORT": str(topo.nginx.port),
        "SETTLE_TIMEOUT": str(SETTLE_TIMEOUT),
    }


def wanted_state(topo: Topology, node: Node, master: str) -> str:
    """MASTER or BACKUP where preemption decides it, ANY where it does not (without
    preemption whoever holds a VIP keeps it)."""
    if not topo.vrrp.preempt:
        return "ANY"
    return "MASTER" if master == node.name else "BACKUP"


def activation_script(topo: Topology, node: Node, layout: Layout) -> str:
    """The whole activation (parameters and scripts), as the node runs it."""
    return (
        param_header(activation_params(topo, node, layout))
        + script("vrrp_lib.sh")
        + script("activate.sh")
    )


def handback_script(topo: Topology, node: Node, layout: Layout) -> str:
    """A load balancer's handback (parameters and scripts), as it runs it."""
    return (
        param_header(vrrp_params(topo, node, layout))
        + script("vrrp_lib.sh")
        + script("handback.sh")
    )
