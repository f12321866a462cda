"""One libvirt write at a time per host, under Pulumi mocks: the legacy libvirt
provider hangs or fails when one connection uploads several volumes at once
(terraform-provider-libvirt issues 594, 324, 1021), and an upload's read-back failed
while a domain was being created on the same connection (an end-to-end run). So each
host's network, base image, and every VM's disk, cloud-init disk and domain go one
after another (each is quick: the VMs boot on their own afterwards); two hosts still
proceed side by side, and the steps over SSH are not held back by later VMs."""

from __future__ import annotations

import itertools

from support import stacks
from support.mocks import run_program
from tests.program.test_program import BIG

VOLUME = "libvirt:index/volume:Volume"
CIDATA = "libvirt:index/cloudInitDisk:CloudInitDisk"
NETWORK = "libvirt:index/network:Network"


def writes(run, host: str | None = None) -> list[str]:
    """Every libvirt resource of ``host`` (all of them without one), by name."""
    return [
        r.name
        for r in run.resources
        if r.typ.startswith("libvirt:index/")
        and (host is None or (r.provider and f"libvirt-{host}::" in r.provider))
    ]


def uploads(run, host: str | None = None) -> list[str]:
    """Every upload (a volume with a source, a cloud-init disk) of ``host``, by name."""
    out = []
    for r in run.resources:
        is_upload = r.typ == CIDATA or (r.typ == VOLUME and r.inputs.get("source"))
        if is_upload and (host is None or r.provider and f"libvirt-{host}::" in r.provider):
            out.append(r.name)
    return out


def assert_one_at_a_time(run, names: list[str]) -> list[str]:
    """The uploads are totally ordered by their dependencies; returns that order."""
    for a, b in itertools.combinations(names, 2):
        assert (a in run.waits_for(b)) != (b in run.waits_for(a)), f"{a} and {b} may overlap"
    return sorted(names, key=lambda n: len(run.waits_for(n) & set(names)))


def test_one_host_writes_one_after_another_after_its_network():
    run = run_program(stacks.raw_config("dev"), stack="dev")
    names = uploads(run)
    assert len(names) == 5  # the base image and four cloud-init disks
    order = assert_one_at_a_time(run, writes(run))
    nodes = ["tomcat-backup", "tomcat-primary", "nginx-backup", "nginx-master"]
    assert order == ["network", "base-image"] + [
        f"{n}-{part}" for n in nodes for part in ("disk", "cloudinit", "domain")
    ]
    # The steps over SSH of a VM that is up do not wait for the VMs created after it.
    assert "nginx-master-domain" not in run.waits_for("tomcat-backup-wait-ready")
    assert "tomcat-primary-cloudinit" not in run.waits_for("tomcat-backup-wait-ready")


def test_two_hosts_write_side_by_side():
    # Not a serving stack: those create their VMs one node at a time anyway.
    run = run_program(stacks.raw_config("dev", **BIG, serving=False), stack="big")
    hv1, hv2 = writes(run, "hv1"), writes(run, "hv2")
    assert uploads(run, "hv1") and uploads(run, "hv2")
    assert len(hv1) + len(hv2) == len(writes(run))
    assert_one_at_a_time(run, hv1)
    assert_one_at_a_time(run, hv2)
    for a in hv1:
        assert not set(hv2) & run.waits_for(a), a
    for b in hv2:
        assert not set(hv1) & run.waits_for(b), b
