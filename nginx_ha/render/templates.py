"""The one Jinja2 environment and the one loader of template files (scripts and
systemd units included). Templates are located from this package, so an installed
nginx-ha renders the same files as a checkout."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import jinja2

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


@cache
def template_file(name: str) -> str:
    """The text of a plain template file (a script or a unit used as it is), e.g.
    ``scripts/firewall.sh``."""
    return (TEMPLATES / name).read_text()


def script(name: str) -> str:
    """The text of templates/scripts/<name>."""
    return template_file(f"scripts/{name}")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
