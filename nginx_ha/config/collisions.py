"""Stacks that would collide on a libvirt host.

Physical libvirt names carry project and stack (nginx_ha/topology/naming.py), so two
stacks never share a domain, volume, cloud-init disk or NAT network by name. What names
cannot separate is what two stacks share on a host:

- bridge mode: VMs of both stacks sit on the same host bridge (same L2 segment), so the
  same VRRP virtual router id, or the same VIP or node address, makes them fight
  (keepalived drops or mistakes the other stack's adverts; ARP flips between owners);
- nat mode: each stack's network is its own segment, but libvirt refuses to start a
  network whose subnet a network on the host already routes (virNetworkCreate:
  "Network is already in use by interface virbrN"; cockpit-project/cockpit#14942,
  rgouveia-redhat/ocp-libvirt-upi#14), and an explicit
  ``network.bridge`` name is one host interface for both.

``stack_conflicts`` compares a parsed stack with every other ``Pulumi.<stack>.yaml`` in
the project folder and returns one :class:`Problem` per clash, naming the key and the
other stack. The other stacks are read leniently (each section on its own, defaults as
in the models): a value that does not parse is judged by that stack's own run, not
here, and a file that is not a stack file at all (not YAML, a list where a mapping
belongs, ...) or breaks a bound of the one reader (``stackread.py``: not a regular file,
a link out of the project folder, over 1 MiB, unreadable, not UTF-8, nested too deep,
too many values once aliases are expanded) is named in a note for the operator, with
the reason, and left out; no shape or kind of another stack's file stops, or stalls,
this stack's run.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import ValidationError

from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Network, Settings, VipSpec, Vrrp, vip_specs
from nginx_ha.config.parse import decode_value
from nginx_ha.config.pins import NS
from nginx_ha.config.stackfiles import StackFileError, load_stack_document

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def host_key(uri: str) -> str:
    """One libvirt daemon, however its URI is spelt.

    The transport (``+ssh``, ``+tls``, ``+unix``), the user and the port do not change
    which daemon answers; the host, the instance path (``/system``, ``/session``) and a
    ``socket=`` (a private libvirtd, such as the sandbox's) do.
    """
    parts = urlsplit(uri)
    driver = parts.scheme.split("+", 1)[0].lower()
    host = (parts.hostname or "").lower()
    host = "localhost" if host in LOCAL_HOSTS else host
    socket = dict(parse_qsl(parts.query)).get("socket", "")
    return f"{driver}://{host}{parts.path or '/'}" + (f"?socket={socket}" if socket else "")


@dataclass
class Footprint:
    """What a stack occupies on its libvirt hosts."""

    stack: str
    hosts: set[str] = field(default_factory=set)  # host_key of every host running a VM
    network: Network | None = None
    vrid: int | None = None  # the first VIP's (the one-VIP stack's only) router id
    # every virtual router id (one per VIP, issue 8) -> the config key that sets it
    vrids: dict[int, str] = field(default_factory=dict)
    # address -> the config key that asks for it
    addresses: dict[ipaddress.IPv4Address, str] = field(default_factory=dict)


def footprint_of_settings(s: Settings) -> Footprint:
    specs = s.vip_specs
    fp = Footprint(stack=s.stack, network=s.network, vrid=specs[0][1])
    fp.hosts = {host_key(s.host_uri(n.host)) for n in s.all_nodes()}
    fp.vrids = _vrid_keys(specs, s.vips)
    if s.vips:
        for i, (address, _vrid) in enumerate(specs):
            fp.addresses.setdefault(address, f"{NS}:vips[{i}]")
    else:
        fp.addresses[specs[0][0]] = f"{NS}:vip"
    for i, lb in enumerate(s.load_balancers):
        fp.addresses.setdefault(lb.ip, f"{NS}:loadBalancers[{i}].ip")
    for i, be in enumerate(s.backends):
        fp.addresses.setdefault(be.ip, f"{NS}:backends[{i}].ip")
    return fp


def _vrid_keys(
    specs: list[tuple[ipaddress.IPv4Address, int]], vips: list[VipSpec] | None
) -> dict[int, str]:
    """Router id -> the key that sets it: vips[i].virtualRouterId when given there,
    else vrrp.virtualRouterId (the one VIP's, or the base the VIPs' ids derive from)."""
    out: dict[int, str] = {}
    for i, (_address, vrid) in enumerate(specs):
        explicit = vips is not None and vips[i].virtual_router_id is not None
        key = f"{NS}:vips[{i}].virtualRouterId" if explicit else f"{NS}:vrrp.virtualRouterId"
        out.setdefault(vrid, key)
    return out


def footprint_of_config(
    stack: str, config: Mapping[str, Any], project_defaults: Mapping[str, Any]
) -> Footprint:
    """The footprint of another stack from its stack file's ``config``, read leniently."""
    cfg = {**project_defaults, **{k: decode_value(v) for k, v in (config or {}).items()}}
    fp = Footprint(stack=stack)
    uri = cfg.get("libvirt:uri") or Settings.model_fields["libvirt_uri"].default
    hosts = cfg.get(f"{NS}:hosts") or {}
    hosts = hosts if isinstance(hosts, dict) else {}
    try:
        fp.network = Network.model_validate(cfg.get(f"{NS}:network") or {})
    except ValidationError:
        fp.network = None
    try:
        vrrp = Vrrp.model_validate(cfg.get(f"{NS}:vrrp") or {})
        fp.vrid = vrrp.virtual_router_id
    except ValidationError:
        vrrp, fp.vrid = None, None
    with contextlib.suppress(ValueError):  # no VIP, or not an address: nothing to compare
        fp.addresses[ipaddress.IPv4Address(str(cfg.get(f"{NS}:vip")))] = f"{NS}:vip"
    vips = cfg.get(f"{NS}:vips")
    if isinstance(vips, list):  # active-active: each VIP read on its own
        specs: list[VipSpec] = []
        for item in vips:
            with contextlib.suppress(ValidationError):
                specs.append(VipSpec.model_validate(item))
        if len(specs) == len(vips) and vrrp is not None:
            resolved = vip_specs(None, specs, vrrp)
            fp.vrid = resolved[0][1] if resolved else fp.vrid
            fp.vrids = _vrid_keys(resolved, specs)
        for i, spec in enumerate(specs):
            fp.addresses.setdefault(spec.address, f"{NS}:vips[{i}]")
    elif fp.vrid is not None:
        fp.vrids = {fp.vrid: f"{NS}:vrrp.virtualRouterId"}
    for list_key in ("loadBalancers", "backends"):
        nodes = cfg.get(f"{NS}:{list_key}") or []
        for i, node in enumerate(nodes if isinstance(nodes, list) else []):
            if not isinstance(node, dict):
                continue
            host = node.get("host")
            node_uri = hosts.get(host) if isinstance(host, str) else uri if host is None else None
            if isinstance(node_uri, str):
                fp.hosts.add(host_key(node_uri))
            try:
                ip = ipaddress.IPv4Address(str(node.get("ip")))
            except ValueError:
                continue
            fp.addresses.setdefault(ip, f"{NS}:{list_key}[{i}].ip")
    return fp


def committed_footprints(
    project_dir: str | Path, exclude: str, notes: list[str] | None = None
) -> list[Footprint]:
    """Every ``Pulumi.<stack>.yaml`` in the project folder but ``exclude``'s own (never
    opened). A file that cannot be read as a stack file, or within the reader's bounds,
    is left out, with a line in ``notes`` naming it and why."""
    root = Path(project_dir)
    notes = [] if notes is None else notes
    defaults: dict[str, Any] = {}
    project_file = root / "Pulumi.yaml"
    if os.path.lexists(project_file):
        try:
            project = load_stack_document(project_file, root)
        except StackFileError as e:
            notes.append(f"{e}; its config defaults are not used in the collision check")
            project = {}
        for key, value in (project.get("config") or {}).items():
            if isinstance(value, dict):  # a declaration: {type, default, ...}
                if "default" in value:
                    defaults[key if ":" in key else f"{NS}:{key}"] = value["default"]
            else:
                defaults[key if ":" in key else f"{NS}:{key}"] = value
    out = []
    for path in sorted(root.glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi.") : -len(".yaml")]
        if stack == exclude:
            continue
        try:
            doc = load_stack_document(path, root)
            out.append(footprint_of_config(stack, doc.get("config") or {}, defaults))
        except StackFileError as e:
            notes.append(f"{e}; stack '{stack}' is not compared for collisions")
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            # Values of a shape no stack file should have: that stack's own run names
            # them; this one goes on without comparing against it.
            notes.append(
                f"{path.name}: not understood ({type(e).__name__}: {e}); stack "
                f"'{stack}' is not compared for collisions"
            )
    return out


def conflicts_between(mine: Footprint, other: Footprint) -> Iterable[Problem]:
    """Why ``mine`` cannot run beside ``other``; nothing when they share no host."""
    shared = sorted(mine.hosts & other.hosts)
    if not shared or mine.network is None or other.network is None:
        return
    a, b = mine.network, other.network
    where = f"stack '{other.stack}' (Pulumi.{other.stack}.yaml) on {', '.join(shared)}"
    if a.mode == "bridge" and b.mode == "bridge":
        if a.bridge != b.bridge:
            return
        for vrid, key in sorted(mine.vrids.items()):
            if vrid in other.vrids:
                yield Problem(
                    key,
                    f"{vrid} is also a virtual router id of {where}, whose VMs share "
                    f"bridge {a.bridge}: VRRP instances with one id on one segment take "
                    "each other's adverts; pick an id (1-255) no other stack on that "
                    "bridge uses",
                )
        for ip, key in sorted(mine.addresses.items()):
            if ip in other.addresses:
                yield Problem(
                    key,
                    f"{ip} is also {other.addresses[ip]} of {where}, on the same bridge "
                    f"{a.bridge}: two owners of one address break ARP; pick a free address",
                )
        return
    # At least one nat network: separate segments, but one host's routes and interfaces.
    if a.mode == "nat" and b.mode == "nat" and a.cidr.overlaps(b.cidr):
        yield Problem(
            f"{NS}:network.cidr",
            f"{a.cidr} overlaps {b.cidr}, the nat network of {where}: libvirt refuses to "
            "start a network whose subnet another network on the host already uses; "
            "pick a subnet of your own (and addresses in it)",
        )
    if a.bridge and a.bridge == b.bridge:
        yield Problem(
            f"{NS}:network.bridge",
            f"{a.bridge} is also the bridge of {where}; a nat network creates its own "
            "bridge: leave network.bridge unset (libvirt picks a free name) or choose another",
        )


def stack_conflicts(
    settings: Settings, project_dir: str | Path, notes: list[str] | None = None
) -> list[Problem]:
    """Every clash of this stack with the other committed stacks, as settings problems;
    other stack files that could not be read are named in ``notes``."""
    mine = footprint_of_settings(settings)
    out: list[Problem] = []
    for other in committed_footprints(project_dir, exclude=settings.stack, notes=notes):
        out.extend(conflicts_between(mine, other))
    return out
