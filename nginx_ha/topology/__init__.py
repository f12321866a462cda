"""Every decided per-node value (pure)."""

from nginx_ha.topology.model import *  # noqa: F403
