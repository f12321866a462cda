"""The tutorial's keepalived.conf and check script, as a lab fixture for comparison.

The benchmark's `tutorial` profile runs these instead of ours, to show what the
project improves on. Our settings validation refuses the tutorial's equal priorities,
so they cannot be expressed as settings; this fixture is the tutorial's text with the
node's values filled in (lab/tutorial/*.j2), nothing else.
"""

from __future__ import annotations

from pathlib import Path

from nginx_ha.render.templates import Templates
from nginx_ha.topology import Layout, Node, Topology

FIXTURES = Path(__file__).resolve().parent / "tutorial"
_templates = Templates(FIXTURES, "lab/tutorial/")


def replaced(layout: Layout) -> set[str]:
    """Our keepalived files that the tutorial's replace."""
    return {
        layout.keepalived_conf,
        layout.check_script,
        getattr(layout, "auth_pass_file", ""),
        layout.auth_key_file,
    }


def check_script_path(layout: Layout) -> str:
    return str(Path(layout.check_script).with_name("nginx_check.sh"))


def files(topo: Topology, node: Node, layout: Layout) -> dict[str, str]:
    check = check_script_path(layout)
    conf = _templates.render(
        "keepalived.conf.j2",
        node_name=node.name,
        state=node.role,  # MASTER / BACKUP, both with priority 100
        interface=layout.interface,
        vrid=topo.instances[0].vrid,
        ip=str(node.ip),
        vip=str(topo.vip),
        check_script=check,
    )
    script = _templates.render(
        "nginx_check.sh.j2",
        nginx_pid=layout.nginx_pid,
        nginx_start=layout.nginx_restart,
        keepalived_pid=str(Path(layout.keepalived_conf).with_name("keepalived.pid")),
    )
    return {layout.keepalived_conf: conf, check: script}
