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
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

import nginx_ha.config.grammar as grammar
from nginx_ha.config.app import App
from nginx_ha.config.capabilities import Version, parse_version
from nginx_ha.config.lab_stacks import is_lab_stack
from nginx_ha.config.pins import (
    DEFAULT_INTERFACE,
    DEFAULT_KEEPALIVED_COMMIT,
    DEFAULT_KEEPALIVED_GIT,
    DEFAULT_KEEPALIVED_VERSION,
    MAX_DISK_GIB,
    MAX_MEMORY_MIB,
    MAX_VCPUS,
    MIN_DISK_GIB,
    MIN_MEMORY_MIB,
    PROJECT,
)
from nginx_ha.config.types import (
    Address,
    Bool,
    Email,
    IfName,
    Int,
    LibvirtUri,
    Name,
    NetworkAddr,
    PathText,
    PemText,
    Port,
    Seconds,
    SettingsModel,
    Sha256,
    Text,
    Url,
    VolumeName,
    check_mac,
    strict_int,
    text_value,
)


class VmSize(SettingsModel):
    """Size of a VM; ``nginx-ha:vm`` sets the default, a node's ``vm`` overrides."""

    memory_mib: Int = Field(default=1024, ge=MIN_MEMORY_MIB, le=MAX_MEMORY_MIB, alias="memoryMiB")
    vcpus: Int = Field(default=1, ge=1, le=MAX_VCPUS)
    disk_gib: Int = Field(default=10, ge=MIN_DISK_GIB, le=MAX_DISK_GIB, alias="diskGiB")
    # "kvm" where the host has hardware virtualisation, "qemu" (software emulation)
    # where it has not (nested or paravirtualised hosts, the sandbox).
    domain_type: Literal["kvm", "qemu"] = "kvm"
    # Direct kernel boot, for images without a bootloader (the sandbox's): paths on
    # the libvirt host. Unset: the image boots through its own bootloader.
    kernel: PathText | None = None
    initrd: PathText | None = None
    cmdline: (
        Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_cmdline)] | None
    ) = None


class VmOverride(SettingsModel):
    memory_mib: Int | None = Field(
        default=None, ge=MIN_MEMORY_MIB, le=MAX_MEMORY_MIB, alias="memoryMiB"
    )
    vcpus: Int | None = Field(default=None, ge=1, le=MAX_VCPUS)
    disk_gib: Int | None = Field(default=None, ge=MIN_DISK_GIB, le=MAX_DISK_GIB, alias="diskGiB")
    domain_type: Literal["kvm", "qemu"] | None = None


class Network(SettingsModel):
    name: Name = "lan"
    mode: Literal["nat", "bridge"] = "nat"
    bridge: IfName | None = None
    cidr: NetworkAddr = ipaddress.IPv4Network("192.168.159.0/24")
    gateway: Address | None = None  # default: first host address
    dns: list[Address] = Field(default_factory=list, max_length=3)

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


class Image(SettingsModel):
    url: Url | None = None
    volume: VolumeName | None = None  # an existing volume in `pool` to clone from
    pool: VolumeName = "default"


class Ssh(SettingsModel):
    user: Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_user)] = "debian"
    public_key: Text = Field(min_length=1, max_length=16384)
    # Who may reach the nodes' SSH port (IPv4 addresses or CIDRs); empty: anywhere.
    # The machine running Pulumi must be among them (the remote steps use SSH).
    allow_from: list[NetworkAddr] = Field(default_factory=list, max_length=64)

    @field_validator("allow_from", mode="before")
    @classmethod
    def _sources(cls, v: Any) -> Any:
        if isinstance(v, list):
            out = []
            for item in v:
                if isinstance(item, str):
                    try:
                        ipaddress.IPv4Network(item, strict=True)
                    except ValueError as e:
                        raise ValueError(
                            f"'{item}' is not an IPv4 address or network with host bits "
                            f"zero ({e}); e.g. 203.0.113.7 or 10.0.0.0/8"
                        ) from None
                out.append(item)
            return out
        return v

    @field_validator("public_key")
    @classmethod
    def _key(cls, v: str) -> str:
        v = v.strip(" ")
        if not re.fullmatch(
            r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,2}( [!-~][ -~]*)?",
            v,
        ):
            raise ValueError(
                "must be one OpenSSH public key line (ssh-ed25519 AAAA... comment); "
                "use the content of your id_ed25519.pub, not the private key"
            )
        return v


