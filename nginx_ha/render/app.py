"""The user's application on a backend (nginx-ha:app): the WAR uploaded or fetched,
verified and unpacked into a release folder of its own by the stage phase
(templates/scripts/stage_app.sh; nothing running changes), Tomcat's context descriptor
that points at the release, and the JVM options (Tomcat's bin/setenv.sh). The
descriptor and the options are files of the plan like any other: the activation swaps
them in one backend at a time, with Tomcat drained and restarted, behind the gate that
asks the application's health path (render/rollout.py)."""

from __future__ import annotations

import posixpath
import re

import nginx_ha.render.files as files
from nginx_ha.render.artefacts import Artefact, Step, Upload
from nginx_ha.render.templates import render_template
from nginx_ha.topology import Layout, Node, Topology
from nginx_ha.topology.app import AppPlan

APP_STAGE_SCRIPT = "stage_app.sh"
# Releases a backend keeps unpacked besides the live one (the rollback's).
KEEP_RELEASES = 3
# The JVM's heap by default: this share of the VM's memory (the OS, nginx-ha's own
# scripts and the JVM's other memory use the rest), at least MIN_HEAP_MIB.
HEAP_SHARE = 0.5
MIN_HEAP_MIB = 128
# Seconds a drained backend's open connections from the load balancers may take to
# end at most (the drain goes on as soon as none is open): nginx closes an idle one
# after its upstream keepalive timeout, a busy one after its keepalive_time and the
# request it carries then (render/nginx.py). Not derived from nginx's timeouts, so a
# change of those does not touch the backends' activations.
DRAIN_WAIT = 30


def releases_dir(layout: Layout) -> str:
    return posixpath.join(layout.app_dir, "releases")


def release_dir(app: AppPlan, layout: Layout) -> str:
    return posixpath.join(releases_dir(layout), app.release)


def context_path(app: AppPlan, layout: Layout) -> str:
    """Tomcat's context descriptor for the application (conf/Catalina/localhost)."""
    return posixpath.join(
        layout.tomcat_base, "conf", "Catalina", "localhost", f"{app.context_name}.xml"
    )


def setenv_path(layout: Layout) -> str:
    return posixpath.join(layout.tomcat_base, "bin", "setenv.sh")


def uploaded_war(app: AppPlan, layout: Layout) -> str:
    return posixpath.join(layout.upload_dir, f"app-{app.release}.war")


def java_opts(app: AppPlan, node: Node) -> tuple[str, str]:
    """The JVM options and where they come from: app.javaOpts, or a heap of half the
    VM's memory."""
    if app.java_opts is not None:
        return app.java_opts, "nginx-ha:app.javaOpts"
    heap = max(MIN_HEAP_MIB, int(node.size.memory_mib * HEAP_SHARE))
    return (
        f"-Xmx{heap}m",
        f"default: {int(HEAP_SHARE * 100)}% of the VM's {node.size.memory_mib} MiB",
    )


def app_uploads(app: AppPlan, layout: Layout) -> tuple[Upload, ...]:
    if not app.uploaded:
        return ()
    return (Upload("app-war-upload", app.source, uploaded_war(app, layout), app.sha256 or ""),)


def app_stage_params(app: AppPlan, layout: Layout) -> dict[str, str]:
    """stage_app.sh's parameters: the WAR (uploaded, or the URL to fetch), the SHA-256
    it must have, the release folder it goes to and the live descriptor (kept)."""
    return {
        "SOURCE": uploaded_war(app, layout) if app.uploaded else app.source,
        "FETCH": "no" if app.uploaded else "yes",
        "SHA256": app.sha256 or "",
        "RELEASES": releases_dir(layout),
        "RELEASE": app.release,
        "DESCRIPTOR": context_path(app, layout),
        "KEEP": str(KEEP_RELEASES),
    }


def app_step(app: AppPlan, layout: Layout) -> Step:
    return Step("app-stage", APP_STAGE_SCRIPT, app_stage_params(app, layout))


