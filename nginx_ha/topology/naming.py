"""Names and MACs: physical libvirt names (stack-scoped) and the VMs' stable MACs.

Physical libvirt names carry project and stack, so two stacks on one host never
collide. Logical Pulumi names stay short ("nginx-master-domain").
"""

from __future__ import annotations

import hashlib
import re

QEMU_OUI = "52:54:00"  # QEMU/KVM's locally administered range


def stack_prefix(project: str, stack: str) -> str:
    return f"{project}-{stack}"


def domain_name(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}"


def volume_name(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}.qcow2"


def cloudinit_name(prefix: str, vm: str) -> str:
    return f"{prefix}-{vm}-cloudinit.iso"


def base_volume_name(prefix: str) -> str:
    return f"{prefix}-base.qcow2"


def network_name(prefix: str, network: str) -> str:
    return f"{prefix}-{network}"


# ------------------------------------------------------------------------------ MACs


def derive_mac(project: str, stack: str, vm: str, attempt: int = 0) -> str:
    """A stable MAC in 52:54:00:xx:xx:xx from (project, stack, VM name).

    ``attempt`` > 0 gives the deterministic alternatives used to resolve a collision.
    """
    seed = f"{project}/{stack}/{vm}" + (f"#{attempt}" if attempt else "")
    digest = hashlib.sha256(seed.encode()).digest()
    return QEMU_OUI + "".join(f":{b:02x}" for b in digest[:3])


def assign_macs(project: str, stack: str, wanted: list[tuple[str, str | None]]) -> dict[str, str]:
    """MACs for every VM: overrides first, then generated ones in name order.

    A generated MAC that collides with one already taken moves to the next
    deterministic alternative, so the result depends only on the inputs.
    """
    taken: dict[str, str] = {}
    out: dict[str, str] = {}
    for vm, mac in wanted:
        if mac is not None:
            out[vm] = mac
            taken[mac] = vm
    for vm, mac in sorted(wanted):
        if mac is not None:
            continue
        attempt = 0
        candidate = derive_mac(project, stack, vm)
        while candidate in taken:
            attempt += 1
            candidate = derive_mac(project, stack, vm, attempt)
        out[vm] = candidate
        taken[candidate] = vm
    return out


# ----------------------------------------------------------------- the page marker
# A backend's ROOT page names it in one line, so whoever asks through the VIP sees
# which Tomcat answered (the smoke test, the lab's probe, the benches, the e2e run).
PAGE_MARKER_KEY = "nginx-ha-backend"
PAGE_MARKER_RE = re.compile(PAGE_MARKER_KEY + r"=([a-z0-9-]+) role=([a-z]+)")


def page_marker(node: str, role: str) -> str:
    """The line of a backend's ROOT page that names it."""
    return f"{PAGE_MARKER_KEY}={node} role={role}"


def parse_page_marker(text: str) -> tuple[str, str] | None:
    """(node, role) named by a page, or None."""
    m = PAGE_MARKER_RE.search(text)
    return (m.group(1), m.group(2)) if m else None