class HealthCheck(SettingsModel):
    """keepalived's check of the node's own nginx (vrrp_script)."""

    interval: Seconds = Field(default=Decimal(1), gt=0, le=60)
    timeout: Seconds = Field(default=Decimal("0.8"), gt=0, le=60)
    fall: Int = Field(default=2, ge=1, le=10)
    rise: Int = Field(default=2, ge=1, le=10)
    # 0: a failing check puts the instance in FAULT, which releases the VIP at once.
    # Negative: the priority drops by that much instead (see the priority gap rule).
    # Positive is refused (rules/vrrp.py): the watcher writes 1 for "down", so a
    # positive weight would raise the priority of the node whose nginx died.
    weight: Int = Field(default=0, ge=-253, le=253)
    # The fast path (docs/keepalived.md): a watcher asks nginx every watchInterval
    # seconds and writes the verdict to a file keepalived tracks (track_file, inotify);
    # fall/rise apply to it too. The vrrp_script above stays as the safety net.
    watch_interval: Seconds = Field(default=Decimal("0.2"), gt=0, le=60)


class Vrrp(SettingsModel):
    virtual_router_id: Int = Field(default=51, ge=1, le=255)
    # 0.2 s: a host death is noticed after 3 adverts plus the BACKUP's skew, (256 -
    # priority) / 256 of an advert: at most 0.72 s with the dev stack's priority 100, under
    # the 0.8 s goal (0.25 s gave 0.75-0.9 s); a lost advert or two still changes nothing.
    advert_interval: Seconds = Field(default=Decimal("0.2"), gt=0, le=255)
    version: Literal[2, 3] = 3
    preempt: Bool = True
    unicast: Bool = True
    interface: IfName = DEFAULT_INTERFACE
    # VRRPv3 carries no authentication of its own; where the keepalived deployed cannot
    # authenticate adverts (auth_hmac needs 2.4), the stack must say it accepts that.
    allow_unauthenticated: Bool = False
    garp_master_refresh: Int = Field(default=60, ge=0, le=3600)
    check: HealthCheck = Field(default_factory=HealthCheck)

    @field_validator("version", mode="before")
    @classmethod
    def _version_int(cls, v: Any) -> Any:
        return strict_int(v)


class Keepalived(SettingsModel):
    version: Text = DEFAULT_KEEPALIVED_VERSION
    # Build with IPVS (LVS) support. Unset: exactly when lvs.enabled (otherwise the
    # build uses --disable-lvs); false with lvs.enabled is an error.
    ipvs: Bool | None = None
    url: Url | None = None
    path: PathText | None = None  # a tarball on the operator's machine, uploaded to the VMs
    sha256: Sha256 | None = None
    git: Url | None = None  # a git repository; the tag v<version> must be `commit`
    commit: Text | None = None

    @field_validator("commit")
    @classmethod
    def _commit(cls, v: str | None) -> str | None:
        if v is not None and not grammar.full(grammar.COMMIT_RE, v.lower()):
            raise ValueError("must be a full 40-hex commit id (git rev-parse v<version>)")
        return v.lower() if v else v

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not grammar.full(grammar.VERSION_RE, v):
            raise ValueError("must be a keepalived release like 2.4.3")
        return v

    @property
    def version_tuple(self) -> Version:
        return parse_version(self.version)


# keepalived's LVS schedulers (keepalived.conf(5) of 2.2 and 2.4, lvs_sched).
LVS_SCHEDULERS = (
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
)  # fmt: skip


class VipSpec(SettingsModel):
    """One VIP of ``nginx-ha:vips``: a plain address, or {address, virtualRouterId}."""

    address: Address
    # Unset: vrrp.virtualRouterId + the VIP's index in the list.
    virtual_router_id: Int | None = Field(default=None, ge=1, le=255)

    @model_validator(mode="before")
    @classmethod
    def _plain_address(cls, v: Any) -> Any:
        return {"address": v} if isinstance(v, str) else v


class Lvs(SettingsModel):
    """LVS (IPVS) in direct-routing mode in front of the nginx nodes (docs/active-active-lvs.md)."""

    enabled: Bool = False
    # The virtual service's port; direct routing cannot translate ports, so it is
    # nginx.port (unset: nginx.port).
    port: Port | None = None
    scheduler: Text = "wlc"
    # Seconds a client sticks to one nginx node; 0: no persistence.
    persistence_timeout: Int = Field(default=0, ge=0, le=2592000)

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        if v not in LVS_SCHEDULERS:
            raise ValueError(
                f"{v!r} is not one of keepalived's LVS schedulers ({', '.join(LVS_SCHEDULERS)}); "
                "wlc (weighted least-connection) is the default"
            )
        return v


class Notify(SettingsModel):
    """State-change notification (notify script, optional e-mail via keepalived's SMTP)."""

    script: Bool = False
    email_to: list[Email] = Field(default_factory=list, max_length=16)
    email_from: Email | None = None
    smtp_server: (
        Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_smtp_server)]
        | None
    ) = None


class Nginx(SettingsModel):
    port: Port = 80
    connect_timeout: Seconds = Field(default=Decimal(1), gt=0, le=600)
    send_timeout: Seconds = Field(default=Decimal(1), gt=0, le=600)
    read_timeout: Seconds = Field(default=Decimal(1), gt=0, le=600)
    max_fails: Int = Field(default=1, ge=0, le=100)
    fail_timeout: Int = Field(default=10, ge=1, le=3600)
    retry_non_idempotent: Bool = False
    balancing: Literal["round_robin", "least_conn", "hash", "ip_hash", "random"] = "round_robin"
    health_path: Annotated[
        str, BeforeValidator(text_value), AfterValidator(grammar.check_url_path)
    ] = "/nginx-ha/health"


