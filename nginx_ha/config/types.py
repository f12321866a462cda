"""The value types of the settings: a strict integer, seconds, a boolean, an address, a
name, a path, a URL, ... each reading the engine's strings (every config value arrives
as text) without coercing what it should refuse (``"yes"`` is no integer, ``1`` no
boolean), each string checked against its grammar (``nginx_ha.config.grammar``); and
the base of every settings model.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

import nginx_ha.config.grammar as grammar
from nginx_ha.config.grammar import MAC_RE


class SettingsModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )


def _check_name(v: str) -> str:
    return grammar.check_name(v)


def check_mac(v: str | None) -> str | None:
    if v is None:
        return v
    grammar.no_controls(v)
    v = v.lower().replace("-", ":")
    if not MAC_RE.fullmatch(v):
        raise ValueError("must be a MAC address like 52:54:00:12:34:56")
    if int(v[:2], 16) & 1:
        raise ValueError(
            "is a multicast MAC (lowest bit of the first byte set); use a unicast "
            "address such as 52:54:00:xx:xx:xx"
        )
    if v == "00:00:00:00:00:00":
        raise ValueError("is the all-zero MAC; use 52:54:00:xx:xx:xx")
    return v


# ------------------------------------------------------------------ strict scalars
# A YAML boolean must not become a number (true == 1), a number must not become an
# address (3232235777 == 192.168.0.1), and "yes" must not become true: each kind of
# value is taken only in its own form.


def strict_int(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("is a boolean (true/false) where a whole number belongs")
    return v


def _seconds(v: Any) -> Any:
    """A number of seconds: an integer, a finite decimal, or its text ("0.25")."""
    if isinstance(v, bool):
        raise ValueError("is a boolean (true/false) where a number of seconds belongs")
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError("must be a finite number")
        return v
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return Decimal(repr(v))
    if isinstance(v, str) and re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,6})?", v):
        return Decimal(v)
    raise ValueError("must be a number of seconds, e.g. 1 or 0.25")


def _bool(v: Any) -> Any:
    """true/false, or the engine's text for a top-level boolean ("true"/"false")."""
    if isinstance(v, bool):
        return v
    if v in ("true", "false"):
        return v == "true"
    raise ValueError("must be true or false")


def _address_text(v: Any) -> Any:
    if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv4Network)):
        return v
    if not isinstance(v, str):
        raise ValueError("must be written as text, e.g. 192.168.159.110")
    grammar.no_controls(v)
    return v


def text_value(v: Any) -> Any:
    if not isinstance(v, str):
        raise ValueError("must be text")
    return grammar.no_controls(v)


def pem_value(v: Any) -> Any:
    """PEM text: lines, so newlines (and tabs, carriage returns) are allowed; its
    blocks are read strictly by ``nginx_ha.config.pem``."""
    if not isinstance(v, str):
        raise ValueError("must be text (PEM)")
    bad = grammar.PEM_CONTROL_RE.search(v)
    if bad:
        raise ValueError(
            f"contains the control character {bad.group()!r}; PEM is lines of printable "
            "text (paste the file as it is: `pulumi config set --path KEY < file.pem`)"
        )
    return v


Int = Annotated[int, BeforeValidator(strict_int), Strict()]
Seconds = Annotated[Decimal, BeforeValidator(_seconds)]
Bool = Annotated[bool, BeforeValidator(_bool)]
Address = Annotated[ipaddress.IPv4Address, BeforeValidator(_address_text)]
NetworkAddr = Annotated[ipaddress.IPv4Network, BeforeValidator(_address_text)]
Text = Annotated[str, BeforeValidator(text_value)]
PemText = Annotated[str, BeforeValidator(pem_value)]
Name = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_name)]
IfName = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_ifname)]
PathText = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_path)]
VolumeName = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_volume)]
Url = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_url)]
Sha256 = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_sha256)]
Email = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_email)]
LibvirtUri = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_libvirt_uri)]
Port = Annotated[int, BeforeValidator(strict_int), Strict(), Field(ge=1, le=65535)]
