"""The real __main__.py under recording Pulumi mocks: what it asks libvirt for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from nginx_ha.config import SettingsError
from support import stacks
from support.certs import key_pem, make_cert, pem, private
from support.mocks import run_program

DOMAIN = "libvirt:index/domain:Domain"
VOLUME = "libvirt:index/volume:Volume"
CIDATA = "libvirt:index/cloudInitDisk:CloudInitDisk"
NETWORK = "libvirt:index/network:Network"
PROVIDER = "pulumi:providers:libvirt"
COMMAND = "command:remote:Command"

HOSTS = {"hv1": "qemu+ssh://root@hv1.example/system", "hv2": "qemu+ssh://root@hv2.example/system"}
BIG = dict(
    hosts=HOSTS,
    network={"mode": "bridge", "bridge": "br0", "cidr": "10.20.0.0/16", "gateway": "10.20.0.1"},
    vip="10.20.0.10",
    loadBalancers=[
        {"name": "lb1", "ip": "10.20.1.1", "priority": 200, "host": "hv1"},
        {"name": "lb2", "ip": "10.20.1.2", "priority": 100, "host": "hv2"},
    ],
    backends=[
        {"name": "app1", "ip": "10.20.2.1", "role": "primary", "host": "hv1"},
        {"name": "app2", "ip": "10.20.2.2", "role": "primary", "host": "hv2"},
        {
            "name": "app3",
            "ip": "10.20.2.3",
            "role": "primary",
            "host": "hv1",
            "vm": {"memoryMiB": 2048},
        },
        {"name": "app4", "ip": "10.20.2.4", "role": "backup", "host": "hv2"},
        {"name": "app5", "ip": "10.20.2.5", "role": "backup", "host": "hv1"},
    ],
    antiAffinity=True,
)


@pytest.fixture(scope="module")
def dev():
    return run_program(stacks.raw_config("dev"), stack="dev")


@pytest.fixture(scope="module")
def big():
    return run_program(stacks.raw_config("dev", **BIG), stack="big")


def by_name(run, typ):
    return {r.inputs["name"]: r for r in run.of_type(typ)}


def test_dev_stack_has_one_clone_disk_and_cidata_per_vm(dev):
    domains = by_name(dev, DOMAIN)
    assert sorted(domains) == [
        "nginx-ha-dev-nginx-backup",
        "nginx-ha-dev-nginx-master",
        "nginx-ha-dev-tomcat-backup",
        "nginx-ha-dev-tomcat-primary",
    ]
    vols = by_name(dev, VOLUME)
    base = vols.pop("nginx-ha-dev-base.qcow2")
    assert base.inputs["source"].endswith("debian-12-genericcloud-amd64.qcow2")
    # Every clone is a copy-on-write overlay on the one base volume.
    assert len(vols) == 4
    assert {v.inputs["baseVolumeId"] for v in vols.values()} == {"base-image-id"}
    assert len(dev.of_type(CIDATA)) == 4


def test_each_domain_carries_its_mac_address_and_hostname(dev):
    nodes = dev.exports["nodes"]
    for name, domain in by_name(dev, DOMAIN).items():
        vm = name.removeprefix("nginx-ha-dev-")
        nic = domain.inputs["networkInterfaces"][0]
        assert nic["mac"] == nodes[vm]["mac"]
        # No DHCP host entries to make: the address comes from cloud-init, matched by
        # MAC; passing addresses made every later `up` replace the domain (docs/e2e.md).
        assert "addresses" not in nic and "hostname" not in nic
        assert nic["networkId"] == "network-id"
        assert domain.inputs["cloudinit"] == f"{vm}-cloudinit-id"
        assert domain.inputs["disks"] == [{"volumeId": f"{vm}-disk-id"}]
        # The hostname travels on the domain's own cloud-init disk.
        user = yaml.safe_load(unsecret(dev.named(f"{vm}-cloudinit").inputs["userData"])[0])
        assert user["hostname"] == vm


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value


def unsecret(value: Any) -> tuple[Any, bool]:
    """(plain value, was it a secret) of a registered input."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"], True
    return value, False


def test_cloud_init_disk_matches_the_vm(dev):
    nodes = dev.exports["nodes"]
    for r in dev.of_type(CIDATA):
        vm = r.name.removesuffix("-cloudinit")
        meta = yaml.safe_load(r.inputs["metaData"])
        net = yaml.safe_load(r.inputs["networkConfig"])
        user_text, secret = unsecret(r.inputs["userData"])
        assert secret, "user-data holds the node's private host key: a secret"
        user = yaml.safe_load(user_text)
        assert re.fullmatch(rf"iid-nginx-ha-dev-{vm}-[0-9a-f]{{8}}", meta["instance-id"])
        assert user["hostname"] == vm
        assert net["ethernets"]["enp1s0"]["match"]["macaddress"] == nodes[vm]["mac"]
        assert net["ethernets"]["enp1s0"]["addresses"] == [nodes[vm]["ip"] + "/24"]