ServerName = Annotated[str, BeforeValidator(text_value), AfterValidator(grammar.check_server_name)]


class Tls(SettingsModel):
    """HTTPS at the VIP (nginx-ha:tls): every load balancer terminates TLS with the same
    certificate. Either the operator's certificate and key, or (lab and dev stacks) a
    certificate the program makes for ``serverNames`` from a per-stack CA derived from
    ``sshHostKeySeed`` (``selfSigned``)."""

    # PEM: the server certificate first, then its chain (intermediates), nothing else
    # (lines: PemText allows the newlines Text refuses; rules/tls.py reads the blocks).
    certificate: PemText | None = Field(default=None, max_length=65536)
    # The certificate's private key (PEM, unencrypted): a secret only
    # (`pulumi config set --secret --path tls.key < key.pem`).
    key: SecretStr | None = None
    # The names the certificate must cover; nginx's server_name; the gate asks each.
    server_names: list[ServerName] = Field(min_length=1, max_length=100)
    self_signed: Bool = False
    # Port 80 answers 308 to https:// (the health and VRRP-state locations stay plain).
    redirect_http: Bool = True
    hsts: Bool = False  # Strict-Transport-Security, opt-in
    port: Port = 443
    # PEM trust anchors the gate verifies the chain with, for a certificate from an
    # internal CA; unset: the node's system store (or the stack's CA with selfSigned).
    ca: PemText | None = Field(default=None, max_length=262144)


class LoadBalancer(SettingsModel):
    name: Name
    ip: Address
    priority: Int = Field(ge=1, le=254)
    host: Name | None = None
    mac: Text | None = None
    vm: VmOverride | None = None

    _m = field_validator("mac")(check_mac)


class Backend(SettingsModel):
    name: Name
    ip: Address
    role: Literal["primary", "backup"]
    port: Port = 8080
    host: Name | None = None
    mac: Text | None = None
    vm: VmOverride | None = None

    _m = field_validator("mac")(check_mac)


class Settings(SettingsModel):
    """Everything a stack can set. Field aliases are the config keys."""

    project: str = PROJECT
    stack: str = "dev"
    libvirt_uri: LibvirtUri = Field(default="qemu:///system", alias="libvirt:uri")
    hosts: dict[Name, LibvirtUri] = Field(default_factory=dict, max_length=64)
    anti_affinity: Bool = False
    # Protect the managed base image from `pulumi destroy`; unset: protected except in
    # lab stacks (is_lab_stack), which are torn down whole. See docs/operations.md.
    protect_base_image: Bool | None = None
    # The stack serves traffic: VMs are created and replaced one node at a time in
    # rollout order, each after the previous node's gate (a first creation is then
    # sequential too). Unset: true except in lab stacks (is_lab_stack). Changes of
    # files and builds roll one node at a time either way (docs/operations.md).
    serving: Bool | None = None
    network: Network = Field(default_factory=Network)
    image: Image = Field(default_factory=Image)
    ssh: Ssh
    # Required in a stack's config (parse_settings); a program building the stack from
    # code may pass the key as a Pulumi Input instead (NginxHaStackArgs).
    ssh_private_key: SecretStr | None = None
    # The secret each node's SSH host key is derived from (topology/hostkeys.py):
    # every key is known before the first connection and pinned in it. Required in a
    # stack's config, like ssh_private_key.
    ssh_host_key_seed: SecretStr | None = None
    # One VIP (vip) or several, active-active (vips); one of them, not both. After
    # parsing, vip is the first VIP either way.
    vip: Address | None = None
    vips: list[VipSpec] | None = Field(default=None, max_length=32)
    lvs: Lvs = Field(default_factory=Lvs)
    load_balancers: list[LoadBalancer] = Field(min_length=2, max_length=16)
    backends: list[Backend] = Field(min_length=1, max_length=64)
    vrrp: Vrrp = Field(default_factory=Vrrp)
    vrrp_auth_pass: SecretStr | None = None
    vm: VmSize = Field(default_factory=VmSize)
    keepalived: Keepalived = Field(default_factory=Keepalived)
    notify: Notify = Field(default_factory=Notify)
    nginx: Nginx = Field(default_factory=Nginx)
    tls: Tls | None = None  # HTTPS at the VIP; unset: plain HTTP only
    app: App | None = None  # the user's WAR on the backends; unset: the node page
    # TLS session ticket keys shared by every load balancer (a client resumes after a
    # failover): one or more base64-encoded 80-byte keys, whitespace-separated, the
    # newest first (it encrypts new tickets; the others only decrypt, for a rotation).
    tls_ticket_keys: SecretStr | None = None

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
