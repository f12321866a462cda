"""Parsing a stack's raw configuration (the values the engine hands the program, or a
stack file's, or a lab's) into a validated :class:`Settings`.

``parse_settings`` takes ``{"nginx-ha:vip": "...", "libvirt:uri": "..."}`` (structured
values already decoded or as JSON text) and returns a :class:`Settings`, or raises one
:class:`SettingsError` listing every problem at once, each naming its config key path
and what to do. Each top-level key (and each node of the node lists) is validated on
its own, so one bad section does not hide the problems of another; the cross-key rules
(``nginx_ha.config.rules``) then run on every section that parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from nginx_ha.config.errors import Problem, SettingsError
from nginx_ha.config.models import Backend, LoadBalancer, Settings
from nginx_ha.config.pins import NS, PROJECT
from nginx_ha.config.rules import cross_checks
from nginx_ha.config.rules.tls import (
    TICKET_KEYS_AS_INPUT,
    TICKET_KEYS_HINT,
    TLS_KEY_AS_INPUT,
    TLS_KEY_HINT,
)
from nginx_ha.config.rules.vrrp import SECRET_AS_INPUT

# Keys that are secrets: they must be set with `pulumi config set --secret`, the
# value on standard input (never on the command line: shell history, process list).
SECRET_KEYS = {"sshPrivateKey", "vrrpAuthPass", "sshHostKeySeed", "tlsTicketKeys"}
# How to set each secret, reading it from standard input.
SECRET_HINTS = {
    "sshPrivateKey": "pulumi config set --secret sshPrivateKey < ~/.ssh/KEY",
    "vrrpAuthPass": "openssl rand -hex 16 | pulumi config set --secret vrrpAuthPass",
    "sshHostKeySeed": "openssl rand -hex 32 | pulumi config set --secret sshHostKeySeed",
    "tlsTicketKeys": TICKET_KEYS_HINT,
}
# Leaves of a structured key that are secrets: the engine marks the whole key secret
# when any leaf of it was set with `--secret --path` (it says nothing of each leaf).
SECRET_LEAVES = {("tls", "key"): TLS_KEY_HINT}
# Optional in the model (a program may give them as Pulumi Inputs), required in a
# stack's config.
REQUIRED_IN_CONFIG = {"ssh_private_key", "ssh_host_key_seed"}
OUR_KEYS = {
    (f.alias or name)
    for name, f in Settings.model_fields.items()
    if name not in ("project", "stack", "libvirt_uri")
}

# One validator per top-level key (built once), and per item of the node lists.
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    # a field's type and its constraints, built at run time: beyond a static checker
    name: TypeAdapter(Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)  # pyright: ignore[reportInvalidTypeForm, reportArgumentType]
    for name, f in Settings.model_fields.items()
}
_ITEM_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "load_balancers": TypeAdapter(LoadBalancer),
    "backends": TypeAdapter(Backend),
}

# What to do, by pydantic error type, when the message alone does not say it.
_HINTS = {
    "missing": "required: set it with `pulumi config set --path {key} ...`",
    "extra_forbidden": "unknown key: remove it, or check its spelling against the "
    "config reference in the README",
}


# ----------------------------------------------------------------------- the parser


def decode_value(value: Any) -> Any:
    """Structured keys arrive as JSON text; top-level scalars stay text (pydantic
    converts "true" and numbers where a field wants them; a secret stays a string)."""
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_path(field_alias: str, loc: Iterable[Any]) -> str:
    base = field_alias if ":" in field_alias else f"{NS}:{field_alias}"
    out = base
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _problems_from(err: ValidationError, alias: str, prefix: Iterable[Any] = ()) -> list[Problem]:
    out = []
    for e in err.errors():
        loc = [*prefix, *(p for p in e["loc"] if p not in ("function-after", "function-before"))]
        key = _key_path(alias, loc)
        msg = e["msg"].removeprefix("Value error, ")
        hint = _HINTS.get(e["type"])
        if hint:
            msg = hint.format(key=key)
        out.append(Problem(key, msg))
    return out


def parse_settings(
    raw: Mapping[str, Any],
    *,
    stack: str = "dev",
    secret_keys: Iterable[str] | None = None,
) -> Settings:
    """Validate a stack's raw config; raise one SettingsError listing every problem.

    ``raw`` maps full config keys (``nginx-ha:vip``, ``libvirt:uri``) to values.
    ``secret_keys``: the keys the stack stores encrypted; when given, a secret key
    stored in plain text is a problem.
    """
    problems: list[Problem] = []
    ours: dict[str, Any] = {}
    for full_key, value in raw.items():
        ns, _, key = full_key.partition(":")
        if ns == NS:
            if key not in OUR_KEYS:
                problems.append(Problem(full_key, _HINTS["extra_forbidden"]))
                continue
            if key == "vip" and value == "":
                continue  # Pulumi.yaml's default: unset (nginx-ha:vips may list the VIPs)
            ours[key] = decode_value(value)
        elif full_key == "libvirt:uri":
            ours["libvirt:uri"] = value
        # other namespaces (providers' own keys) are not ours to judge

    if secret_keys is not None:
        for key in SECRET_KEYS:
            full = f"{NS}:{key}"
            if full in raw and full not in set(secret_keys):
                problems.append(
                    Problem(
                        full,
                        "is stored in plain text; set it again as a secret, the value on "
                        f"standard input: `{SECRET_HINTS[key]}`",
                    )
                )
        for (key, leaf), hint in SECRET_LEAVES.items():
            full = f"{NS}:{key}"
            section = ours.get(key)
            given = isinstance(section, dict) and section.get(leaf) is not None
            if given and full not in set(secret_keys):
                problems.append(
                    Problem(
                        f"{full}.{leaf}",
                        f"is stored in plain text ({full} is not a secret); set it again "
                        f"as a secret, the value on standard input: `{hint}` (and if the "
                        "stack file was shared, make a new key)",
                    )
                )

    # Validate each top-level key on its own, so one bad section does not hide the
    # problems of the others; cross-key rules then run on every section that parsed.
    parsed: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        alias = field.alias or name
        if name == "project":
            parsed[name] = PROJECT
            continue
        if name == "stack":
            parsed[name] = stack
            continue
        if alias not in ours:
            if field.is_required() or name in REQUIRED_IN_CONFIG:
                hint = _HINTS["missing"].format(key=alias)
                if alias in SECRET_HINTS:
                    hint = (
                        f"required: a secret, set with its value on standard input: "
                        f"`{SECRET_HINTS[alias]}` (scripts/bootstrap.sh generates it)"
                    )
                problems.append(Problem(_key_path(alias, []), hint))
            else:
                parsed[name] = field.get_default(call_default_factory=True)
            continue
        value = ours[alias]
        item_adapter = _ITEM_ADAPTERS.get(name)
        if item_adapter is not None and isinstance(value, list):
            # Lists of nodes: each item on its own, so one bad node does not hide the
            # address or name problems of the others (a bad item stays as None).
            items: list[Any] = []
            for i, item in enumerate(value):
                try:
                    items.append(item_adapter.validate_python(item))
                except ValidationError as err:
                    items.append(None)
                    problems.extend(_problems_from(err, alias, prefix=[i]))
            value = items if None in items else value
            if None in items:
                parsed[name] = items
                continue
        try:
            parsed[name] = _ADAPTERS[name].validate_python(value)
        except ValidationError as err:
            problems.extend(_problems_from(err, alias))

    problems.extend(cross_checks(parsed))
    if problems:
        raise SettingsError(problems)
    if parsed.get("vip") is None and parsed.get("vips"):
        parsed["vip"] = parsed["vips"][0].address  # vip: the first VIP, for its users
    return Settings.model_validate({k: v for k, v in parsed.items()})


def validate(
    settings: Settings,
    *,
    vrrp_auth_pass_input: bool = False,
    tls_key_input: bool = False,
    tls_ticket_keys_input: bool = False,
) -> Settings:
    """Run every cross-key rule on settings built in code (the models check each key
    as it is set); raise one SettingsError listing every problem.

    ``vrrp_auth_pass_input``: the program passes the VRRP secret as a Pulumi Input
    (``NginxHaStackArgs(vrrp_auth_pass=...)``) rather than in the settings; it counts
    as set here, and its value is checked once known (when the stack is built).
    ``tls_key_input``, ``tls_ticket_keys_input``: the same for the TLS private key
    (``tls.key``) and the session ticket keys (``tlsTicketKeys``)."""
    sections: dict[str, Any] = {name: getattr(settings, name) for name in Settings.model_fields}
    if vrrp_auth_pass_input:
        sections[SECRET_AS_INPUT] = True
    if tls_key_input:
        sections[TLS_KEY_AS_INPUT] = True
    if tls_ticket_keys_input:
        sections[TICKET_KEYS_AS_INPUT] = True
    problems = cross_checks(sections)
    if problems:
        raise SettingsError(problems)
    return settings
