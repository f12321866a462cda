"""What the lab writes for a node: the files of its plan (the ones a VM keeps), the
tutorial's keepalived files in place of ours in the tutorial profile, and the lab's
start scripts (lab/templates/) for the daemons systemd runs on a VM; each written with
its mode, or all of them rendered under another folder."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path

from lab import daemons, tutorial
from lab.config import LabSettings
from lab.nodes import LabNode
from nginx_ha.render.templates import Templates
from nginx_ha.topology import Topology

# The lab's start scripts (start_scripts).
TEMPLATES = Templates(Path(__file__).resolve().parent / "templates", "lab/templates/")


def node_files(ln: LabNode, cfg: LabSettings, topo: Topology) -> dict[str, str]:
    """What the lab writes for a node: the files of its plan (the ones a VM keeps),
    the tutorial's in place of keepalived's in the tutorial profile, and the lab's
    start scripts for the daemons systemd would run on a VM."""
    files = ln.plan.files(cfg.secrets)
    lay = ln.layout
    if ln.node.kind.runs("keepalived"):
        if cfg.profile.tutorial:
            # The tutorial's keepalived.conf and check script, for comparison only.
            files = {k: v for k, v in files.items() if k not in tutorial.replaced(lay)}
            files.update(tutorial.files(topo, ln.node, lay))
        files.update(start_scripts(ln, topo))
    if ln.node.kind.runs("tomcat"):
        files[ln.layout.tomcat_restart] = tomcat_restart_script(ln)
    return files


def tomcat_restart_script(ln: LabNode) -> str:
    """The lab's `systemctl restart tomcat10` for a backend (its activation runs it when
    a change restarts Tomcat)."""
    base = Path(ln.layout.tomcat_base)
    q = shlex.quote
    return TEMPLATES.render(
        "tomcat_restart.sh.j2",
        node_name=ln.node.name,
        pid=q(str(base / "tomcat.pid")),
        base=q(str(base)),
        env={k: q(v) for k, v in daemons.tomcat_env(base).items()},
        catalina=q(str(daemons.CATALINA_HOME / "bin" / "catalina.sh")),
        log=q(str(base / "logs" / "console.log")),
    )


def start_scripts(ln: LabNode, topo: Topology) -> dict[str, str]:
    """The lab's systemctl: a script per daemon that (re)starts this node's own
    (lab/templates/); the activation of a replayed rollout runs them too."""
    lay = ln.layout
    ka = Path(lay.keepalived_conf).parent
    q = shlex.quote
    return {
        lay.nginx_restart: TEMPLATES.render(
            "nginx_restart.sh.j2",
            node_name=ln.node.name,
            pid=q(lay.nginx_pid),
            nginx=q(lay.nginx_bin),
            log_dir=q(lay.nginx_log_dir),
            prefix=q(str(Path(lay.nginx_conf).parent)),
            conf=q(lay.nginx_conf),
        ),
        str(ka / "start.sh"): TEMPLATES.render(
            "keepalived_start.sh.j2",
            node_name=ln.node.name,
            unit=q(lay.keepalived_unit),
            default_bin=q(lay.keepalived_bin),
            vrrp_only=topo.lvs is None,
            conf=q(lay.keepalived_conf),
            pid=q(lay.keepalived_pid),
            vrrp_pid=q(str(ka / "vrrp.pid")),
            checkers_pid=q(str(ka / "checkers.pid")),
            log=q(str(ka / "keepalived.log")),
        ),
        str(ka / "watch_start.sh"): TEMPLATES.render(
            "watch_start.sh.j2",
            node_name=ln.node.name,
            pid=q(str(ka / "nginx-watch.pid")),
            watch_script=q(lay.watch_script),
            log=q(str(ka / "nginx_watch.log")),
        ),
    }


def file_mode(ln: LabNode, path: str) -> int:
    """The mode the lab gives a file it writes: the plan's, but the lab's own scripts'."""
    lab_scripts = (
        ln.layout.nginx_restart,
        ln.layout.tomcat_restart,
        tutorial.check_script_path(ln.layout),
    )
    if path in lab_scripts or path.endswith("start.sh"):
        return 0o755  # (the tutorial's chmod 777 is one of its defects: not copied)
    return int(ln.plan.mode(path), 8)


def write(
    ln: LabNode, files: dict[str, str], out: Path | None = None, run_dir: Path | None = None
) -> list[Path]:
    """The node's files written, each with its mode, in folders root alone may change;
    under ``out`` instead of the node's run folder (``run_dir``) when given. Returns
    the paths written."""
    written = []
    for path, text in files.items():
        p = Path(path)
        if out is not None and run_dir is not None:
            p = out / p.relative_to(run_dir)
        p.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(p.parent, 0o755)  # noqa: S103 - root-only writable, readable by nginx's workers
        p.write_bytes(ln.plan.on_disk(path, text))  # a TLS ticket key: its bytes
        os.chmod(p, file_mode(ln, path))
        written.append(p)
    return written


def render(
    nodes: Iterable[LabNode], cfg: LabSettings, topo: Topology, run_dir: Path, out: Path | None
) -> dict[str, str]:
    """Every file of every node, by path (under ``out`` when given, else the node's
    run folder ``run_dir``). Pure: writes nothing."""
    files: dict[str, str] = {}
    for ln in nodes:
        for path, text in node_files(ln, cfg, topo).items():
            if out is not None:
                path = str(out / Path(path).relative_to(run_dir))
            files[path] = text
    return files
