"""One upload at a time per libvirt host, under Pulumi mocks: the legacy libvirt
provider hangs or fails when one connection uploads several volumes at once
(terraform-provider-libvirt issues 594, 324, 1021), so each host's base image and
cloud-init disks go one after another, after the host's network; two hosts still
proceed side by side, and nothing else is serialised."""

from __future__ import annotations

import itertools

from support import stacks
from support.mocks import run_program
from tests.program.test_program import BIG

VOLUME = "libvirt:index/volume:Volume"
CIDATA = "libvirt:index/cloudInitDisk:CloudInitDisk"
NETWORK = "libvirt:index/network:Network"


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


def test_one_host_uploads_one_after_another_after_its_network():
    run = run_program(stacks.raw_config("dev"), stack="dev")
    names = uploads(run)
    assert len(names) == 5  # the base image and four cloud-init disks
    order = assert_one_at_a_time(run, names)
    assert order[0] == "base-image"
    assert "network" in run.waits_for("base-image")
    # The clones (copy-on-write, no upload) and the domains are not held back by the
    # other nodes' uploads.
    assert not {n for n in names if n.endswith("-cloudinit")} & run.waits_for("nginx-master-disk")
    assert "nginx-backup-cloudinit" not in run.waits_for("nginx-master-disk")


def test_two_hosts_upload_side_by_side():
    # Not a serving stack: those create their VMs one node at a time anyway.
    run = run_program(stacks.raw_config("dev", **BIG, serving=False), stack="big")
    hv1, hv2 = uploads(run, "hv1"), uploads(run, "hv2")
    assert hv1 and hv2 and len(hv1) + len(hv2) == len(uploads(run))
    assert_one_at_a_time(run, hv1)
    assert_one_at_a_time(run, hv2)
    for a in hv1:
        assert not set(hv2) & run.waits_for(a), a
    for b in hv2:
        assert not set(hv1) & run.waits_for(b), b
