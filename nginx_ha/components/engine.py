"""The stack's settings as the Pulumi engine hands them over (the shell around
``nginx_ha.config``).

Values are read through ``pulumi.Config``'s public API, one key at a time; the keys the
engine passed (to find unknown ones in our namespace) and which are secret come from
``pulumi.runtime``'s public config functions. Parsing, validation and the collision
check are the pure core's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
import pulumi.runtime

from nginx_ha.config import Settings, SettingsError, parse_settings
from nginx_ha.config.collisions import stack_conflicts
from nginx_ha.config.parse import OUR_KEYS
from nginx_ha.config.pins import NS

PROVIDER_KEYS = ("libvirt:uri",)


def engine_config() -> tuple[dict[str, str], set[str]]:
    """(raw config, secret keys): every key of our namespace the engine passed, and
    the provider keys the settings read, as ``{"nginx-ha:vip": "..."}``."""
    ours = pulumi.Config(NS)
    names = set(OUR_KEYS) | {
        full.partition(":")[2]
        for full in pulumi.runtime.get_config_env()
        if full.partition(":")[0] == NS
    }
    raw: dict[str, str] = {}
    for name in sorted(names):
        value = ours.get(name)
        if value is not None:
            raw[f"{NS}:{name}"] = value
    for full in PROVIDER_KEYS:
        ns, _, name = full.partition(":")
        value = pulumi.Config(ns).get(name)
        if value is not None:
            raw[full] = value
    secret = {k for k in raw if pulumi.runtime.is_config_secret(k)}
    secret |= set(pulumi.runtime.get_config_secret_keys_env())
    return raw, secret


def load_settings(project_dir: str | Path | None = None) -> Settings:
    """Read, parse and validate the stack's settings; raise one SettingsError listing
    every problem (collisions with the other committed stacks included).

    ``project_dir`` (default: the working directory, where Pulumi runs the program)
    holds the committed stack files that this stack must not collide with.
    """
    raw, secret_keys = engine_config()
    settings = parse_settings(raw, stack=pulumi.get_stack(), secret_keys=secret_keys)
    conflicts = stack_conflicts(settings, project_dir or os.getcwd())
    if conflicts:
        raise SettingsError(conflicts)
    return settings