def test_nat_network_is_created_without_dhcp(dev):
    (net,) = dev.of_type(NETWORK)
    assert net.inputs["name"] == "nginx-ha-dev-lan"
    assert net.inputs["mode"] == "nat"
    assert net.inputs["addresses"] == ["192.168.159.0/24"]
    assert net.inputs["dhcp"] == {"enabled": False}


def test_outputs_name_vip_url_and_nodes(dev):
    assert dev.exports["vip"] == "192.168.159.110"
    assert dev.exports["url"] == "http://192.168.159.110/"
    nodes = dev.exports["nodes"]
    assert nodes["nginx-master"]["role"] == "MASTER" and nodes["nginx-backup"]["role"] == "BACKUP"
    assert (
        nodes["tomcat-primary"]["role"] == "primary" and nodes["tomcat-backup"]["role"] == "backup"
    )
    assert nodes["nginx-master"]["ip"] == "192.168.159.129"


def test_every_vm_waits_for_cloud_init_over_ssh_with_a_secret_key(dev):
    waits = [r for r in dev.of_type(COMMAND) if r.name.endswith("-wait-ready")]
    assert sorted(w.name for w in waits) == [
        "nginx-backup-wait-ready",
        "nginx-master-wait-ready",
        "tomcat-backup-wait-ready",
        "tomcat-primary-wait-ready",
    ]
    for w in waits:
        vm = w.name.removesuffix("-wait-ready")
        assert "cloud-init status --wait" in w.inputs["create"]
        # The pinned public key cloud-init wrote, made readable (tests/unit/test_wait_ready.py).
        assert "HOST_KEY_PUB=/etc/ssh/ssh_host_ed25519_key.pub\n" in w.inputs["create"]
        assert stacks.TEST_PRIVATE_KEY not in w.inputs["create"]
        # Over SSH to the VM, with the key as a secret; after its domain exists.
        assert rpc.is_rpc_secret(w.inputs["connection"])
        conn = rpc.unwrap_rpc_secret(w.inputs["connection"])
        assert (conn["host"], conn["user"]) == (dev.exports["nodes"][vm]["ip"], "debian")
        assert conn["privateKey"] == stacks.TEST_PRIVATE_KEY
        assert f"{vm}-domain" in dev.dependencies(w.name)


def test_single_host_uses_one_explicit_provider_from_libvirt_uri(dev):
    (provider,) = dev.of_type(PROVIDER)
    assert provider.inputs["uri"] == "qemu:///system"
    assert all(r.provider and "::libvirt::" in r.provider for r in dev.of_type(DOMAIN))


def test_three_primaries_two_backups_on_two_hosts(big):
    providers = {r.name: r.inputs["uri"] for r in big.of_type(PROVIDER)}
    assert providers == {"libvirt-hv1": HOSTS["hv1"], "libvirt-hv2": HOSTS["hv2"]}
    placement = {
        r.inputs["name"].removeprefix("nginx-ha-big-"): r.provider.split("::")[-2]
        for r in big.of_type(DOMAIN)
    }
    assert placement == {
        "lb1": "libvirt-hv1",
        "lb2": "libvirt-hv2",
        "app1": "libvirt-hv1",
        "app2": "libvirt-hv2",
        "app3": "libvirt-hv1",
        "app4": "libvirt-hv2",
        "app5": "libvirt-hv1",
    }
    # One base image per host, each clone on its own host's base.
    vols = big.of_type(VOLUME)
    bases = [v for v in vols if v.inputs["name"] == "nginx-ha-big-base.qcow2"]
    assert sorted(b.name for b in bases) == ["base-image-hv1", "base-image-hv2"]
    for clone in vols:
        if clone in bases:
            continue
        host = placement[clone.name.removesuffix("-disk")].removeprefix("libvirt-")
        assert clone.inputs["baseVolumeId"] == f"base-image-{host}-id"
        assert clone.provider.split("::")[-2] == f"libvirt-{host}"
    # Bridge mode: no libvirt network, NICs on the host bridge.
    assert big.of_type(NETWORK) == []
    for d in big.of_type(DOMAIN):
        assert d.inputs["networkInterfaces"][0]["bridge"] == "br0"
    memory = {d.inputs["name"]: d.inputs["memory"] for d in big.of_type(DOMAIN)}
    assert memory["nginx-ha-big-app3"] == 2048 and memory["nginx-ha-big-app1"] == 1024
    roles = {n: v["role"] for n, v in big.exports["nodes"].items()}
    assert [n for n, r in roles.items() if r == "primary"] == ["app1", "app2", "app3"]
    assert [n for n, r in roles.items() if r == "backup"] == ["app4", "app5"]


def test_a_different_subnet_flows_into_addresses_and_network_config(big):
    for r in big.of_type(CIDATA):
        net = yaml.safe_load(r.inputs["networkConfig"])
        eth = net["ethernets"]["enp1s0"]
        assert eth["addresses"][0].endswith("/16") and eth["addresses"][0].startswith("10.20.")
        assert eth["routes"][0]["via"] == "10.20.0.1"
    assert big.exports["vip"] == "10.20.0.10"


