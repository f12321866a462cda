"""Typed stack settings and every validation rule.

Pure: no Pulumi resources, no network. ``parse_settings`` takes the stack's raw
configuration (``{"nginx-ha:vip": "...", "libvirt:uri": "..."}``, structured values
already decoded or as JSON text) and returns a validated :class:`Settings`, or raises
one :class:`SettingsError` that lists every problem at once, each naming the config
key path and what to do. ``load_from_pulumi`` is the thin shell that reads the raw
configuration from the Pulumi engine.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

PROJECT = "nginx-ha"
NS = PROJECT  # config namespace of the project's own keys

DEFAULT_IMAGE_URL = (
    "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"
)

# The default keepalived is pinned by its git tag and commit id, not by a tarball hash:
# keepalived.org publishes only an MD5 for keepalived-2.4.3.tar.gz
# (5a5c30d3275c380c8cf1a2df67ebbc3c, www/docs/download.md), and no distribution recipe
# we could read pins 2.4.3 (Alpine's aports ship 2.3.4, OpenWrt 2.3.3, Buildroot 2.2.8).
# The tag v2.4.3 is commit 53701f5648fb457fce5c3417fd309f286fbd1335 (upstream's
# release commit "keepalived-2.4.3"); the install script clones the tag and refuses
# any other commit. See docs/keepalived.md "Source pin".
DEFAULT_KEEPALIVED_VERSION = "2.4.3"
DEFAULT_KEEPALIVED_GIT = "https://github.com/acassen/keepalived.git"
DEFAULT_KEEPALIVED_COMMIT = "53701f5648fb457fce5c3417fd309f286fbd1335"
# The release tarball, for stacks that set keepalived.url with a sha256 of their own.
DEFAULT_KEEPALIVED_URL = "https://www.keepalived.org/software/keepalived-2.4.3.tar.gz"
DEFAULT_KEEPALIVED_SHA256 = ""  # none published by a source we trust; see above

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")

MIN_MEMORY_MIB = 512
MIN_DISK_GIB = 3


class SettingsError(ValueError):
    """Every problem of a stack's settings, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.key, p.message))
        lines = [f"  - {p}" for p in self.problems]
        super().__init__(
            f"{len(self.problems)} problem(s) in the stack settings; nothing was "
            "created:\n" + "\n".join(lines)
        )


@dataclass(frozen=True)
class Problem:
    key: str  # full config key path, e.g. "nginx-ha:loadBalancers[1].ip"
    message: str  # what is wrong and what to do

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )


def _check_name(v: str) -> str:
    if not NAME_RE.match(v):
        raise ValueError(
            "must be a lowercase hostname label (a-z, 0-9, '-', starting with a "
            "letter, at most 32 characters)"
        )
    return v


def _check_mac(v: str | None) -> str | None:
    if v is None:
        return v
    v = v.lower().replace("-", ":")
    if not MAC_RE.match(v):
        raise ValueError("must be a MAC address like 52:54:00:12:34:56")
    if int(v[:2], 16) & 1:
        raise ValueError(
            "is a multicast MAC (lowest bit of the first byte set); use a unicast "
            "address such as 52:54:00:xx:xx:xx"
        )
    if v == "00:00:00:00:00:00":
        raise ValueError("is the all-zero MAC; use 52:54:00:xx:xx:xx")
    return v


Name = Annotated[str, Field(min_length=1)]


class VmSize(_Model):
    """Size of a VM; ``nginx-ha:vm`` sets the default, a node's ``vm`` overrides."""

    memory_mib: int = Field(1024, ge=MIN_MEMORY_MIB, alias="memoryMiB")
    vcpus: int = Field(1, ge=1, le=64)
    disk_gib: int = Field(10, ge=MIN_DISK_GIB, le=2048, alias="diskGiB")
    # "kvm" where the host has hardware virtualisation, "qemu" (software emulation)
    # where it has not (nested or paravirtualised hosts, the sandbox).
    domain_type: Literal["kvm", "qemu"] = "kvm"
    # Direct kernel boot, for images without a bootloader (the sandbox's): paths on
    # the libvirt host. Unset: the image boots through its own bootloader.
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None


class VmOverride(_Model):
    memory_mib: int | None = Field(None, ge=MIN_MEMORY_MIB, alias="memoryMiB")
    vcpus: int | None = Field(None, ge=1, le=64)
    disk_gib: int | None = Field(None, ge=MIN_DISK_GIB, le=2048, alias="diskGiB")
    domain_type: Literal["kvm", "qemu"] | None = None


