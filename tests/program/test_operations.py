"""Operations under mocks: stacks side by side, hosts, protection, teardown, collisions.

Issue 7: names unique per stack, one provider per host, anti-affinity, `protect` only
where a stack is long-lived, and the refusal of a stack that would collide with a
committed one on the same libvirt host.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import yaml

from nginx_ha.config import (
    SettingsError,
    is_lab_stack,
    parse_settings,
    settings_warnings,
    stackfiles,
)
from nginx_ha.config.collisions import (
    committed_footprints,
    conflicts_between,
    footprint_of_settings,
    host_key,
    stack_conflicts,
)
from support import stacks
from support.mocks import run_program

DOMAIN = "libvirt:index/domain:Domain"
VOLUME = "libvirt:index/volume:Volume"
CIDATA = "libvirt:index/cloudInitDisk:CloudInitDisk"
NETWORK = "libvirt:index/network:Network"
PROVIDER = "pulumi:providers:libvirt"
COMMAND = "command:remote:Command"
PHYSICAL = (DOMAIN, VOLUME, CIDATA, NETWORK)

STAGING = stackfiles.read_config("staging", stacks.ROOT)
STAGING_HOSTS = STAGING["nginx-ha:hosts"]


def physical_names(run) -> list[str]:
    """The names the program asks libvirt for (domains, volumes, cloud-init disks, networks)."""
    return [r.inputs["name"] for r in run.resources if r.typ in PHYSICAL]


def provider_name(ref: str | None) -> str:
    """'urn:pulumi:stack::proj::pulumi:providers:libvirt::libvirt-hv1::id' -> 'libvirt-hv1'."""
    assert ref, "a resource without an explicit provider"
    return ref.split("::")[-2]


def settings_of(stack: str, name: str | None = None, **overrides):
    return parse_settings(
        stacks.raw_config(stack, **overrides), stack=name or stack, secret_keys=stacks.SECRET_KEYS
    )


@pytest.fixture(scope="module")
def dev():
    return run_program(stacks.raw_config("dev"), stack="dev")


@pytest.fixture(scope="module")
def staging():
    return run_program(stacks.raw_config("staging"), stack="staging")


def protect_flags(run) -> dict[str, bool]:
    """The `protect` option of every resource the program registered, by key."""
    return {r.key: r.protect for r in run.resources}


# ------------------------------------------------------------------ the staging example


def test_staging_is_two_hosts_in_bridge_mode_with_its_own_segment_identity():
    s = settings_of("staging")
    dev = settings_of("dev")
    assert s.network.mode == "bridge" and s.network.bridge
    assert len(set(s.hosts.values())) == 2
    assert all(uri.startswith("qemu+ssh://") for uri in s.hosts.values())
    assert s.anti_affinity is True
    assert len({lb.host for lb in s.load_balancers}) == len(s.load_balancers)
    assert {b.host for b in s.backends} == set(s.hosts)
    assert s.network.cidr != dev.network.cidr and not s.network.cidr.overlaps(dev.network.cidr)
    assert s.vip != dev.vip
    assert s.vrrp.virtual_router_id != dev.vrrp.virtual_router_id
    assert settings_warnings(s) == []


def test_staging_file_commits_no_secret_and_no_key():
    keys = set(STAGING)
    assert not keys & {"nginx-ha:sshPrivateKey", "nginx-ha:vrrpAuthPass", "nginx-ha:ssh"}


# ---------------------------------------------------------------------- names per stack


def test_physical_names_are_unique_per_host_and_carry_the_stack(dev, staging):
    for stack, run in (("dev", dev), ("staging", staging)):
        # libvirt names are per daemon: the base image has one name, once on each host.
        on_host = [
            (provider_name(r.provider), r.inputs["name"])
            for r in run.resources
            if r.typ in PHYSICAL
        ]
        assert len(on_host) == len(set(on_host)), f"duplicate libvirt names in {stack}"
        names = physical_names(run)
        assert all(n.startswith(f"nginx-ha-{stack}-") for n in names), names
    assert not set(physical_names(dev)) & set(physical_names(staging))


def test_the_same_config_under_another_stack_name_shares_no_name_or_mac(dev, monkeypatch, tmp_path):
    # From a folder without stack files: only the naming is under test here (the same
    # subnet twice on one host is refused by the collision check, tested below).
    monkeypatch.chdir(tmp_path)
    other = run_program(stacks.raw_config("dev"), stack="dev-alice")
    assert len(physical_names(other)) == len(physical_names(dev))
    assert not set(physical_names(dev)) & set(physical_names(other))
    macs = {n: v["mac"] for n, v in dev.exports["nodes"].items()}
    other_macs = {n: v["mac"] for n, v in other.exports["nodes"].items()}
    assert macs.keys() == other_macs.keys()
    assert not set(macs.values()) & set(other_macs.values())
    cloudinit_ids = {r.inputs["metaData"] for r in dev.of_type(CIDATA)}
    assert not cloudinit_ids & {r.inputs["metaData"] for r in other.of_type(CIDATA)}


# ------------------------------------------------------------------ providers per host


def test_one_provider_per_host_with_its_uri(staging):
    providers = {r.name: r.inputs["uri"] for r in staging.of_type(PROVIDER)}
    # libvirt:uri runs no VM in staging (every node names its host): no provider for it.
    assert providers == {f"libvirt-{h}": uri for h, uri in STAGING_HOSTS.items()}


def test_every_libvirt_resource_is_on_its_nodes_host(staging):
    placement = {
        node["name"]: node["host"]
        for node in STAGING["nginx-ha:loadBalancers"] + STAGING["nginx-ha:backends"]
    }
    for d in staging.of_type(DOMAIN):
        vm = d.inputs["name"].removeprefix("nginx-ha-staging-")
        assert provider_name(d.provider) == f"libvirt-{placement[vm]}"
    for r in staging.of_type(VOLUME) + staging.of_type(CIDATA):
        if r.name.startswith("base-image-"):
            assert provider_name(r.provider) == f"libvirt-{r.name.removeprefix('base-image-')}"
            continue
        vm = r.name.removesuffix("-disk").removesuffix("-cloudinit")
        assert provider_name(r.provider) == f"libvirt-{placement[vm]}", r.name
    lbs = [d for d in staging.of_type(DOMAIN) if "nginx-" in d.inputs["name"]]
    assert len({provider_name(d.provider) for d in lbs}) == 2


# ------------------------------------------------------------------------ anti-affinity


def test_anti_affinity_refuses_load_balancers_on_one_host():
    lbs = [dict(lb, host="hv1") for lb in STAGING["nginx-ha:loadBalancers"]]
    with pytest.raises(SettingsError) as err:
        run_program(stacks.raw_config("staging", loadBalancers=lbs), stack="staging")
    assert [p.key for p in err.value.problems] == ["nginx-ha:antiAffinity"]


def test_without_anti_affinity_shared_host_is_a_preview_warning(monkeypatch):
    lbs = [dict(lb, host="hv1") for lb in STAGING["nginx-ha:loadBalancers"]]
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warned.append(msg))
    run = run_program(
        stacks.raw_config("staging", loadBalancers=lbs, antiAffinity=False),
        stack="staging",
        preview=True,
    )
    assert any("share a libvirt host" in w for w in warned), warned
    assert {provider_name(d.provider) for d in run.of_type(DOMAIN) if "nginx-" in d.name} == {
        "libvirt-hv1"
    }


# ------------------------------------------------------------------------ protect flags


@pytest.mark.parametrize(
    ("stack", "lab"),
    [
        ("dev", True),
        ("dev2", True),
        ("dev-alice", True),
        ("lab", True),
        ("sandbox", True),
        ("test_ci", True),
        ("staging", False),
        ("prod", False),
        ("devops", False),
        ("testing", False),
        ("prod-dev", False),
    ],
)
def test_lab_stacks_by_name(stack, lab):
    assert is_lab_stack(stack) is lab


def test_base_image_is_protected_in_staging_only():
    staging = protect_flags(run_program(stacks.raw_config("staging"), stack="staging"))
    dev = protect_flags(run_program(stacks.raw_config("dev"), stack="dev"))
    assert {n for n, p in staging.items() if p} == {"base-image-hv1", "base-image-hv2"}
    assert dev["base-image"] is False
    assert not any(dev.values())


def test_protect_base_image_overrides_the_stack_kind():
    staging = protect_flags(
        run_program(stacks.raw_config("staging", protectBaseImage=False), stack="staging")
    )
    assert staging and not any(staging.values())
    dev = protect_flags(run_program(stacks.raw_config("dev", protectBaseImage=True), stack="dev"))
    assert {n for n, p in dev.items() if p} == {"base-image"}


def test_protect_base_image_with_an_existing_volume_is_refused():
    with pytest.raises(SettingsError, match=r"nginx-ha:protectBaseImage: has no effect"):
        settings_of("dev", image={"volume": "debian-12.qcow2"}, protectBaseImage=True)


# ------------------------------------------------------------------------------ teardown


def test_no_remote_step_runs_on_delete_but_the_lvs_cleanup(dev, staging):
    """Destroying a VM deletes its disk; a `delete` command would only dial a VM that may
    be gone and block `pulumi destroy` (pulumi/pulumi-command#553, #104). A step that ever
    needs one must tolerate an unreachable VM (docs/operations.md, "Teardown"): the only
    one is LVS's real-server step, whose delete undoes it when LVS is turned off."""
    commands = dev.of_type(COMMAND) + staging.of_type(COMMAND)
    assert commands
    assert [c.name for c in commands if c.inputs.get("delete")] == []
    lvs = run_program(stacks.raw_config("dev", lvs={"enabled": True}), stack="dev")
    assert sorted(c.name for c in lvs.of_type(COMMAND) if c.inputs.get("delete")) == [
        "nginx-backup-lvs-realserver",
        "nginx-master-lvs-realserver",
    ]


def test_everything_on_the_host_is_a_managed_resource(dev):
    # Each VM's disk, cloud-init disk and domain, the base image and the nat network are
    # resources of the stack, so `pulumi destroy` removes them; DHCP is off (no leases).
    vms = len(dev.exports["nodes"])
    counts = {t: len(dev.of_type(t)) for t in PHYSICAL}
    assert counts == {DOMAIN: vms, VOLUME: vms + 1, CIDATA: vms, NETWORK: 1}
    (net,) = dev.of_type(NETWORK)
    assert net.inputs["dhcp"]["enabled"] is False


# ----------------------------------------------------------------------- stack collisions


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("qemu:///system", "qemu+unix:///system", True),
        ("qemu:///system", "qemu://localhost/system", True),
        ("qemu:///system", "qemu:///session", False),
        ("qemu+ssh://root@hv1.example/system", "qemu+ssh://ops@HV1.example:2222/system", True),
        ("qemu+ssh://hv1.example/system", "qemu+tls://hv1.example/system", True),
        ("qemu+ssh://hv1.example/system", "qemu+ssh://hv2.example/system", False),
        ("qemu+unix:///system?socket=/run/a/sock", "qemu:///system", False),
    ],
)
def test_host_key_identifies_one_libvirt_daemon(a, b, same):
    assert (host_key(a) == host_key(b)) is same


