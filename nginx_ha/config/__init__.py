"""Stack settings (pure): models, parsing of the engine's values, rules per area.

| module | what it holds |
|---|---|
| ``pins`` | source pins and defaults, written once |
| ``capabilities`` | keepalived version → features (auth_hmac, fractional check timings, track_file) |
| ``grammar`` | whole-string patterns of the string settings |
| ``models`` | the pydantic model tree and derived values |
| ``parse`` | raw config (engine, stack file, lab) → :class:`Settings`, every problem together |
| ``rules/`` | cross-key rules, one module per area |
| ``warnings`` | legal but risky choices |
| ``pem`` | PEM read strictly: certificates, a private key, what they say |
| ``preflight`` | what is checked before any resource but not when parsing (keys, files, dates) |
| ``lab_stacks`` | which stack names are throwaway labs |
| ``stackread`` | the one bounded reader of stack files (kind, size, time, depth, aliases) |
| ``stackfiles`` | committed stack files read as the engine hands them over |
| ``collisions`` | stacks that would collide on a libvirt host |
"""

from nginx_ha.config.errors import Problem, SettingsError
from nginx_ha.config.lab_stacks import is_lab_stack
from nginx_ha.config.models import Settings
from nginx_ha.config.parse import parse_settings, validate
from nginx_ha.config.pins import NS, PROJECT
from nginx_ha.config.warnings import settings_warnings

__all__ = [
    "NS",
    "PROJECT",
    "Problem",
    "Settings",
    "SettingsError",
    "is_lab_stack",
    "parse_settings",
    "settings_warnings",
    "validate",
]
