"""The settings model tree (pydantic): every key a stack can set, its type, bounds and
default, and the values derived from it. Field aliases are the config keys.

Cross-key rules live in ``nginx_ha.config.rules``; the parser that reads the engine's
values in ``nginx_ha.config.parse``.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from nginx_ha.config.capabilities import Version, parse_version
from nginx_ha.config.grammar import MAC_RE, NAME_RE
from nginx_ha.config.lab_stacks import is_lab_stack
from nginx_ha.config.pins import (
    DEFAULT_INTERFACE,
    DEFAULT_KEEPALIVED_COMMIT,
    DEFAULT_KEEPALIVED_GIT,
    DEFAULT_KEEPALIVED_VERSION,
    MIN_DISK_GIB,
    MIN_MEMORY_MIB,
    PROJECT,
)


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

    memory_mib: int = Field(default=1024, ge=MIN_MEMORY_MIB, alias="memoryMiB")
    vcpus: int = Field(default=1, ge=1, le=64)
    disk_gib: int = Field(default=10, ge=MIN_DISK_GIB, le=2048, alias="diskGiB")
    # "kvm" where the host has hardware virtualisation, "qemu" (software emulation)
    # where it has not (nested or paravirtualised hosts, the sandbox).
    domain_type: Literal["kvm", "qemu"] = "kvm"
    # Direct kernel boot, for images without a bootloader (the sandbox's): paths on
    # the libvirt host. Unset: the image boots through its own bootloader.
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None


class VmOverride(_Model):
    memory_mib: int | None = Field(default=None, ge=MIN_MEMORY_MIB, alias="memoryMiB")
    vcpus: int | None = Field(default=None, ge=1, le=64)
    disk_gib: int | None = Field(default=None, ge=MIN_DISK_GIB, le=2048, alias="diskGiB")
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

    interval: Decimal = Field(default=Decimal(1), gt=0, le=60)
    timeout: Decimal = Field(default=Decimal("0.8"), gt=0, le=60)
    fall: int = Field(default=2, ge=1, le=10)
    rise: int = Field(default=2, ge=1, le=10)
    # 0: a failing check puts the instance in FAULT, which releases the VIP at once.
    # Negative: the priority drops by that much instead (see the priority gap rule).
    weight: int = Field(default=0, ge=-253, le=253)
    # The fast path (docs/keepalived.md): a watcher asks nginx every watchInterval
    # seconds and writes the verdict to a file keepalived tracks (track_file, inotify);
    # fall/rise apply to it too. The vrrp_script above stays as the safety net.
    watch_interval: Decimal = Field(default=Decimal("0.2"), gt=0, le=60)


class Vrrp(_Model):
    virtual_router_id: int = Field(default=51, ge=1, le=255)
    advert_interval: Decimal = Field(default=Decimal("0.25"), gt=0, le=255)
    version: Literal[2, 3] = 3
    preempt: bool = True
    unicast: bool = True
    interface: Name = DEFAULT_INTERFACE
    # VRRPv3 carries no authentication of its own; where the keepalived deployed cannot
    # authenticate adverts (auth_hmac needs 2.4), the stack must say it accepts that.
    allow_unauthenticated: bool = False
    garp_master_refresh: int = Field(default=60, ge=0, le=3600)
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
    def version_tuple(self) -> Version:
        return parse_version(self.version)


# keepalived's LVS schedulers (keepalived.conf(5) of 2.2 and 2.4, lvs_sched).
LVS_SCHEDULERS = (
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
)  # fmt: skip


class VipSpec(_Model):
    """One VIP of ``nginx-ha:vips``: a plain address, or {address, virtualRouterId}."""

    address: ipaddress.IPv4Address
    # Unset: vrrp.virtualRouterId + the VIP's index in the list.
    virtual_router_id: int | None = Field(default=None, ge=1, le=255)

    @model_validator(mode="before")
    @classmethod
    def _plain_address(cls, v: Any) -> Any:
        return {"address": v} if isinstance(v, str) else v


class Lvs(_Model):
    """LVS (IPVS) in direct-routing mode in front of the nginx nodes (docs/active-active-lvs.md)."""

    enabled: bool = False
    # The virtual service's port; direct routing cannot translate ports, so it is
    # nginx.port (unset: nginx.port).
    port: int | None = Field(default=None, ge=1, le=65535)
    scheduler: str = "wlc"
    # Seconds a client sticks to one nginx node; 0: no persistence.
    persistence_timeout: int = Field(default=0, ge=0, le=2592000)

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
    port: int = Field(default=80, ge=1, le=65535)
    connect_timeout: Decimal = Field(default=Decimal(1), gt=0, le=600)
    send_timeout: Decimal = Field(default=Decimal(1), gt=0, le=600)
    read_timeout: Decimal = Field(default=Decimal(1), gt=0, le=600)
    max_fails: int = Field(default=1, ge=0, le=100)
    fail_timeout: int = Field(default=10, ge=1, le=3600)
    retry_non_idempotent: bool = False
    balancing: Literal["round_robin", "least_conn", "hash", "ip_hash", "random"] = "round_robin"
    health_path: str = Field(default="/nginx-ha/health", pattern=r"^/[A-Za-z0-9/_.-]*$")


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
    port: int = Field(default=8080, ge=1, le=65535)
    host: str | None = None
    mac: str | None = None
    vm: VmOverride | None = None

    _n = field_validator("name")(_check_name)
    _m = field_validator("mac")(_check_mac)


class Settings(_Model):
    """Everything a stack can set. Field aliases are the config keys."""

    project: str = PROJECT
    stack: str = "dev"
    libvirt_uri: str = Field(default="qemu:///system", alias="libvirt:uri")
    hosts: dict[str, str] = Field(default_factory=dict)
    anti_affinity: bool = False
    # Protect the managed base image from `pulumi destroy`; unset: protected except in
    # lab stacks (is_lab_stack), which are torn down whole. See docs/operations.md.
    protect_base_image: bool | None = None
    # The stack serves traffic: VMs are created and replaced one node at a time in
    # rollout order, each after the previous node's gate (a first creation is then
    # sequential too). Unset: true except in lab stacks (is_lab_stack). Changes of
    # files and builds roll one node at a time either way (docs/operations.md).
    serving: bool | None = None
    network: Network = Field(default_factory=Network)
    image: Image = Field(default_factory=Image)
    ssh: Ssh
    # Required in a stack's config (parse_settings); a program building the stack from
    # code may pass the key as a Pulumi Input instead (NginxHaStackArgs).
    ssh_private_key: SecretStr | None = None
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

    @property
    def serves_traffic(self) -> bool:
        """Whether VM creations and replacements are ordered behind the gates."""
        if self.serving is not None:
            return self.serving
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
