"""The install and firewall scripts under templates/scripts, as text.

Plain bash files, run on a node through ``remote.script_command`` (parameters set at
the top of the command). Their hash is a step's trigger, so changing a script re-runs
the steps that use it.
"""

from __future__ import annotations

from functools import cache

from nginx_ha.render import TEMPLATES

SCRIPTS = TEMPLATES / "scripts"


@cache
def script(name: str) -> str:
    """The text of templates/scripts/<name>."""
    return (SCRIPTS / name).read_text()