def write_stack(root: Path, stack: str, config: dict) -> None:
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def staging_copy(**changes) -> dict:
    cfg = dict(STAGING)
    cfg.update({k if ":" in k else f"nginx-ha:{k}": v for k, v in changes.items()})
    return cfg


def test_same_bridge_same_router_id_is_refused_naming_the_other_stack(tmp_path):
    write_stack(
        tmp_path,
        "other",
        staging_copy(
            vip="10.20.30.100",
            loadBalancers=[],
            backends=[{"name": "x", "ip": "10.20.30.99", "role": "primary", "host": "hv2"}],
        ),
    )
    problems = stack_conflicts(settings_of("staging"), tmp_path)
    assert [p.key for p in problems] == ["nginx-ha:vrrp.virtualRouterId"]
    assert "stack 'other'" in problems[0].message and "br0" in problems[0].message


def test_same_addresses_on_the_same_bridge_are_refused(tmp_path):
    write_stack(tmp_path, "other", staging_copy(vrrp={"virtualRouterId": 7}))
    keys = {p.key for p in stack_conflicts(settings_of("staging"), tmp_path)}
    assert keys == {
        "nginx-ha:vip",
        "nginx-ha:loadBalancers[0].ip",
        "nginx-ha:loadBalancers[1].ip",
        "nginx-ha:backends[0].ip",
        "nginx-ha:backends[1].ip",
        "nginx-ha:backends[2].ip",
    }