class Network(_Model):
    name: Name = "lan"
    mode: Literal["nat", "bridge"] = "nat"
    bridge: str | None = None
    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("192.168.159.0/24")
    gateway: ipaddress.IPv4Address | None = None  # default: first host address
    dns: list[ipaddress.IPv4Address] = Field(default_factory=list)

    @field_validator("cidr", mode="before")
    @classmethod
    def _strict_cidr(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                ipaddress.IPv4Network(v, strict=True)
            except ValueError as e:
                raise ValueError(
                    f"is not an IPv4 network in CIDR form with host bits zero ({e}); "
                    "for example 192.168.159.0/24"
                ) from None
        return v

    @property
    def gateway_ip(self) -> ipaddress.IPv4Address:
        return self.gateway or next(self.cidr.hosts())

    @property
    def dns_servers(self) -> list[ipaddress.IPv4Address]:
        return self.dns or [self.gateway_ip]


class Image(_Model):
    url: str | None = None
    volume: str | None = None  # an existing volume in `pool` to clone from
    pool: Name = "default"


class Ssh(_Model):
    user: Name = "debian"
    public_key: str = Field(min_length=1)

    @field_validator("user")
    @classmethod
    def _user(cls, v: str) -> str:
        if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", v) or v == "root":
            raise ValueError(
                "must be a non-root Linux user name (lowercase letters, digits, '_', '-')"
            )
        return v

    @field_validator("public_key")
    @classmethod
    def _key(cls, v: str) -> str:
        v = v.strip()
        if not re.match(
            r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-\S+) [A-Za-z0-9+/=]+( .*)?$",
            v,
        ):
            raise ValueError(
                "must be one OpenSSH public key line (ssh-ed25519 AAAA... comment); "
                "use the content of your id_ed25519.pub, not the private key"
            )
        return v


class HealthCheck(_Model):
    """keepalived's check of the node's own nginx (vrrp_script)."""

    interval: Decimal = Field(Decimal(1), gt=0, le=60)
    timeout: Decimal = Field(Decimal("0.8"), gt=0, le=60)
    fall: int = Field(2, ge=1, le=10)
    rise: int = Field(2, ge=1, le=10)
    # 0: a failing check puts the instance in FAULT, which releases the VIP at once.
    # Negative: the priority drops by that much instead (see the priority gap rule).
    weight: int = Field(0, ge=-253, le=253)
    # The fast path (docs/keepalived.md): a watcher asks nginx every watchInterval
    # seconds and writes the verdict to a file keepalived tracks (track_file, inotify);
    # fall/rise apply to it too. The vrrp_script above stays as the safety net.
    watch_interval: Decimal = Field(Decimal("0.2"), gt=0, le=60)


class Vrrp(_Model):
    virtual_router_id: int = Field(51, ge=1, le=255)
    advert_interval: Decimal = Field(Decimal("0.25"), gt=0, le=255)
    version: Literal[2, 3] = 3
    preempt: bool = True
    unicast: bool = True
    interface: Name = "enp1s0"
    # VRRPv3 carries no authentication of its own; where the keepalived deployed cannot
    # authenticate adverts (auth_hmac needs 2.4), the stack must say it accepts that.
    allow_unauthenticated: bool = False
    garp_master_refresh: int = Field(60, ge=0, le=3600)
    check: HealthCheck = Field(default_factory=HealthCheck)


