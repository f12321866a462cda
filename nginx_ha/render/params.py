"""Parameters of the scripts a node runs, and the one quoted header that sets them.

A script (``templates/scripts/*.sh``) gets its parameters as shell assignments above
its text, each value quoted with ``shlex.quote``: sshd drops client environment
variables unless AcceptEnv allows them, so neither the program nor the lab passes
them through the environment. Every script's parameters are built here, but the
rollout's (``render/rollout.py``: stage, activation, handback) and the VIP hold's
(``render/hold.py``).
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping

from nginx_ha.config.models import Keepalived
from nginx_ha.render.keepalived import lvs_fwmark
from nginx_ha.render.templates import template_file
from nginx_ha.topology import Layout, Node, NodeKind, Topology
from nginx_ha.topology.hostkeys import PUBLIC_KEY_FILE
from nginx_ha.topology.naming import PAGE_MARKER_KEY
from nginx_ha.topology.plans import TlsPlan

LVS_SCRIPT = "lvs_realserver.sh"
KEEPALIVED_INSTALL_SCRIPT = "install_keepalived.sh"
# VRRP only unless nginx-ha:lvs is on: keepalived is built without IPVS then.
CONFIGURE_OPTIONS = "--disable-lvs"
# With nginx-ha:lvs: IPVS support, and the checker process that runs the virtual
# servers' health checks besides the VRRP one.
CONFIGURE_OPTIONS_LVS = "--enable-lvs"
# The smoke test through the VIP: attempts, seconds between them, seconds per request.
SMOKE_TRIES = 30
SMOKE_INTERVAL = 1
SMOKE_TIMEOUT = 3


def param_header(params: Mapping[str, str | int] | None) -> str:
    """``NAME='value'`` lines, one per parameter, every value quoted."""
    return "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in (params or {}).items())


def script_text(text: str, params: Mapping[str, str | int] | None = None) -> str:
    """A script as a node (or the lab, or a test) runs it: the preamble (strict mode,
    templates/scripts/preamble.sh), its parameters, then the script."""
    return template_file("scripts/preamble.sh") + param_header(params) + text


# ------------------------------------------------------------ installs and builds


def wait_ready_params() -> dict[str, str]:
    """wait_ready.sh's: the pinned public host key it makes readable."""
    return {"HOST_KEY_PUB": PUBLIC_KEY_FILE}


def nginx_install_params(layout: Layout) -> dict[str, str]:
    return {"ACTION": "install", "NGINX_PID": layout.nginx_pid}


def tomcat_install_params() -> dict[str, str]:
    return {"ACTION": "install"}


def tomcat_port_params(node: Node) -> dict[str, str]:
    """install_tomcat.sh's ``port`` action: the node's connector port."""
    return {"ACTION": "port", "TOMCAT_PORT": str(node.service_port)}


def keepalived_build_params(
    source: Keepalived, ipvs: bool, prefix: str, uploaded: str | None
) -> dict[str, str]:
    """install_keepalived.sh's parameters: build ``source`` with or without IPVS into
    ``prefix`` (the build's own folder)."""
    params = {
        "KEEPALIVED_VERSION": source.version,
        "PREFIX": prefix,
        "CONFIGURE_OPTIONS": configure_options(ipvs),
    }
    if source.git:
        params |= {"SOURCE_KIND": "git", "SOURCE": source.git, "GIT_COMMIT": source.commit or ""}
    elif source.url:
        params |= {"SOURCE_KIND": "url", "SOURCE": source.url, "SHA256": source.sha256 or ""}
    else:
        assert uploaded is not None, "a path source is uploaded first"
        params |= {"SOURCE_KIND": "file", "SOURCE": uploaded, "SHA256": source.sha256 or ""}
    return params


def configure_options(ipvs: bool) -> str:
    """./configure options: IPVS only where the node's keepalived needs it (a changed
    choice is another build, in a folder of its own)."""
    return CONFIGURE_OPTIONS_LVS if ipvs else CONFIGURE_OPTIONS


def uploaded_tarball_path(source: Keepalived, layout: Layout) -> str:
    """Where a keepalived tarball uploaded from the operator's machine lands."""
    return posixpath.join(layout.upload_dir, f"keepalived-{source.version}-{source.sha256}.tar.gz")


def lvs_params(topo: Topology, node: Node, layout: Layout, action: str) -> dict[str, str]:
    """lvs_realserver.sh's parameters (docs/active-active-lvs.md)."""
    return {
        "ACTION": action,
        "LVS_VIPS": " ".join(str(i.vip) for i in topo.instances),
        "LVS_MARKS": " ".join(str(lvs_fwmark(i.vrid)) for i in topo.instances),
        "LVS_PORT": str(topo.lvs.port if topo.lvs else topo.nginx.port),
        "LVS_PEER_MACS": " ".join(lb.mac for lb in topo.load_balancers if lb.name != node.name),
        "SYSCTL_FILE": layout.lvs_sysctl_file,
        "NFT_FILE": layout.lvs_nft_file,
        "UNIT_PATH": layout.lvs_unit,
    }


# -------------------------------------------------------------------- firewall


def tomcat_sources(topo: Topology) -> list[str]:
    """Who may reach a Tomcat port: every load balancer (by its own address, and every
    VIP in case the kernel picks one as the source), and the node itself."""
    vips = [str(i.vip) for i in topo.instances]
    return [str(lb.ip) for lb in topo.load_balancers] + vips + ["127.0.0.1"]