@pytest.mark.parametrize(
    "change",
    [
        {"network": {"mode": "bridge", "bridge": "br1", "cidr": "10.20.30.0/24"}},
        {
            "libvirt:uri": "qemu+ssh://hv3.example.net/system",
            "hosts": {
                "hv1": "qemu+ssh://hv3.example.net/system",
                "hv2": "qemu+ssh://hv4.example.net/system",
            },
        },
    ],
    ids=["other-bridge", "other-hosts"],
)
def test_same_ids_on_another_segment_are_fine(tmp_path, change):
    write_stack(tmp_path, "other", staging_copy(**change))
    assert stack_conflicts(settings_of("staging"), tmp_path) == []


def test_one_shared_host_is_enough_to_collide(tmp_path):
    hosts = {"hv1": STAGING_HOSTS["hv2"], "hv2": "qemu+ssh://hv9.example.net/system"}
    write_stack(
        tmp_path,
        "other",
        staging_copy(
            hosts=hosts,
            vip="10.20.30.200",
            loadBalancers=[],
            backends=[{"name": "x", "ip": "10.20.30.201", "role": "primary", "host": "hv1"}],
        ),
    )
    problems = stack_conflicts(settings_of("staging"), tmp_path)
    assert [p.key for p in problems] == ["nginx-ha:vrrp.virtualRouterId"]


