"""HTTPS at the VIP (nginx-ha:tls), rendered: the TLS load balancer's nginx.conf through
the real `nginx -t` with the files it names (and refused with a key of another
certificate), its golden copy and what it must say, the selfSigned CA and certificate,
the plan's secret files, and the offline render's secrets.

The plain (no tls) nginx.conf is held byte for byte by tests/render/test_nginx.py's
goldens (``test_dev_files_match_their_golden_copies``, ``nginx-tuned``)."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from ruamel.yaml import YAML

from nginx_ha import render
from nginx_ha.config import parse_settings, stackfiles
from nginx_ha.ops import render as render_cli
from nginx_ha.render import tls as render_tls
from nginx_ha.render.artefacts import Artefact, SecretFile, stage_step
from nginx_ha.render.cloudinit import USER_DATA
from nginx_ha.topology import Layout, Topology, build_topology, vm_layout
from nginx_ha.topology.hostkeys import host_key
from nginx_ha.topology.selfsigned import self_signed
from support import nginx_validate, stacks
from tests import tls_stacks as ts
from tests.golden import assert_golden

needs_nginx = pytest.mark.skipif(
    not nginx_validate.available(), reason="nginx (Debian package nginx-light) not installed"
)

SOURCES = ("operator", "selfSigned")
# When a selfSigned chain is checked: inside its fixed window (2026 to 2031).
VERIFY_AT = datetime.datetime(2027, 6, 1, tzinfo=datetime.UTC)


def tls_of(source: str, **more) -> dict:
    if source == "operator":
        return ts.operator_tls(**more)
    return {**ts.SELF_SIGNED, **more}


def tls_layout(tmp_path: Path) -> Layout:
    """nginx's paths and the TLS folder in the test's scratch folder."""
    layout = nginx_validate.scratch_layout(tmp_path)
    return dataclasses.replace(layout, tls_dir=str(tmp_path / "tls"))


def write_tls_files(topo: Topology, layout: Layout, secrets: dict[str, str]) -> list[Path]:
    """The TLS files of the master's plan, as a writer writes them (``on_disk``)."""
    plan = render.node_plan(topo, topo.master, layout)
    written = []
    for path, text in plan.files(secrets).items():
        if path.startswith(layout.tls_dir + "/"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(plan.on_disk(path, text))
            written.append(Path(path))
    return written


# ------------------------------------------------------------------ real nginx -t


@needs_nginx
@pytest.mark.parametrize("source", SOURCES)
def test_a_tls_nginx_conf_passes_nginx_t_with_the_files_it_names(source, tmp_path):
    tls = tls_of(source)
    topo = ts.topology(tls, ts.TICKET_KEYS)
    layout = tls_layout(tmp_path)
    written = write_tls_files(topo, layout, ts.secrets(tls, ts.TICKET_KEYS))
    names = {p.name for p in written}
    assert {"server.crt", "server.key", "ticket-0.key", "ticket-1.key"} <= names
    conf = render.nginx_conf(topo, topo.master, layout)
    for p in written:
        if p.name != "trust.pem":  # the gate's, not nginx's
            assert f" {p};" in conf, p
    res = nginx_validate.staged(conf, tmp_path)
    assert res.returncode == 0, res.stderr


@needs_nginx
def test_nginx_t_refuses_a_key_that_is_not_the_certificates(tmp_path):
    """The check can fail: the key of another certificate is refused by nginx itself."""
    tls = ts.operator_tls()
    topo = ts.topology(tls)
    layout = tls_layout(tmp_path)
    other = ts.secrets(tls) | {"tls.key": ts.operator().second.key}
    write_tls_files(topo, layout, other)
    res = nginx_validate.staged(render.nginx_conf(topo, topo.master, layout), tmp_path)
    assert res.returncode != 0
    assert "key values mismatch" in res.stderr, res.stderr


@needs_nginx
def test_nginx_t_refuses_a_missing_ticket_key(tmp_path):
    tls = ts.operator_tls()
    topo = ts.topology(tls)
    layout = tls_layout(tmp_path)
    for p in write_tls_files(topo, layout, ts.secrets(tls)):
        if p.name == "ticket-1.key":
            p.unlink()
    res = nginx_validate.staged(render.nginx_conf(topo, topo.master, layout), tmp_path)
    assert res.returncode != 0 and "ticket-1.key" in res.stderr, res.stderr


# ------------------------------------------------------------------ the golden copy


def blocks(text: str, opener: str) -> list[str]:
    """The bodies of every ``opener {`` block (braces matched), in order."""
    out = []
    for m in re.finditer(rf"^\s*{re.escape(opener)}\s*\{{", text, re.M):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(text[m.end() : i - 1])
    return out


def servers(conf: str) -> tuple[str, str]:
    """(the plain server, the TLS server)."""
    plain, tls = blocks(conf, "server")
    assert re.search(r"^\s*listen 80 default_server;$", plain, re.M)
    assert "ssl_certificate" in tls
    return plain, tls


def locations(server: str) -> dict[str, str]:
    out = {}
    for m in re.finditer(r"^\s*location ([^{]+?)\s*\{", server, re.M):
        out[m.group(1)] = blocks(server[m.start() :], f"location {m.group(1)}")[0]
    return out


def master_conf(tls: dict, **overrides) -> str:
    topo = ts.topology(tls, **overrides)
    return render.nginx_conf(topo, topo.master, vm_layout(topo))


def test_the_tls_load_balancer_matches_its_golden_copy():
    assert_golden("variants/nginx-tls/nginx.conf", master_conf(ts.SELF_SIGNED))


def test_the_tls_server_speaks_the_intermediate_profile():
    conf = master_conf(ts.SELF_SIGNED)
    _, tls = servers(conf)
    assert re.findall(r"^\s*ssl_protocols (.*);$", conf, re.M) == ["TLSv1.2 TLSv1.3"]
    assert re.findall(r"^\s*ssl_ciphers (.*);$", conf, re.M) == [render_tls.CIPHERS]
    # ECDHE with AEAD ciphers only: no DHE (no dhparam), no CBC, no RSA key exchange.
    for cipher in render_tls.CIPHERS.split(":"):
        assert cipher.startswith("ECDHE-") and cipher.endswith(
            ("-GCM-SHA256", "-GCM-SHA384", "-CHACHA20-POLY1305")
        ), cipher
    assert re.search(r"^\s*listen 443 ssl http2 default_server;$", tls, re.M)
    assert re.search(r"^\s*server_name www\.example\.com \*\.example\.com;$", tls, re.M)
    assert "ssl_prefer_server_ciphers off;" in tls and "ssl_session_tickets on;" in tls
    assert re.findall(r"^\s*ssl_session_ticket_key (\S+);$", tls, re.M) == [
        "/etc/nginx/tls/ticket-0.key",
        "/etc/nginx/tls/ticket-1.key",
    ]
    assert "ssl_certificate /etc/nginx/tls/server.crt;" in tls
    assert "ssl_certificate_key /etc/nginx/tls/server.key;" in tls
    assert "proxy_pass http://tomcat;" in locations(tls)["/"]
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in locations(tls)["/"]


def test_port_80_redirects_but_for_the_health_and_vrrp_state_locations():
    plain, _ = servers(master_conf(ts.SELF_SIGNED))
    locs = locations(plain)
    assert set(locs) == {"= /nginx-ha/health", "@health", "= /nginx-ha/vrrp-state", "/"}
    assert "return 308 https://$host$request_uri;" in locs["/"]
    assert "proxy_pass" not in plain  # nothing of the site over plain HTTP
    assert "try_files /nginx-ha-health-is-not-a-file @health;" in locs["= /nginx-ha/health"]
    assert "alias /run/nginx-ha/vrrp/all;" in locs["= /nginx-ha/vrrp-state"]
    # Another HTTPS port is in the redirect.
    plain, tls = servers(master_conf({**ts.SELF_SIGNED, "port": 8443}))
    assert "return 308 https://$host:8443$request_uri;" in locations(plain)["/"]
    assert re.search(r"^\s*listen 8443 ssl http2 default_server;$", tls, re.M)


def test_without_the_redirect_port_80_proxies():
    conf = master_conf({**ts.SELF_SIGNED, "redirectHttp": False})
    plain, tls = servers(conf)
    assert "308" not in conf
    assert "proxy_pass http://tomcat;" in locations(plain)["/"]
    assert "proxy_pass http://tomcat;" in locations(tls)["/"]


HSTS = 'add_header Strict-Transport-Security "max-age=63072000" always;'


def test_hsts_only_when_asked_and_then_in_the_tls_servers_location():
    assert "Strict-Transport-Security" not in master_conf(ts.SELF_SIGNED)
    for redirect in (True, False):
        conf = master_conf({**ts.SELF_SIGNED, "hsts": True, "redirectHttp": redirect})
        plain, tls = servers(conf)
        assert conf.count("Strict-Transport-Security") == 1
        assert "Strict-Transport-Security" not in plain
        # In the location itself: nginx does not inherit the server's add_header into
        # a location that has add_header of its own (X-Served-By...).
        assert HSTS in locations(tls)["/"]
        outside = tls.replace(blocks(tls, "location /")[0], "")
        assert "add_header" not in outside


# ------------------------------------------------------------------ selfSigned


def verify(chain: str, ca_pem: str, name: str) -> list[x509.Certificate]:
    leaf, *rest = ts.certificates(chain)
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    verifier = (
        PolicyBuilder().store(Store([ca])).time(VERIFY_AT).build_server_verifier(x509.DNSName(name))
    )
    return verifier.verify(leaf, rest)


NAMES = tuple(ts.NAMES)
SEED = stacks.TEST_HOST_KEY_SEED


def test_self_signed_is_the_same_on_every_call_and_for_both_load_balancers():
    first = self_signed.__wrapped__(SEED, "nginx-ha", "dev", NAMES)  # not the cache's
    again = self_signed.__wrapped__(SEED, "nginx-ha", "dev", NAMES)
    assert first == again == self_signed(SEED, "nginx-ha", "dev", NAMES)
    topo = ts.topology(ts.SELF_SIGNED)
    layout = vm_layout(topo)
    secrets = ts.secrets(ts.SELF_SIGNED)
    per_lb = []
    for lb in topo.load_balancers:
        files = render.node_plan(topo, lb, layout).files(secrets)
        per_lb.append({p: t for p, t in files.items() if p.startswith("/etc/nginx/tls/")})
    assert per_lb[0] == per_lb[1]
    assert per_lb[0]["/etc/nginx/tls/server.crt"] == first.chain
    assert per_lb[0]["/etc/nginx/tls/server.key"] == first.key
    assert per_lb[0]["/etc/nginx/tls/trust.pem"] == first.ca


def test_the_self_signed_chain_verifies_for_every_server_name():
    ss = self_signed(SEED, "nginx-ha", "dev", NAMES)
    topo = ts.topology(ts.SELF_SIGNED)
    assert topo.tls is not None
    # The wildcard through a concrete name (the one the gate asks).
    assert topo.tls.gate_names == ("www.example.com", "nginx-ha-gate.example.com")
    for name in topo.tls.gate_names:
        path = verify(ss.chain, ss.ca, name)
        assert path[-1].subject == x509.load_pem_x509_certificate(ss.ca.encode()).subject
    with pytest.raises(VerificationError):
        verify(ss.chain, ss.ca, "www.example.org")
    # The key is the certificate's.
    key = serialization.load_pem_private_key(ss.key.encode(), None)
    assert key.public_key() == ts.certificates(ss.chain)[0].public_key()


def test_another_seed_is_another_ca():
    ss = self_signed(SEED, "nginx-ha", "dev", NAMES)
    other = self_signed(SEED + "-other", "nginx-ha", "dev", NAMES)
    assert other.ca != ss.ca and other.key != ss.key
    with pytest.raises(VerificationError):
        verify(other.chain, ss.ca, NAMES[0])
    # Another stack of the same seed: another CA too.
    assert self_signed(SEED, "nginx-ha", "staging", NAMES).ca != ss.ca


def test_other_names_are_another_certificate_from_the_same_ca():
    ss = self_signed(SEED, "nginx-ha", "dev", NAMES)
    other = self_signed(SEED, "nginx-ha", "dev", ("api.example.com",))
    assert other.ca == ss.ca
    assert other.chain != ss.chain and other.key != ss.key
    verify(other.chain, ss.ca, "api.example.com")
    with pytest.raises(VerificationError):
        verify(other.chain, ss.ca, NAMES[0])


# ------------------------------------------------------------------ the plan


@pytest.mark.parametrize("source", SOURCES)
def test_the_key_and_the_ticket_keys_are_secret_files(source):
    tls = tls_of(source)
    topo = ts.topology(tls, ts.TICKET_KEYS)
    layout = vm_layout(topo)
    secrets = ts.secrets(tls, ts.TICKET_KEYS)
    for lb in topo.load_balancers:
        plan = render.node_plan(topo, lb, layout)
        secret = {s.role: s for s in plan.secrets}
        plain = {a.role: a for a in plan.artefacts}
        roles = {"tls-key", "tls-ticket-key-0", "tls-ticket-key-1"}
        if source == "selfSigned":  # everything derived from the seed
            roles |= {"tls-certificate", "tls-trust"}
        assert roles <= set(secret)
        assert not roles & set(plain)
        assert all(isinstance(s, SecretFile) for s in secret.values())
        assert (secret["tls-key"].mode, secret["tls-key"].target) == (
            "0600",
            "/etc/nginx/tls/server.key",
        )
        # No plain artefact carries a secret, and the hashes name no secret file.
        texts = [secret[r].text_of(secrets[secret[r].key]) for r in roles]
        for a in plan.artefacts:
            for t in texts:
                assert t.strip() not in a.text, (a.role, t[:30])
        hashes = plan.hashes()
        assert not {secret[r].target for r in roles} & set(hashes)
        assert not any(p.startswith("/etc/nginx/tls/") and "key" in p for p in hashes)
        # A ticket key is kept as its 80 bytes, the newest first.
        files = plan.files(secrets)
        for slot, key in enumerate((ts.TICKET_KEY_NEW, ts.TICKET_KEY)):
            path = f"/etc/nginx/tls/ticket-{slot}.key"
            assert secret[f"tls-ticket-key-{slot}"].decode == "base64"
            assert secret[f"tls-ticket-key-{slot}"].mode == "0600"
            on_disk = plan.on_disk(path, files[path])
            assert on_disk == base64.b64decode(key) and len(on_disk) == 80


def test_one_ticket_key_fills_both_slots():
    topo = ts.topology(ts.SELF_SIGNED, ts.TICKET_KEY)
    assert topo.tls is not None
    plan = render.node_plan(topo, topo.master, vm_layout(topo))
    files = plan.files(ts.secrets(ts.SELF_SIGNED, ts.TICKET_KEY))
    slots = [plan.on_disk(p, files[p]) for p in render_tls.ticket_key_paths(topo.tls, plan.layout)]
    assert slots == [base64.b64decode(ts.TICKET_KEY)] * 2


def test_the_operators_chain_and_ca_are_plain_artefacts_checked_as_certificates():
    tls = ts.operator_tls()
    topo = ts.topology(tls)
    plan = render.node_plan(topo, topo.master, vm_layout(topo))
    plain = {a.role: a for a in plan.artefacts}
    cert, trust = plain["tls-certificate"], plain["tls-trust"]
    assert isinstance(cert, Artefact) and cert.validator == "x509"
    assert cert.text == tls["certificate"].strip() + "\n"
    assert cert.target == "/etc/nginx/tls/server.crt" and cert.mode == "0644"
    assert trust.validator == "x509" and trust.text == tls["ca"].strip() + "\n"
    assert "/etc/nginx/tls/server.crt" in plan.hashes()
    # No tls.ca, no trust file: the gate trusts the node's system store.
    chained = ts.topology(ts.chained_tls())
    plan = render.node_plan(chained, chained.master, vm_layout(chained))
    assert "tls-trust" not in {a.role for a in plan.artefacts} | {s.role for s in plan.secrets}
    assert plan.part("nginx").activation["GATE_TLS_CA"] == "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.parametrize("source", SOURCES)
def test_nginx_conf_is_checked_against_the_staged_tls_files(source):
    topo = ts.topology(tls_of(source))
    layout = vm_layout(topo)
    plan = render.node_plan(topo, topo.master, layout)
    conf = plan.part("nginx").artefact("nginx-conf")
    params = stage_step(conf, layout).params
    subst = dict(line.split("\t") for line in str(params["SUBST"]).splitlines())
    staged = {s.target: s.staged for s in plan.secrets if s.part == "nginx"}
    staged |= {a.target: a.staged(layout) for a in plan.part("nginx").artefacts if a.kind == "file"}
    expected = [
        "/etc/nginx/tls/server.crt",
        "/etc/nginx/tls/server.key",
        "/etc/nginx/tls/ticket-0.key",
        "/etc/nginx/tls/ticket-1.key",
    ]
    assert sorted(subst) == expected
    assert subst == {t: staged[t] for t in expected}
    assert subst["/etc/nginx/tls/server.key"] == "/var/lib/nginx-ha/releases/secret/server.key"
    for target in expected:
        assert f" {target};" in conf.text  # each one is a path nginx.conf names
    assert params["VALIDATOR"] == "nginx"


def test_a_plain_stack_has_no_subst_and_no_tls_file():
    topo = build_topology(parse_settings(stacks.raw_config("dev"), secret_keys=ts.SECRET_KEYS))
    plan = render.node_plan(topo, topo.master, vm_layout(topo))
    assert "SUBST" not in plan.part("nginx").artefact("nginx-conf").validate
    assert not any("/tls/" in p for p in plan.files(ts.secrets({})))


# ------------------------------------------------------------------ the offline render


def project_with_tls(tmp_path: Path, tls: dict) -> Path:
    """A project folder holding the dev stack's file with ``tls`` added."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(stacks.ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    doc = YAML().load((stacks.ROOT / "Pulumi.dev.yaml").read_text())
    doc["config"]["nginx-ha:tls"] = tls
    with (project / "Pulumi.dev.yaml").open("w") as f:
        YAML().dump(doc, f)
    return project


def operator_stack_tls() -> dict:
    """What a stack file holds: the certificate and the CA, never the key."""
    return {k: v for k, v in ts.operator_tls().items() if k != "key"}


@pytest.mark.parametrize("tls", [ts.SELF_SIGNED, None], ids=["selfSigned", "operator"])
def test_the_offline_render_writes_no_private_key_without_real_secrets(tmp_path, tls):
    tls = tls or operator_stack_tls()
    project = project_with_tls(tmp_path, tls)
    out = tmp_path / "out"
    written = render_cli.write_stack_files("dev", out, env={}, project_dir=project)
    assert (out / "nginx-master/etc/nginx/nginx.conf").is_file()
    for path in written:
        data = path.read_bytes()
        if b"PRIVATE KEY" not in data:
            continue
        # Only cloud-init's host key, derived from the placeholder seed.
        node = path.relative_to(out).parts[0]
        assert path == out / node / USER_DATA.lstrip("/"), path
        placeholder = host_key(stackfiles.PLACEHOLDER_HOST_KEY_SEED, "nginx-ha", "dev", node)
        doc = yaml.safe_load(data)
        assert doc["ssh_keys"]["ed25519_private"] == placeholder.private_openssh
        assert data.count(b"PRIVATE KEY-----") == 2  # its BEGIN and END lines


def test_with_real_secrets_the_offline_render_writes_the_key_root_only(tmp_path):
    tls = ts.operator_tls()
    project = project_with_tls(tmp_path, operator_stack_tls())
    env = {
        stackfiles.ENV_TLS_KEY: tls["key"],
        stackfiles.ENV_TLS_TICKET_KEYS: ts.TICKET_KEYS,
        stackfiles.ENV_SSH_HOST_KEY_SEED: stacks.TEST_HOST_KEY_SEED,
        stackfiles.ENV_VRRP_AUTH_PASS: stacks.TEST_HMAC_KEY,
    }
    out = tmp_path / "out"
    render_cli.write_stack_files("dev", out, env=env, project_dir=project, real_secrets=True)
    for lb in ("nginx-master", "nginx-backup"):
        tls_dir = out / lb / "etc/nginx/tls"
        key = tls_dir / "server.key"
        assert key.read_text() == tls["key"].strip() + "\n"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        ticket = tls_dir / "ticket-0.key"
        assert ticket.read_bytes() == base64.b64decode(ts.TICKET_KEY_NEW)
        assert stat.S_IMODE(ticket.stat().st_mode) == 0o600
    assert not os.path.exists(out / "tomcat-primary/etc/nginx")


def test_without_real_secrets_the_tls_files_are_placeholders(tmp_path):
    """README: 'a stack with tls gets a placeholder tls.key and an 80-byte placeholder
    ticket key', so the rendered folder holds every file nginx.conf names."""
    project = project_with_tls(tmp_path, operator_stack_tls())
    out = tmp_path / "out"
    render_cli.write_stack_files("dev", out, env={}, project_dir=project)
    tls_dir = out / "nginx-master/etc/nginx/tls"
    assert (tls_dir / "server.crt").is_file()
    assert (tls_dir / "server.key").read_text().startswith(stackfiles.PLACEHOLDER_TLS_KEY)
    ticket = (tls_dir / "ticket-0.key").read_bytes()
    assert ticket == base64.b64decode(stackfiles.PLACEHOLDER_TICKET_KEYS)
