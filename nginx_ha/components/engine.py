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
from nginx_ha.config.preflight import preflight

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


class SettingsRunError(SettingsError, pulumi.RunError):
    """A SettingsError that Pulumi's language host shows as the problem list alone:
    it logs a ``RunError``'s message and exits, where any other exception is shown
    with a Python traceback around it."""


def load_settings(project_dir: str | Path | None = None) -> Settings:
    """Read, parse and validate the stack's settings, then check what they point at
    on this machine (the SSH private key against ssh.publicKey, uploaded files);
    raise one SettingsRunError listing every problem (collisions with the other
    committed stacks included) before any resource exists.

    ``project_dir`` (default: the working directory, where Pulumi runs the program)
    holds the committed stack files that this stack must not collide with; one that
    cannot be read is named in a warning and left out.
    """
    raw, secret_keys = engine_config()
    try:
        settings = parse_settings(raw, stack=pulumi.get_stack(), secret_keys=secret_keys)
    except SettingsError as err:
        raise SettingsRunError(err.problems) from None
    notes: list[str] = []
    problems = stack_conflicts(settings, project_dir or os.getcwd(), notes) + preflight(settings)
    for note in notes:
        pulumi.log.warn(note)
    if problems:
        raise SettingsRunError(problems)
    return settings