class Keepalived(_Model):
    version: str = DEFAULT_KEEPALIVED_VERSION
    # Build with IPVS (LVS) support. Unset: exactly when lvs.enabled (otherwise the
    # build uses --disable-lvs); false with lvs.enabled is an error.
    ipvs: bool | None = None
    url: str | None = None
    path: str | None = None  # a tarball on the operator's machine, uploaded to the VMs
    sha256: str | None = None
    git: str | None = None  # a git repository; the tag v<version> must be `commit`
    commit: str | None = None

    @field_validator("commit")
    @classmethod
    def _commit(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[0-9a-f]{40}$", v.lower()):
            raise ValueError("must be a full 40-hex commit id (git rev-parse v<version>)")
        return v.lower() if v else v

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.match(r"^\d+\.\d+\.\d+$", v):
            raise ValueError("must be a keepalived release like 2.4.3")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[0-9a-f]{64}$", v.lower()):
            raise ValueError("must be 64 hexadecimal characters (sha256sum of the tarball)")
        return v.lower() if v else v

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        a, b, c = (int(x) for x in self.version.split("."))
        return (a, b, c)


# keepalived's LVS schedulers (keepalived.conf(5) of 2.2 and 2.4, lvs_sched).
LVS_SCHEDULERS = (
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
)  # fmt: skip


class VipSpec(_Model):
    """One VIP of ``nginx-ha:vips``: a plain address, or {address, virtualRouterId}."""

    address: ipaddress.IPv4Address
    # Unset: vrrp.virtualRouterId + the VIP's index in the list.
    virtual_router_id: int | None = Field(None, ge=1, le=255)

    @model_validator(mode="before")
    @classmethod
    def _plain_address(cls, v: Any) -> Any:
        return {"address": v} if isinstance(v, str) else v


class Lvs(_Model):
    """LVS (IPVS) in direct-routing mode in front of the nginx nodes (docs/active-active-lvs.md)."""

    enabled: bool = False
    # The virtual service's port; direct routing cannot translate ports, so it is
    # nginx.port (unset: nginx.port).
    port: int | None = Field(None, ge=1, le=65535)
    scheduler: str = "wlc"
    # Seconds a client sticks to one nginx node; 0: no persistence.
    persistence_timeout: int = Field(0, ge=0, le=2592000)

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        if v not in LVS_SCHEDULERS:
            raise ValueError(
                f"'{v}' is not one of keepalived's LVS schedulers ({', '.join(LVS_SCHEDULERS)}); "
                "wlc (weighted least-connection) is the default"
            )
        return v


class Notify(_Model):
    """State-change notification (notify script, optional e-mail via keepalived's SMTP)."""

    script: bool = False
    email_to: list[str] = Field(default_factory=list)
    email_from: str | None = None
    smtp_server: str | None = None


class Nginx(_Model):
    port: int = Field(80, ge=1, le=65535)
    connect_timeout: Decimal = Field(Decimal(1), gt=0, le=600)
    send_timeout: Decimal = Field(Decimal(1), gt=0, le=600)
    read_timeout: Decimal = Field(Decimal(1), gt=0, le=600)
    max_fails: int = Field(1, ge=0, le=100)
    fail_timeout: int = Field(10, ge=1, le=3600)
    retry_non_idempotent: bool = False
    balancing: Literal["round_robin", "least_conn", "hash", "ip_hash", "random"] = "round_robin"
    health_path: str = Field("/nginx-ha/health", pattern=r"^/[A-Za-z0-9/_.-]*$")


class LoadBalancer(_Model):
    name: Name
    ip: ipaddress.IPv4Address
    priority: int = Field(ge=1, le=254)
    host: str | None = None
    mac: str | None = None
    vm: VmOverride | None = None

    _n = field_validator("name")(_check_name)
    _m = field_validator("mac")(_check_mac)


class Backend(_Model):
    name: Name
    ip: ipaddress.IPv4Address
    role: Literal["primary", "backup"]
    port: int = Field(8080, ge=1, le=65535)
    host: str | None = None
    mac: str | None = None
    vm: VmOverride | None = None

    _n = field_validator("name")(_check_name)
    _m = field_validator("mac")(_check_mac)


class Settings(_Model):
    """Everything a stack can set. Field aliases are the config keys."""

    project: str = PROJECT
    stack: str = "dev"
    libvirt_uri: str = Field("qemu:///system", alias="libvirt:uri")
    hosts: dict[str, str] = Field(default_factory=dict)
    anti_affinity: bool = False
    # Protect the managed base image from `pulumi destroy`; unset: protected except in
    # lab stacks (is_lab_stack), which are torn down whole. See docs/operations.md.
    protect_base_image: bool | None = None
    network: Network = Field(default_factory=Network)
    image: Image = Field(default_factory=Image)
    ssh: Ssh
    ssh_private_key: SecretStr
    # One VIP (vip) or several, active-active (vips); one of them, not both. After
    # parsing, vip is the first VIP either way.
    vip: ipaddress.IPv4Address | None = None
    vips: list[VipSpec] | None = None
    lvs: Lvs = Field(default_factory=Lvs)
    load_balancers: list[LoadBalancer] = Field(min_length=2)
    backends: list[Backend] = Field(min_length=1)
    vrrp: Vrrp = Field(default_factory=Vrrp)
    vrrp_auth_pass: SecretStr | None = None
    vm: VmSize = Field(default_factory=VmSize)
    keepalived: Keepalived = Field(default_factory=Keepalived)
    notify: Notify = Field(default_factory=Notify)
    nginx: Nginx = Field(default_factory=Nginx)

    def all_nodes(self) -> list[LoadBalancer | Backend]:
        return [*self.load_balancers, *self.backends]

    def vm_size(self, node: LoadBalancer | Backend) -> VmSize:
        if node.vm is None:
            return self.vm
        overrides = {k: v for k, v in node.vm.model_dump().items() if v is not None}
        return self.vm.model_copy(update=overrides)

    @property
    def protects_base_image(self) -> bool:
        """Whether the base image volume gets Pulumi's `protect` option."""
        if self.protect_base_image is not None:
            return self.protect_base_image
        return not is_lab_stack(self.stack)

    def host_uri(self, host: str | None) -> str:
        return self.libvirt_uri if host is None else self.hosts[host]

    @property
    def vip_specs(self) -> list[tuple[ipaddress.IPv4Address, int]]:
        """Every VIP with its virtual router id, in order (vip: one, vrrp.virtualRouterId)."""
        return vip_specs(self.vip, self.vips, self.vrrp)

    @property
    def keepalived_ipvs(self) -> bool:
        """Whether keepalived is built with IPVS (LVS) support."""
        return self.lvs.enabled if self.keepalived.ipvs is None else self.keepalived.ipvs

    @property
    def lvs_port(self) -> int:
        return self.lvs.port or self.nginx.port

    @property
    def keepalived_source(self) -> Keepalived:
        """The keepalived source with defaults filled (URL and checksum)."""
        k = self.keepalived
        if (
            k.url is None
            and k.path is None
            and k.git is None
            and k.version == DEFAULT_KEEPALIVED_VERSION
        ):
            return k.model_copy(
                update={"git": DEFAULT_KEEPALIVED_GIT, "commit": DEFAULT_KEEPALIVED_COMMIT}
            )
        return k


def vip_specs(
    vip: ipaddress.IPv4Address | None, vips: list[VipSpec] | None, vrrp: Vrrp
) -> list[tuple[ipaddress.IPv4Address, int]]:
    """(address, virtual router id) per VIP; a derived id may exceed 255 (a rule says so)."""
    if vips:
        return [
            (v.address, v.virtual_router_id or vrrp.virtual_router_id + i)
            for i, v in enumerate(vips)
        ]
    return [(vip, vrrp.virtual_router_id)] if vip is not None else []


# Lab stacks: dev, lab, sandbox, test, optionally numbered and/or with a suffix after
# '-', '_' or '.' (dev2, test-ci, lab_alice); not devops or testing.
LAB_STACK_RE = re.compile(r"^(dev|lab|sandbox|test)\d*([-_.].*)?$")


def is_lab_stack(stack: str) -> bool:
    """A throwaway stack: its base image is unprotected unless protectBaseImage says so."""
    return bool(LAB_STACK_RE.match(stack))


# Keys that are secrets: they must be set with `pulumi config set --secret`.
SECRET_KEYS = {"sshPrivateKey", "vrrpAuthPass"}
OUR_KEYS = {
    (f.alias or name)
    for name, f in Settings.model_fields.items()
    if name not in ("project", "stack", "libvirt_uri")
}

# One validator per top-level key (built once), and per item of the node lists.
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)
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
                        "is stored in plain text; set it again with "
                        f"`pulumi config set --secret {key} ...`",
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
            if field.is_required():
                problems.append(Problem(_key_path(alias, []), _HINTS["missing"].format(key=alias)))
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

    problems.extend(_cross_checks(parsed))
    if problems:
        raise SettingsError(problems)
    if parsed.get("vip") is None and parsed.get("vips"):
        parsed["vip"] = parsed["vips"][0].address  # vip: the first VIP, for its users
    return Settings.model_validate({k: v for k, v in parsed.items()})


