"""The tutorial's keepalived.conf and check script, as a lab fixture for comparison.

The benchmark's `tutorial` profile runs these instead of ours, to show what the
project improves on. Our settings validation refuses the tutorial's equal priorities,
so they cannot be expressed as settings; this fixture is the tutorial's text with the
node's values filled in (lab/tutorial/*.j2), nothing else.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from nginx_ha.topology import Layout, Node, Topology

FIXTURES = Path(__file__).resolve().parent / "tutorial"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(FIXTURES)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - keepalived.conf and bash, not HTML
)


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
    conf = _env.get_template("keepalived.conf.j2").render(
        node_name=node.name,
        state=node.role,  # MASTER / BACKUP, both with priority 100
        interface=layout.interface,
        vrid=topo.instances[0].vrid,
        ip=str(node.ip),
        vip=str(topo.vip),
        check_script=check,
    )
    script = _env.get_template("nginx_check.sh.j2").render(
        nginx_pid=layout.nginx_pid,
        nginx_start=layout.nginx_restart,
        keepalived_pid=str(Path(layout.keepalived_conf).with_name("keepalived.pid")),
    )
    return {layout.keepalived_conf: conf, check: script}
