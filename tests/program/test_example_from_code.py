"""examples/from-code under recording mocks: an HA entry point built from code (settings
as pydantic models, validated with nginx_ha.config.validate, secrets as Pulumi Inputs)
builds the whole stack, exports what it says, and keeps both secrets secret."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from support import stacks
from support.mocks import key_of, run_program

EXAMPLE = stacks.ROOT / "examples" / "from-code"
PROJECT = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())["name"]
CONFIG = {
    f"{PROJECT}:sshPublicKey": stacks.TEST_PUBLIC_KEY,
    f"{PROJECT}:sshPrivateKey": stacks.TEST_PRIVATE_KEY,
    f"{PROJECT}:vrrpAuthPass": stacks.TEST_HMAC_KEY,
    f"{PROJECT}:sshHostKeySeed": stacks.TEST_HOST_KEY_SEED,
}
SECRET_KEYS = {f"{PROJECT}:sshPrivateKey", f"{PROJECT}:vrrpAuthPass", f"{PROJECT}:sshHostKeySeed"}
LBS = ("edge-a", "edge-b")
BACKENDS = ("app-1", "app-2")
STACK = "nginx-ha:index:NginxHaStack::web"
DOMAIN = "libvirt:index/domain:Domain"


def run_example(preview: bool = False, **config: str):
    raw = CONFIG | {f"{PROJECT}:{k}": v for k, v in config.items()}
    return run_program(
        raw,
        stack="dev",
        preview=preview,
        secret_keys=SECRET_KEYS,
        program=EXAMPLE / "__main__.py",
        project=PROJECT,
    )


@pytest.fixture(scope="module")
def example():
    return run_example()


def plain_strings(value: Any):
    """Every string in recorded inputs, except those inside a secret."""
    if rpc.is_rpc_secret(value):
        return
    if isinstance(value, pulumi.StringAsset):
        yield value.text
    elif isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from plain_strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from plain_strings(v)


def test_the_example_is_its_own_pulumi_project():
    assert PROJECT == "nginx-ha-from-code"
    assert (EXAMPLE / "README.md").is_file()
    assert "../.." in (EXAMPLE / "requirements.txt").read_text().splitlines()


def test_it_builds_one_domain_per_node_of_its_settings(example):
    domains = sorted(d.inputs["name"] for d in example.of_type(DOMAIN))
    assert domains == sorted(f"nginx-ha-dev-{n}" for n in (*LBS, *BACKENDS))
    assert example.get(STACK).parent is None


def test_every_node_gets_its_steps_in_order(example):
    for lb in LBS:
        nginx = example.children(key_of("nginx-ha:index:NginxNode", lb, False))
        keepalived = example.children(key_of("nginx-ha:index:KeepalivedNode", lb, False))
        assert {f"{lb}-nginx-install", f"{lb}-nginx-conf-upload", f"{lb}-nginx-conf-stage"} <= nginx
        assert {
            f"{lb}-keepalived-build",
            f"{lb}-keepalived-auth",
            f"{lb}-keepalived-conf-upload",
            f"{lb}-keepalived-conf-stage",
        } <= keepalived
        assert {
            f"{lb}-wait-ready",
            f"{lb}-keepalived-conf-stage",
            f"{lb}-nginx-conf-stage",
        } <= example.waits_for(f"{lb}-activate")
    for be in BACKENDS:
        tomcat = example.children(key_of("nginx-ha:index:TomcatNode", be, False))
        assert {f"{be}-tomcat-install", f"{be}-tomcat-page-stage"} <= tomcat
    smoke = example.waits_for("web-smoke")
    assert {f"{n}-activate" for n in (*LBS, *BACKENDS)} <= smoke
    assert {f"{lb}-handback" for lb in LBS} <= smoke
    assert example.get("web-smoke").parent == STACK


def test_it_exports_the_vip_url_and_nodes_of_its_settings(example):
    assert set(example.exports) == {"vip", "url", "nodes", "smoke"}
    assert example.exports["vip"] == "10.77.0.10"
    assert example.exports["url"] == "http://10.77.0.10/"
    nodes = example.exports["nodes"]
    assert {n: (v["ip"], v["role"]) for n, v in nodes.items()} == {
        "edge-a": ("10.77.0.11", "MASTER"),
        "edge-b": ("10.77.0.12", "BACKUP"),
        "app-1": ("10.77.0.21", "primary"),
        "app-2": ("10.77.0.22", "backup"),
    }


def test_the_settings_written_in_code_reach_the_rendered_files(example):
    conf = example.named("edge-a-nginx-conf-upload").inputs["source"].text
    assert "server 10.77.0.21:8080 max_fails=2 fail_timeout=5s" in conf
    ka = example.named("edge-a-keepalived-conf-upload").inputs["source"].text
    assert "virtual_router_id 77" in ka
    # The VRRP secret came as an Input: adverts are authenticated with it (auth_hmac).
    assert "auth_hmac {" in {line.strip() for line in ka.splitlines()}


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_both_secrets_stay_secret(preview):
    run = run_example(preview=preview)
    for secret in (stacks.TEST_PRIVATE_KEY, stacks.TEST_HMAC_KEY):
        leaks = [
            (r.name, key)
            for r in run.resources
            for key, value in r.inputs.items()
            if any(secret in s for s in plain_strings(value))
        ]
        assert leaks == [], secret[:12]
    commands = run.of_type("command:remote:Command")
    assert commands
    for c in commands:  # the SSH key: inside every remote step's connection, as a secret
        conn = c.inputs["connection"]
        assert rpc.is_rpc_secret(conn), c.name
        assert rpc.unwrap_rpc_secret(conn)["privateKey"] == stacks.TEST_PRIVATE_KEY
    for lb in LBS:  # the VRRP key: on the auth step's stdin, as a secret
        stdin = run.named(f"{lb}-keepalived-auth").inputs["stdin"]
        assert rpc.is_rpc_secret(stdin)
        if not preview:
            assert stacks.TEST_HMAC_KEY in rpc.unwrap_rpc_secret(stdin)


def test_a_bad_vrrp_secret_given_as_an_input_fails_the_run():
    """validate() could not see it (an Input); the stack checks it once known."""
    with pytest.raises(
        ValueError,
        match=r"NginxHaStackArgs.vrrp_auth_pass: is 9 bytes; an auth_hmac key must be 32 to 64 bytes",
    ):
        run_example(vrrpAuthPass="too-short")
