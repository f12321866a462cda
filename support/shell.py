"""The support's own scripts (``support/templates/``): what its validators run on this
machine, rendered like every other template and checked by shellcheck like every other
script (tests/program/test_shell.py)."""

from __future__ import annotations

from pathlib import Path

from nginx_ha.render.templates import Templates

TEMPLATES = Templates(Path(__file__).resolve().parent / "templates", "support/templates/")