def firewall_params(kind: str, topo: Topology, node: Node) -> dict[str, str]:
    """firewall.sh's parameters for one rule set of ``node``:

    - ``http``: nginx's port from anywhere; ``https``: the TLS port (nginx-ha:tls);
    - ``vrrp``: VRRP (IP protocol 112) from the other load balancers, dropped from
      anyone else (a forged advert with a higher priority would take the VIP); unicast
      adverts come from the peers' addresses, and so do multicast ones to 224.0.0.18;
    - ``tomcat``: the backend's port from the load balancers only."""
    if kind == "http":
        rule = {"FW_NAME": "http", "FW_PROTO": "tcp", "FW_PORT": str(topo.nginx.port)}
        rule["FW_SOURCES"] = ""
    elif kind == "https" and topo.tls is not None:
        rule = {"FW_NAME": "https", "FW_PROTO": "tcp", "FW_PORT": str(topo.tls.port)}
        rule["FW_SOURCES"] = ""
    elif kind == "vrrp":
        peers = topo.peers[node.name].unicast_peers
        rule = {"FW_NAME": "vrrp", "FW_PROTO": "vrrp", "FW_PORT": ""}
        rule["FW_SOURCES"] = " ".join(str(p) for p in peers)
        rule["FW_RESTRICT"] = "yes"
    elif kind == "tomcat":
        rule = {"FW_NAME": "tomcat", "FW_PROTO": "tcp", "FW_PORT": str(node.service_port)}
        rule["FW_SOURCES"] = " ".join(tomcat_sources(topo))
        rule["FW_RESTRICT"] = "yes"
    else:
        raise ValueError(f"no firewall rule set {kind!r}")
    return rule


def ssh_firewall_params(topo: Topology) -> dict[str, str] | None:
    """firewall.sh's parameters for the SSH port (kept apart from the other rule sets:
    ssh.allowFrom, default anywhere): from ``ssh.allowFrom`` (and the node itself)
    only, dropped from everyone else; None when allowFrom is empty (anywhere: no rule
    at all). The machine running Pulumi must be among the sources."""
    if not topo.ssh.allow_from:
        return None
    return {
        "FW_NAME": "ssh",
        "FW_PROTO": "tcp",
        "FW_PORT": "22",
        "FW_SOURCES": " ".join([*topo.ssh.allow_from, "127.0.0.1"]),
        "FW_RESTRICT": "yes",
    }


# ------------------------------------------------------------- smoke and status


def smoke_params(topo: Topology, system_trust: str) -> dict[str, str | int]:
    """smoke.sh's: through the first VIP, answered by the MASTER and a primary; with
    TLS over HTTPS to the first server name at the VIP, the chain verified (with the
    stack's CA on stdin, the operator's ``tls.ca`` on stdin, else the node's system
    store ``system_trust``), and the plain port redirecting when it should."""
    tls = topo.tls
    extra: dict[str, str | int] = {}
    # With nginx-ha:app the application's health path, the backend named by nginx's
    # X-Upstream (the application's page has no marker line).
    path = topo.app.health_path if topo.app is not None else "/"
    if topo.app is not None:
        extra["BACKEND_ADDRS"] = " ".join(
            f"{b.ip}:{b.service_port}={b.name}={b.role}" for b in topo.backends
        )
    if tls is not None:
        name = tls.gate_names[0]
        extra |= {
            "TLS_URL": tls.url_for(name).removesuffix("/") + path,
            "TLS_RESOLVE": f"{name}:{tls.port}:{topo.vip}",
            "REDIRECT": "yes" if tls.redirect_http else "no",
        }
        extra |= {"TLS_CA_STDIN": "yes"} if tls.self_signed or tls.ca else {"TLS_CA": system_trust}
    return {
        "URL": f"http://{topo.vip}{topo.nginx.port_suffix}{path}",
        "MARKER_KEY": PAGE_MARKER_KEY,
        "EXPECT_LB": topo.master.name,
        "PRIMARIES": " ".join(b.name for b in topo.backends if b.role == "primary"),
        "TRIES": SMOKE_TRIES,
        "INTERVAL": SMOKE_INTERVAL,
        "TIMEOUT": SMOKE_TIMEOUT,
        **extra,
    }


def status_params(
    kind: NodeKind,
    layout: Layout,
    transitions: int,
    systemctl: str = "systemctl",
    tls: TlsPlan | None = None,
    app_descriptor: str | None = None,
) -> dict[str, str]:
    """status.sh's parameters for a node of ``kind``: its units, whether it has VRRP
    state to report, (nginx-ha:tls, a node that runs nginx) where its nginx serves
    the certificate it reports, and (nginx-ha:app, a node that runs Tomcat) the
    application's context descriptor, whose release it reports."""
    served = tls is not None and kind.runs("nginx")
    app = {"APP_DESCRIPTOR": app_descriptor} if app_descriptor and kind.runs("tomcat") else {}
    return {
        "VRRP": "yes" if kind.vrrp else "no",
        "UNITS": " ".join(kind.units),
        "STATE_DIR": layout.vrrp_state_dir,
        "HEALTH_FILE": layout.health_file,
        "TRANSITIONS": str(transitions),
        "SYSTEMCTL": systemctl,
        **({"TLS_PORT": str(tls.port), "TLS_NAME": tls.gate_names[0]} if served and tls else {}),
        **app,
    }