def app_artefacts(topo: Topology, node: Node, layout: Layout) -> tuple[Artefact, ...]:
    """The descriptor (checked against the staged release: unpacked, its SHA-256) and
    the JVM options; either changed restarts Tomcat, drained."""
    app = topo.app
    if app is None:
        return ()
    doc_base = release_dir(app, layout)
    descriptor = render_template(
        "tomcat/context.xml.j2",
        node_name=node.name,
        context=app.context,
        release=app.release,
        sha256=app.sha256 or "unknown",
        version=app.version,
        doc_base=doc_base,
    )
    opts, origin = java_opts(app, node)
    setenv = render_template(
        "tomcat/setenv.sh.j2", node_name=node.name, java_opts=opts, origin=origin
    )
    return (
        Artefact(
            "app-jvm",
            "tomcat",
            "file",
            setenv_path(layout),
            setenv,
            files.CONFIG,
            "bash",
            "tomcat-restart",
        ),
        Artefact(
            "app-context",
            "tomcat",
            "file",
            context_path(app, layout),
            descriptor,
            files.CONFIG,
            "tomcat-context",
            "tomcat-restart",
            {"DOC_BASE": doc_base, "APP_SHA256": app.sha256 or ""},
        ),
    )


def staged_version(stdout: str) -> str | None:
    """The version stage_app.sh found in the WAR's manifest, from what it printed."""
    m = re.search(r"version ([A-Za-z0-9][A-Za-z0-9._+~-]{0,63})\)", stdout)
    if m is None:
        m = re.search(r"already unpacked in \S+ \(([A-Za-z0-9][A-Za-z0-9._+~-]{0,63})\)", stdout)
    return m.group(1) if m else None


def app_summary(app: AppPlan) -> dict[str, str | None]:
    """What the stack says of its application (the ``app`` output, before each
    backend's own version is known)."""
    return {
        "context": app.context,
        "source": app.source,
        "sha256": app.sha256,
        "release": app.release,
        "version": app.version,
        "healthPath": app.health_path,
    }


def backend_gate_params(topo: Topology, node: Node) -> dict[str, str]:
    """activate.sh's drain and gate parameters for a backend. Whenever its Tomcat
    restarts, its port first refuses new connections from other hosts (DRAIN_PORT),
    so nginx sends every request to the other servers, and the open ones may end
    (DRAIN_WAIT). With the application, its gate asks the health path on the backend
    itself, then (a primary) through each load balancer's nginx until the answer is
    its own (GATE_VIA, GATE_VIA_EXPECT): nginx sends to a backup only while no primary
    answers, so a backup is asked on itself only. A backend's gate is recorded when it
    passes (GATE_RECORD), and a rollback asks the recorded one: what the node served
    before (the node page before the first release, another health path)."""
    params = {
        "DRAIN_PORT": str(node.service_port),
        "DRAIN_WAIT": str(DRAIN_WAIT),
        "GATE_RECORD": "yes",
    }
    app = topo.app
    if app is None:
        return params
    via = []
    for lb in topo.load_balancers:
        if topo.tls is not None and topo.tls.redirect_http:
            # Plain HTTP answers 308: through HTTPS to the stack's name at this address
            # (the load balancers' own gates verify the certificate).
            name = topo.tls.gate_names[0]
            via.append(f"https://{name}{topo.tls.port_suffix}{app.health_path}@{lb.ip}")
        else:
            via.append(f"http://{lb.ip}{topo.nginx.port_suffix}{app.health_path}")
    params |= {
        "GATE": "app",
        "GATE_URL": f"http://127.0.0.1:{node.service_port}{app.health_path}",
        "GATE_TIMEOUT": str(app.gate_timeout),
        "WARM_URLS": " ".join(f"http://127.0.0.1:{node.service_port}{p}" for p in app.warmup_paths),
    }
    if node.role != "primary":
        return params
    return params | {
        "GATE_VIA": " ".join(via),
        "GATE_VIA_EXPECT": f"{node.ip}:{node.service_port}",
        # nginx tries a server it found failed again after fail_timeout.
        "GATE_VIA_TIMEOUT": str(topo.nginx.fail_timeout + 15),
    }
