"""Rendering: one pure function per produced file (pure)."""

from nginx_ha.render.files import *  # noqa: F403