def test_bad_settings_stop_the_program_before_any_resource():
    with pytest.raises(SettingsError) as err:
        run_program(
            stacks.raw_config("dev", vip="10.0.0.1", vrrp={"virtualRouterId": 0}), stack="dev"
        )
    assert {"nginx-ha:vip", "nginx-ha:vrrp.virtualRouterId"} <= {p.key for p in err.value.problems}


def test_preview_builds_the_same_graph(dev):
    preview = run_program(stacks.raw_config("dev"), stack="dev", preview=True)
    assert sorted(r.name for r in preview.resources) == sorted(r.name for r in dev.resources)
    # The same graph: every resource under the same parent, after the same ones.
    for r in dev.resources:
        assert preview.get(r.key).parent == r.parent, r.key
        assert preview.dependencies(r.key) == dev.dependencies(r.key), r.key


def test_every_connection_pins_the_host_key_its_cloud_init_installs(dev):
    from cryptography.hazmat.primitives import serialization

    user_data = {
        r.name.removesuffix("-cloudinit"): yaml.safe_load(unsecret(r.inputs["userData"])[0])
        for r in dev.of_type(CIDATA)
    }
    by_ip = {node["ip"]: name for name, node in dev.exports["nodes"].items()}
    keys = set()
    commands = dev.of_type(COMMAND)
    assert commands
    for cmd in commands:
        conn, _ = unsecret(cmd.inputs["connection"])
        pinned, _ = unsecret(conn["hostKey"])
        doc = user_data[by_ip[conn["host"]]]
        assert doc["ssh_genkeytypes"] == ["ed25519"] and doc["ssh_deletekeys"] is True
        private = serialization.load_ssh_private_key(
            doc["ssh_keys"]["ed25519_private"].encode(), None
        )
        derived = (
            private.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        assert pinned == derived
        keys.add(pinned)
    assert len(keys) == 4  # each clone its own key


def test_bad_settings_reach_pulumi_as_a_run_error_without_a_traceback():
    """Pulumi's language host logs a RunError's message alone (no Python traceback)."""
    import pulumi

    with pytest.raises(pulumi.RunError) as err:
        run_program(stacks.raw_config("dev", vip="10.9.9.9"), stack="dev")
    assert str(err.value).startswith("1 problem(s) in the stack settings; nothing was created")
    assert "nginx-ha:vip: 10.9.9.9 is outside the network" in str(err.value)


def test_a_private_key_of_another_pair_stops_the_program_before_any_resource():
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJTW6pNM6q0Cz0DeUMx3h1e79JYkfe1APi2nnMwMY3k0 x"
    with pytest.raises(SettingsError, match="nginx-ha:sshPrivateKey: does not match"):
        run_program(
            stacks.raw_config("dev", ssh={"user": "debian", "publicKey": other}), stack="dev"
        )


def test_a_bad_tls_setting_stops_the_program_as_a_run_error_with_every_problem():
    """A bad ticket key when parsed; then an expired certificate and a key of another
    one, under the real clock, both named: the problem list alone (a RunError), never
    the key."""
    now = datetime.now(UTC)
    day = timedelta(days=1)
    ca = make_cert("CA", private("p256", 1), ca=True, start=now - 900 * day, end=now + 900 * day)
    inter = make_cert(
        "Intermediate",
        private("p256", 2),
        (ca, private("p256", 1)),
        ca=True,
        start=now - 900 * day,
        end=now + 900 * day,
    )
    sans = ("www.example.com",)
    server = make_cert(
        sans[0],
        private("p256"),
        (inter, private("p256", 2)),
        sans=sans,
        start=now - 400 * day,
        end=now - 5 * day,  # expired
    )
    other_key = key_pem(private("p256", 3))
    tls = {"certificate": pem(server, inter), "key": other_key, "serverNames": list(sans)}
    secret = stacks.SECRET_KEYS | {"nginx-ha:tls", "nginx-ha:tlsTicketKeys"}
    too_long = stacks.raw_config("dev", tls=tls, tlsTicketKeys="QUJD" * 27)  # 81 bytes
    with pytest.raises(SettingsError) as parsed:
        run_program(too_long, stack="dev", secret_keys=secret)
    assert [p.key for p in parsed.value.problems] == ["nginx-ha:tlsTicketKeys"]
    good_ticket = "QUJD" * 26 + "QUI="  # 80 bytes
    with pytest.raises(pulumi.RunError) as err:
        run_program(
            stacks.raw_config("dev", tls=tls, tlsTicketKeys=good_ticket), secret_keys=secret
        )
    text = str(err.value)
    assert text.startswith("2 problem(s) in the stack settings; nothing was created")
    assert "nginx-ha:tls.certificate: certificate 1 ('CN=www.example.com') has expired" in text
    assert "nginx-ha:tls.key: does not match tls.certificate" in text
    assert not any(line in text for line in other_key.splitlines()[1:-1])