def test_nat_networks_on_one_host_must_not_overlap(tmp_path):
    write_stack(tmp_path, "dev", stackfiles.read_config("dev", stacks.ROOT))
    same_subnet = settings_of("dev", name="dev-alice")
    problems = stack_conflicts(same_subnet, tmp_path)
    assert [p.key for p in problems] == ["nginx-ha:network.cidr"]
    assert "stack 'dev'" in problems[0].message
    # nat networks are separate segments: the same router id in another subnet is fine.
    other = settings_of(
        "dev",
        name="dev-alice",
        network={"name": "lan", "mode": "nat", "cidr": "192.168.160.0/24"},
        vip="192.168.160.110",
        loadBalancers=[
            {"name": "nginx-master", "ip": "192.168.160.129", "priority": 150},
            {"name": "nginx-backup", "ip": "192.168.160.130", "priority": 100},
        ],
        backends=[{"name": "tomcat", "ip": "192.168.160.131", "role": "primary"}],
    )
    assert other.vrrp.virtual_router_id == same_subnet.vrrp.virtual_router_id
    assert stack_conflicts(other, tmp_path) == []


def test_explicit_nat_bridge_name_is_one_interface_per_host(tmp_path):
    dev = stackfiles.read_config("dev", stacks.ROOT)
    write_stack(
        tmp_path,
        "dev",
        {**dev, "nginx-ha:network": {**dev["nginx-ha:network"], "bridge": "virbr-ha"}},
    )
    mine = settings_of(
        "dev",
        name="lab",
        network={"mode": "nat", "cidr": "10.9.0.0/24", "bridge": "virbr-ha"},
        vip="10.9.0.10",
        loadBalancers=[
            {"name": "a", "ip": "10.9.0.11", "priority": 2},
            {"name": "b", "ip": "10.9.0.12", "priority": 1},
        ],
        backends=[{"name": "t", "ip": "10.9.0.13", "role": "primary"}],
    )
    assert [p.key for p in stack_conflicts(mine, tmp_path)] == ["nginx-ha:network.bridge"]


def test_own_file_and_unreadable_files_are_skipped(tmp_path):
    write_stack(tmp_path, "staging", STAGING)  # the stack itself
    (tmp_path / "Pulumi.broken.yaml").write_text("config: [unclosed\n")
    assert [f.stack for f in committed_footprints(tmp_path, exclude="staging")] == []
    assert stack_conflicts(settings_of("staging"), tmp_path) == []


def test_footprint_of_settings_lists_every_address_and_host():
    s = settings_of("staging")
    fp = footprint_of_settings(s)
    assert fp.hosts == {host_key(u) for u in STAGING_HOSTS.values()}
    assert len(fp.addresses) == 1 + 2 + 3
    assert set(fp.addresses) == {s.vip, *(n.ip for n in [*s.load_balancers, *s.backends])}
    assert fp.vrid == 122


def test_committed_stacks_do_not_collide_with_each_other():
    committed = [p.name[len("Pulumi.") : -len(".yaml")] for p in stacks.ROOT.glob("Pulumi.*.yaml")]
    assert {"dev", "staging"} <= set(committed)
    for stack in committed:
        assert stack_conflicts(settings_of(stack), stacks.ROOT) == [], stack


def test_program_refuses_a_copy_of_a_committed_stack(monkeypatch):
    monkeypatch.chdir(stacks.ROOT)
    with pytest.raises(SettingsError) as err:
        run_program(stacks.raw_config("staging"), stack="staging-copy")
    keys = {p.key for p in err.value.problems}
    assert "nginx-ha:vrrp.virtualRouterId" in keys and "nginx-ha:vip" in keys
    assert "Pulumi.staging.yaml" in str(err.value)


def test_program_accepts_the_copy_with_its_own_segment(monkeypatch):
    monkeypatch.chdir(stacks.ROOT)
    run = run_program(
        stacks.raw_config("staging", network={**STAGING["nginx-ha:network"], "bridge": "br1"}),
        stack="staging-copy",
    )
    assert len(run.of_type(DOMAIN)) == 5


def test_pairwise_check_is_symmetric_for_router_ids(tmp_path):
    a = footprint_of_settings(settings_of("staging"))
    b = footprint_of_settings(settings_of("staging", name="other", vip="10.20.30.50"))
    assert [p.key for p in conflicts_between(a, b) if "virtualRouterId" in p.key]
    assert [p.key for p in conflicts_between(b, a) if "virtualRouterId" in p.key]


def test_load_from_pulumi_reads_the_given_project_dir(tmp_path):
    from nginx_ha.components.engine import load_settings
    from support.mocks import Recorder, use_config

    pulumi.runtime.set_mocks(Recorder(), project="nginx-ha", stack="staging-copy")
    use_config(stacks.raw_config("staging"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_settings(project_dir=str(empty)).stack == "staging-copy"
    write_stack(tmp_path, "staging", STAGING)
    with pytest.raises(SettingsError, match=r"stack 'staging' \(Pulumi.staging.yaml\)"):
        load_settings(project_dir=str(tmp_path))