# ------------------------------------------------------------------ cross-key rules

_Check = Callable[[dict[str, Any]], Iterable[Problem]]
_CHECKS: list[tuple[tuple[str, ...], _Check]] = []


def _rule(*needs: str) -> Callable[[_Check], _Check]:
    """Register a cross-key rule; it runs only when every section it needs parsed."""

    def deco(fn: _Check) -> _Check:
        _CHECKS.append((needs, fn))
        return fn

    return deco


def _cross_checks(parsed: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    for needs, fn in _CHECKS:
        if all(n in parsed for n in needs):
            out.extend(fn(parsed))
    return out


def _k(path: str) -> str:
    return f"{NS}:{path}"


def _nodes(s: dict[str, Any]) -> list[tuple[str, LoadBalancer | Backend]]:
    out: list[tuple[str, LoadBalancer | Backend]] = []
    for i, lb in enumerate(s.get("load_balancers") or []):
        if lb is not None:
            out.append((f"loadBalancers[{i}]", lb))
    for i, be in enumerate(s.get("backends") or []):
        if be is not None:
            out.append((f"backends[{i}]", be))
    return out


def _complete(s: dict[str, Any], *names: str) -> bool:
    """Every item of these node lists parsed (rules about the whole list need it)."""
    return all(None not in s[n] for n in names)


@_rule("network")
def _network_rules(s: dict[str, Any]) -> Iterable[Problem]:
    net: Network = s["network"]
    if net.cidr.prefixlen > 29:
        yield Problem(
            _k("network.cidr"),
            f"{net.cidr} is too small for two load balancers, a VIP, backends and a "
            "gateway; use a /29 or larger (for example a /24)",
        )
    if net.gateway is not None and net.gateway not in net.cidr:
        yield Problem(
            _k("network.gateway"), f"{net.gateway} is outside {net.cidr}; use an address inside it"
        )
    if net.gateway is not None and net.gateway in (
        net.cidr.network_address,
        net.cidr.broadcast_address,
    ):
        yield Problem(
            _k("network.gateway"),
            f"{net.gateway} is the network or broadcast address of {net.cidr}; use a host address",
        )
    if net.mode == "bridge" and not net.bridge:
        yield Problem(
            _k("network.bridge"),
            "bridge mode attaches the VMs to an existing host bridge: name it "
            "(for example br0), or use mode nat",
        )
    if net.mode == "nat" and net.bridge and not re.match(r"^[A-Za-z0-9_.-]{1,15}$", net.bridge):
        yield Problem(
            _k("network.bridge"), "must be a Linux interface name of at most 15 characters"
        )


@_rule("network", "load_balancers", "backends", "vip")
def _address_rules(s: dict[str, Any]) -> Iterable[Problem]:
    net: Network = s["network"]
    special = {
        net.cidr.network_address: "the network address",
        net.cidr.broadcast_address: "the broadcast address",
        net.gateway_ip: "the gateway",
    }
    seen: dict[ipaddress.IPv4Address, str] = {}
    for path, node in _nodes(s):
        key = _k(f"{path}.ip")
        if node.ip not in net.cidr:
            yield Problem(
                key,
                f"{node.ip} is outside the network {net.cidr} (nginx-ha:network.cidr); use an address inside it",
            )
        elif node.ip in special:
            yield Problem(
                key, f"{node.ip} is {special[node.ip]} of {net.cidr}; pick a free host address"
            )
        if node.ip in seen:
            yield Problem(
                key,
                f"{node.ip} is already used by {seen[node.ip]}; every node needs its own address",
            )
        else:
            seen[node.ip] = f"{NS}:{path}"
    vip: ipaddress.IPv4Address | None = s["vip"]
    if vip is None:
        return  # nginx-ha:vips instead: _vips_rules
    if vip not in net.cidr:
        yield Problem(
            _k("vip"),
            f"{vip} is outside the network {net.cidr}; the VIP must sit in the same subnet as the load balancers",
        )
    elif vip in special:
        yield Problem(_k("vip"), f"{vip} is {special[vip]} of {net.cidr}; pick a free host address")
    if vip in seen:
        yield Problem(
            _k("vip"),
            f"{vip} is the address of {seen[vip]}; the VIP must be an address no node uses",
        )


@_rule("load_balancers", "backends")
def _name_and_mac_rules(s: dict[str, Any]) -> Iterable[Problem]:
    names: dict[str, str] = {}
    macs: dict[str, str] = {}
    for path, node in _nodes(s):
        if node.name in names:
            yield Problem(
                _k(f"{path}.name"),
                f"'{node.name}' is already the name of {names[node.name]}; names must be unique (they become hostnames)",
            )
        else:
            names[node.name] = f"{NS}:{path}"
        if node.mac:
            if node.mac in macs:
                yield Problem(
                    _k(f"{path}.mac"),
                    f"{node.mac} is already the MAC of {macs[node.mac]}; remove the override to get a generated one",
                )
            else:
                macs[node.mac] = f"{NS}:{path}"
    if _complete(s, "backends") and not any(b.role == "primary" for b in s["backends"]):
        yield Problem(
            _k("backends"),
            "has no backend with role primary; nginx needs at least one primary Tomcat (backups only serve while no primary answers)",
        )


@_rule("load_balancers", "vrrp")
def _priority_rules(s: dict[str, Any]) -> Iterable[Problem]:
    lbs: list[LoadBalancer] = [lb for lb in s["load_balancers"] if lb is not None]
    vrrp: Vrrp = s["vrrp"]
    counts = Counter(lb.priority for lb in lbs)
    for i, lb in enumerate(s["load_balancers"]):
        if lb is not None and counts[lb.priority] > 1:
            yield Problem(
                _k(f"loadBalancers[{i}].priority"),
                f"{lb.priority} is shared with another load balancer; equal priorities "
                "leave the election to address order; give each a distinct priority "
                "(the highest is the MASTER)",
            )
    if len(counts) == len(lbs) and vrrp.check.weight != 0 and vrrp.preempt:
        ordered = sorted((lb.priority for lb in lbs), reverse=True)
        gap = ordered[0] - ordered[1]
        if gap >= abs(vrrp.check.weight):
            yield Problem(
                _k("vrrp.check.weight"),
                f"a failed check lowers the MASTER by {abs(vrrp.check.weight)}, which "
                f"does not bring it below the next priority ({ordered[0]} vs "
                f"{ordered[1]}); use a weight larger than the gap {gap}, or weight 0 "
                "(FAULT on failure)",
            )
    if vrrp.check.weight < 0 and not vrrp.preempt:
        yield Problem(
            _k("vrrp.check.weight"),
            "with preempt false a lowered priority never hands the VIP over (nopreempt "
            "ignores priorities); use weight 0 so a failed check enters FAULT",
        )


@_rule("vrrp")
def _vrrp_rules(s: dict[str, Any]) -> Iterable[Problem]:
    vrrp: Vrrp = s["vrrp"]
    if vrrp.version == 2 and vrrp.advert_interval != vrrp.advert_interval.to_integral_value():
        yield Problem(
            _k("vrrp.advertInterval"),
            f"{vrrp.advert_interval} s is fractional; VRRPv2 adverts are whole seconds "
            "(keepalived rounds them); use an integer, or vrrp.version 3 for "
            "sub-second adverts",
        )
    if (
        vrrp.version == 3
        and vrrp.advert_interval * 100 != (vrrp.advert_interval * 100).to_integral_value()
    ):
        yield Problem(
            _k("vrrp.advertInterval"),
            "VRRPv3 adverts are in centiseconds; use at most two decimals",
        )
    if vrrp.version == 3 and vrrp.advert_interval > 40:
        yield Problem(_k("vrrp.advertInterval"), "VRRPv3 allows at most 40.95 s")
    if vrrp.check.timeout > vrrp.check.interval:
        yield Problem(
            _k("vrrp.check.timeout"),
            "must not exceed vrrp.check.interval (keepalived would start the next "
            "check while one still runs)",
        )
    if vrrp.check.watch_interval > vrrp.check.interval:
        yield Problem(
            _k("vrrp.check.watchInterval"),
            "must not exceed vrrp.check.interval (the watcher is the fast path; the "
            "check script is the slow safety net)",
        )


@_rule("vrrp", "keepalived")
def _auth_rules(s: dict[str, Any]) -> Iterable[Problem]:
    vrrp: Vrrp = s["vrrp"]
    ka: Keepalived = s["keepalived"]
    secret: SecretStr | None = s.get("vrrp_auth_pass")
    if "vrrp_auth_pass" not in s:  # the secret itself failed to parse
        return
    has_hmac = ka.version_tuple >= (2, 4, 0)
    if vrrp.version == 2:
        if secret is None and not vrrp.allow_unauthenticated:
            yield Problem(
                _k("vrrpAuthPass"),
                "VRRPv2 adverts are authenticated with a PASS of at most 8 characters: "
                "set it with `pulumi config set --secret vrrpAuthPass ...` (or allow "
                "unauthenticated adverts with vrrp.allowUnauthenticated true)",
            )
        elif secret is not None and not re.fullmatch(r"[!#-\[\]-z|~]*", secret.get_secret_value()):
            yield Problem(
                _k("vrrpAuthPass"),
                "a VRRPv2 PASS goes into keepalived's config syntax: use printable ASCII "
                "without spaces, quotes, backslashes or braces (letters, digits and "
                "punctuation such as !#$%&*+-./:;<=>?@_)",
            )
        elif secret is not None and not 1 <= len(secret.get_secret_value()) <= 8:
            yield Problem(
                _k("vrrpAuthPass"),
                f"has {len(secret.get_secret_value())} characters; VRRPv2 PASS "
                "authentication uses only the first 8, so a longer one gives a false "
                "sense of strength: use 1 to 8 characters",
            )
    else:
        if not has_hmac and not vrrp.allow_unauthenticated:
            yield Problem(
                _k("vrrp.version"),
                f"VRRPv3 carries no authentication and keepalived {ka.version} "
                "(nginx-ha:keepalived.version) has no auth_hmac (needs 2.4.0 or "
                "newer): deploy keepalived 2.4+, use vrrp.version 2 with a PASS, or "
                "set vrrp.allowUnauthenticated true",
            )
        elif has_hmac and secret is None and not vrrp.allow_unauthenticated:
            yield Problem(
                _k("vrrpAuthPass"),
                "VRRPv3 adverts are authenticated with keepalived's auth_hmac: set a "
                "32 to 64 character key with `pulumi config set --secret vrrpAuthPass "
                "$(openssl rand -hex 16)` (or set vrrp.allowUnauthenticated true)",
            )
        elif (
            has_hmac
            and secret is not None
            and not 32 <= len(secret.get_secret_value().encode()) <= 64
        ):
            yield Problem(
                _k("vrrpAuthPass"),
                f"is {len(secret.get_secret_value().encode())} bytes; an auth_hmac "
                "key must be 32 to 64 bytes: `openssl rand -hex 16` makes one",
            )


# Oldest keepalived that reads vrrp_script interval/timeout in fractions of a second
# (upstream commit 6f9ace3c, "allow specifying interval and timeout to milli-second
# resolution", first in v2.3.2).
KEEPALIVED_FRACTIONAL_CHECK_SINCE = (2, 3, 2)


@_rule("vrrp", "keepalived")
def _check_timing_rules(s: dict[str, Any]) -> Iterable[Problem]:
    vrrp: Vrrp = s["vrrp"]
    ka: Keepalived = s["keepalived"]
    if ka.version_tuple >= KEEPALIVED_FRACTIONAL_CHECK_SINCE:
        return
    for name in ("interval", "timeout"):
        value: Decimal = getattr(vrrp.check, name)
        if value != value.to_integral_value():
            yield Problem(
                _k(f"vrrp.check.{name}"),
                f"{value} s is fractional, which needs keepalived 2.3.2 or newer; "
                f"nginx-ha:keepalived.version is {ka.version}: use whole seconds (for "
                "example interval 1 and timeout 1) or a newer keepalived",
            )


@_rule("keepalived")
def _keepalived_rules(s: dict[str, Any]) -> Iterable[Problem]:
    ka: Keepalived = s["keepalived"]
    if sum(1 for x in (ka.url, ka.path, ka.git) if x) > 1:
        yield Problem(_k("keepalived.url"), "set one source: url, path or git, not several")
    if ka.git and not ka.commit:
        yield Problem(
            _k("keepalived.commit"),
            f"a git source is verified by the commit its tag v{ka.version} points to: add "
            "keepalived.commit (40 hex digits, from a clone you trust)",
        )
    if ka.commit and not ka.git:
        yield Problem(_k("keepalived.commit"), "only applies to a git source: set keepalived.git")
    if ka.sha256 and not (ka.url or ka.path):
        yield Problem(
            _k("keepalived.sha256"), "only applies to a url or path source: set one, or remove it"
        )
    if ka.url and not ka.sha256:
        yield Problem(
            _k("keepalived.sha256"),
            "a download URL needs its SHA-256 so the tarball is verified: add "
            "keepalived.sha256 (sha256sum of the tarball from a trusted source)",
        )
    if ka.path and not ka.sha256:
        yield Problem(
            _k("keepalived.sha256"), "an uploaded tarball is verified too: add keepalived.sha256"
        )
    if not (ka.url or ka.path or ka.git) and ka.version != DEFAULT_KEEPALIVED_VERSION:
        yield Problem(
            _k("keepalived.url"),
            f"keepalived {ka.version} is not the default release "
            f"({DEFAULT_KEEPALIVED_VERSION}): give its url (or path) and sha256, or "
            "git and commit",
        )


@_rule("image", "protect_base_image")
def _protect_rules(s: dict[str, Any]) -> Iterable[Problem]:
    if s["image"].volume and s["protect_base_image"] is not None:
        yield Problem(
            _k("protectBaseImage"),
            "has no effect: image.volume names an existing volume that the stack clones "
            "but does not manage; remove protectBaseImage (or use image.url)",
        )


@_rule("image")
def _image_rules(s: dict[str, Any]) -> Iterable[Problem]:
    img: Image = s["image"]
    if img.url and img.volume:
        yield Problem(
            _k("image.url"),
            "set either url (download the base image) or volume (clone an existing one), not both",
        )


@_rule("hosts", "load_balancers", "backends", "anti_affinity", "network")
def _host_rules(s: dict[str, Any]) -> Iterable[Problem]:
    hosts: dict[str, str] = s["hosts"]
    used = {node.host for _, node in _nodes(s)}
    if len(used) > 1 and s["network"].mode == "nat":
        yield Problem(
            _k("network.mode"),
            "nat networks are private to one libvirt host, so VMs on different hosts "
            "could not reach each other (VRRP, proxying): use mode bridge with a host "
            "bridge on the shared segment, or put every node on one host",
        )
    for name, uri in hosts.items():
        if not NAME_RE.match(name):
            yield Problem(
                _k(f"hosts.{name}"), "host names must be lowercase labels (a-z, 0-9, '-')"
            )
        if not re.match(r"^[a-z0-9+]+://", uri):
            yield Problem(
                _k(f"hosts.{name}"),
                f"'{uri}' is not a libvirt URI such as qemu+ssh://user@host/system",
            )
    for path, node in _nodes(s):
        if node.host is not None and node.host not in hosts:
            known = ", ".join(sorted(hosts)) or "none defined"
            yield Problem(
                _k(f"{path}.host"),
                f"'{node.host}' is not a host in nginx-ha:hosts ({known}); add it there "
                "or remove the host to use libvirt:uri",
            )
    lbs: list[LoadBalancer] = [lb for lb in s["load_balancers"] if lb is not None]
    placement = Counter(lb.host for lb in lbs)
    if s["anti_affinity"] and any(n > 1 for n in placement.values()):
        yield Problem(
            _k("antiAffinity"),
            "is true but load balancers share a host "
            f"({', '.join(lb.name for lb in lbs)}): give each a different `host`",
        )


@_rule("nginx", "backends")
def _nginx_rules(s: dict[str, Any]) -> Iterable[Problem]:
    nginx: Nginx = s["nginx"]
    if nginx.balancing in ("hash", "ip_hash", "random") and any(
        b is not None and b.role == "backup" for b in s["backends"]
    ):
        yield Problem(
            _k("nginx.balancing"),
            f"{nginx.balancing} cannot be combined with backup servers (nginx rejects "
            "'backup' there); use round_robin or least_conn, or remove the backup backends",
        )
    if nginx.health_path == "/":
        yield Problem(
            _k("nginx.healthPath"),
            "/ is the site's front page: requests for it would get the local health "
            "answer (or 403) instead of Tomcat; use a path of its own such as "
            "/nginx-ha/health",
        )
    for key in ("connect_timeout", "send_timeout", "read_timeout"):
        value: Decimal = getattr(nginx, key)
        if value * 1000 != (value * 1000).to_integral_value():
            yield Problem(
                _k(f"nginx.{to_camel(key)}"),
                f"{value} s is finer than nginx's time resolution of 1 ms; use at most "
                "three decimals (0.5 is 500 ms)",
            )


@_rule("notify")
def _notify_rules(s: dict[str, Any]) -> Iterable[Problem]:
    n: Notify = s["notify"]
    if n.email_to and not n.smtp_server:
        yield Problem(
            _k("notify.smtpServer"), "e-mail notification needs an SMTP server (host or host:port)"
        )
    for i, addr in enumerate(n.email_to):
        if not re.match(r"^[^@\s]+@[^@\s]+$", addr):
            yield Problem(_k(f"notify.emailTo[{i}]"), f"'{addr}' is not an e-mail address")


@_rule("vip", "vips")
def _vip_or_vips_rules(s: dict[str, Any]) -> Iterable[Problem]:
    if s["vip"] is None and s["vips"] is None:
        yield Problem(
            _k("vip"),
            "required: set the VIP clients use with `pulumi config set vip ADDRESS`, or "
            "several active-active VIPs with `pulumi config set --path 'vips[0]' ADDRESS` "
            "(nginx-ha:vips)",
        )
    elif s["vip"] is not None and s["vips"] is not None:
        yield Problem(
            _k("vips"),
            "is set together with nginx-ha:vip; vip is the shorthand for one VIP: list "
            "every VIP in vips and remove vip (`pulumi config rm vip`), or remove vips",
        )
    elif s["vips"] is not None and not s["vips"]:
        yield Problem(_k("vips"), "is empty: list at least one VIP (or use nginx-ha:vip)")


@_rule("vips", "vrrp", "network", "load_balancers", "backends")
def _vips_rules(s: dict[str, Any]) -> Iterable[Problem]:
    vips: list[VipSpec] | None = s["vips"]
    if not vips:
        return
    net: Network = s["network"]
    special = {
        net.cidr.network_address: "the network address",
        net.cidr.broadcast_address: "the broadcast address",
        net.gateway_ip: "the gateway",
    }
    nodes = {node.ip: f"{NS}:{path}" for path, node in reversed(_nodes(s))}
    addresses: dict[ipaddress.IPv4Address, str] = {}
    vrids: dict[int, str] = {}
    for i, ((address, vrid), spec) in enumerate(
        zip(vip_specs(None, vips, s["vrrp"]), vips, strict=True)
    ):
        key = _k(f"vips[{i}]")
        if address not in net.cidr:
            yield Problem(
                f"{key}.address",
                f"{address} is outside the network {net.cidr}; every VIP must sit in the "
                "same subnet as the load balancers",
            )
        elif address in special:
            yield Problem(
                f"{key}.address",
                f"{address} is {special[address]} of {net.cidr}; pick a free host address",
            )
        if address in nodes:
            yield Problem(
                f"{key}.address",
                f"{address} is the address of {nodes[address]}; a VIP must be an address "
                "no node uses",
            )
        if address in addresses:
            yield Problem(
                f"{key}.address",
                f"{address} is already {addresses[address]}; list each VIP once",
            )
        else:
            addresses[address] = f"{NS}:vips[{i}]"
        derived = spec.virtual_router_id is None
        if vrid > 255:
            yield Problem(
                f"{key}.virtualRouterId",
                f"derived as vrrp.virtualRouterId + {i} = {vrid}, above 255: give this VIP "
                "its own virtualRouterId (1-255), or lower vrrp.virtualRouterId",
            )
        elif vrid in vrids:
            how = f" (derived: vrrp.virtualRouterId + {i})" if derived else ""
            yield Problem(
                f"{key}.virtualRouterId",
                f"{vrid}{how} is already the virtual router id of {vrids[vrid]}; each VIP "
                "is its own VRRP instance and needs its own id (1-255)",
            )
        else:
            vrids[vrid] = f"{NS}:vips[{i}]"


@_rule("lvs", "nginx", "keepalived")
def _lvs_rules(s: dict[str, Any]) -> Iterable[Problem]:
    lvs: Lvs = s["lvs"]
    nginx: Nginx = s["nginx"]
    ka: Keepalived = s["keepalived"]
    if lvs.port is not None and lvs.port != nginx.port:
        yield Problem(
            _k("lvs.port"),
            f"{lvs.port} differs from nginx.port {nginx.port}: direct routing forwards "
            "packets unchanged (only the MAC is rewritten), so the virtual service and "
            "nginx use one port; set lvs.port to nginx.port or leave it unset",
        )
    if lvs.enabled and ka.ipvs is False:
        yield Problem(
            _k("keepalived.ipvs"),
            "is false but lvs.enabled is true: keepalived built without IPVS "
            "(--disable-lvs) rejects virtual_server ('Unknown keyword'); remove "
            "keepalived.ipvs (it follows lvs.enabled) or set lvs.enabled false",
        )


def settings_warnings(settings: Settings) -> list[str]:
    """Legal but risky choices, for the operator to see in preview."""
    out = []
    placement = Counter(lb.host for lb in settings.load_balancers)
    if len(settings.load_balancers) > 1 and any(n > 1 for n in placement.values()):
        out.append(
            "load balancers share a libvirt host: a host failure takes the VIP down; "
            "set a different `host` per load balancer (nginx-ha:antiAffinity true "
            "turns this into an error)"
        )
    if settings.vrrp.allow_unauthenticated:
        out.append("VRRP adverts are unauthenticated (vrrp.allowUnauthenticated true)")
    return out


# ------------------------------------------------------------------------- the shell


def load_from_pulumi(project_dir: str | None = None) -> Settings:
    """Read the stack's configuration from the Pulumi engine and parse it.

    ``project_dir`` (default: the working directory, where Pulumi runs the program)
    holds the committed stack files that this stack must not collide with.
    """
    import os

    import pulumi
    from pulumi.runtime import config as rt_config

    from nginx_ha.config.stackfiles import stack_conflicts

    raw = {**rt_config.get_config_env(), **rt_config.CONFIG.get()}
    secret_keys = {k for k in raw if rt_config.is_config_secret(k)}
    secret_keys |= set(rt_config.get_config_secret_keys_env())
    settings = parse_settings(raw, stack=pulumi.get_stack(), secret_keys=secret_keys)
    conflicts = stack_conflicts(settings, project_dir or os.getcwd())
    if conflicts:
        raise SettingsError(conflicts)
    return settings
