"""HTTPS settings (nginx-ha:tls, nginx-ha:tlsTicketKeys): every bad certificate, key,
name, ticket key or port refused before any resource, naming its key and what to do,
all of them at once; the clock's checks with a pinned time; the warnings; the secrets'
plumbing. Certificates are made here with ``cryptography``: a root CA, an
intermediate, and leaves of each kind."""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
from cryptography import x509
from pydantic import SecretStr

from nginx_ha.config import (
    SettingsError,
    models,
    parse_settings,
    settings_warnings,
    stackfiles,
    validate,
)
from nginx_ha.config import pem as pem_mod
from nginx_ha.config.preflight import preflight
from nginx_ha.config.rules.tls import chain_problem, ticket_keys
from support import certs as pki_material
from support import stacks
from support.certs import key_pem, pem, private

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
TLS_SECRETS = {"nginx-ha:tls", "nginx-ha:tlsTicketKeys"}
SECRET_KEYS = stacks.SECRET_KEYS | TLS_SECRETS
TICKET_KEY = base64.b64encode(bytes(range(80))).decode()
TICKET_KEY_2 = base64.b64encode(bytes(range(100, 180))).decode()


# ------------------------------------------------------------------ key material


def make_cert(
    cn: str,
    key: Any,
    issuer: tuple[x509.Certificate, Any] | None = None,
    *,
    start: datetime = NOW - timedelta(days=30),
    end: datetime = NOW + timedelta(days=60),
    **kw: Any,
) -> x509.Certificate:
    """A certificate valid from 30 days before NOW to 60 days after, unless told."""
    return pki_material.make_cert(cn, key, issuer, start=start, end=end, **kw)


@functools.cache
def pki() -> dict[str, Any]:
    """A root CA, an intermediate it issued, and a leaf the intermediate issued."""
    years = NOW + timedelta(days=3650)  # the CAs outlive their leaves
    root = make_cert("Test Root CA", private("p256", 1), ca=True, end=years)
    inter = make_cert(
        "Test Intermediate CA", private("p256", 2), (root, private("p256", 1)), ca=True, end=years
    )
    leaf = make_cert(
        "www.example.com",
        private("rsa2048"),
        (inter, private("p256", 2)),
        sans=("www.example.com", "example.com"),
    )
    other_root = make_cert("Other Root CA", private("p256", 3), ca=True)
    return {"root": root, "inter": inter, "leaf": leaf, "other_root": other_root}


def leaf(kind: str = "rsa2048", **kw: Any) -> x509.Certificate:
    """A leaf of the test intermediate (www.example.com unless told otherwise)."""
    kw.setdefault("sans", ("www.example.com", "example.com"))
    return make_cert(
        kw.pop("cn", "www.example.com"), private(kind), (pki()["inter"], private("p256", 2)), **kw
    )


def fullchain(server: x509.Certificate | None = None) -> str:
    return pem(server or pki()["leaf"], pki()["inter"])


def tls(**changes: Any) -> dict[str, Any]:
    """nginx-ha:tls with the good chain and its key; ``None`` removes a key."""
    out: dict[str, Any] = {
        "certificate": fullchain(),
        "key": key_pem(private("rsa2048")),
        "serverNames": ["www.example.com"],
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def raw(tls_value: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("tlsTicketKeys", TICKET_KEY)
    return stacks.raw_config("dev", tls=tls() if tls_value is None else tls_value, **overrides)


# Every secret a message could leak: the keys' PEM lines and the ticket keys.
SECRET_TEXTS = [TICKET_KEY, TICKET_KEY_2]


def assert_no_secret(text: str) -> None:
    for kind in ("rsa2048", "rsa1024", "p256"):
        for line in key_pem(private(kind)).splitlines()[1:-1]:
            assert line not in text, "a message shows key material"
    for secret in SECRET_TEXTS:
        assert secret not in text and secret[:24] not in text, "a message shows a ticket key"


def problems_of(raw_config: dict[str, Any], secret_keys: set[str] = SECRET_KEYS) -> dict[str, str]:
    with pytest.raises(SettingsError) as err:
        parse_settings(raw_config, secret_keys=secret_keys)
    assert_no_secret(str(err.value))
    out: dict[str, str] = {}
    for p in err.value.problems:
        out[p.key] = out.get(p.key, "") + p.message
    return out


def parse(tls_value: dict[str, Any] | None = None, **overrides: Any) -> models.Settings:
    return parse_settings(raw(tls_value, **overrides), secret_keys=SECRET_KEYS)


def warnings_of(s: models.Settings, now: datetime = NOW) -> list[str]:
    """The settings' warnings but the dev stack's own (its load balancers share a host)."""
    plain = parse_settings(stacks.raw_config("dev"), stack=s.stack, secret_keys=SECRET_KEYS)
    return [w for w in settings_warnings(s, now=now) if w not in settings_warnings(plain)]


# ----------------------------------------------------------------- good ones pass


def test_a_good_chain_and_its_key_pass_the_rules_the_preflight_and_the_warnings():
    s = parse()
    assert s.tls is not None and s.tls.server_names == ["www.example.com"]
    assert preflight(s, now=NOW) == []
    assert warnings_of(s) == []
    chain = pem_mod.server_chain(s.tls)
    assert [pem_mod.subject(c) for c in chain] == ["CN=www.example.com", "CN=Test Intermediate CA"]
    assert pem_mod.to_pem(chain) == fullchain()
    assert pem_mod.trust_anchors(s.tls) == []
    assert ticket_keys(TICKET_KEY + "\n" + TICKET_KEY_2) == [
        bytes(range(80)),
        bytes(range(100, 180)),
    ]


def test_an_ec_leaf_a_wildcard_and_an_internal_ca_pass():
    server = leaf("p256", cn="*.example.com", sans=("*.example.com",))
    # Issued directly by a root given as the trust anchor.
    direct = make_cert(
        "app.internal.example",
        private("p384"),
        (pki()["root"], private("p256", 1)),
        sans=("app.internal.example",),
    )
    s = parse(
        tls(
            certificate=fullchain(server),
            key=key_pem(private("p256")),
            serverNames=["www.example.com", "*.example.com", "api.example.com"],
        )
    )
    assert preflight(s, now=NOW) == []
    s = parse(
        tls(
            certificate=pem(direct),
            key=key_pem(private("p384")),
            serverNames=["app.internal.example"],
            ca=pem(pki()["root"]),
        )
    )
    assert preflight(s, now=NOW) == [] and s.tls is not None
    assert [pem_mod.subject(c) for c in pem_mod.trust_anchors(s.tls)] == ["CN=Test Root CA"]
    # A chain with its root at the end, PEM with blank lines and CRLF around the blocks.
    s = parse(
        tls(
            certificate="\r\n\n"
            + pem(pki()["leaf"], pki()["inter"], pki()["root"]).replace("\n", "\r\n")
            + "\n\n"
        )
    )
    assert preflight(s, now=NOW) == []


def test_self_signed_needs_only_server_names():
    s = parse({"selfSigned": True, "serverNames": ["www.example.com"]})
    assert s.tls is not None and s.tls.self_signed and s.tls.certificate is None
    assert preflight(s, now=NOW) == [] and warnings_of(s) == []


# ------------------------------------------------------------- refused when parsed

JUNK = "Bag Attributes\n    friendlyName: www\n"


def _rows() -> list[tuple[str, dict[str, Any], dict[str, Any], str, str]]:
    p = pki()
    lf, inter, root = p["leaf"], p["inter"], p["root"]
    wild = leaf(cn="*.example.com", sans=("*.example.com",))
    return [
        # (what, tls, other overrides, key named, what to do)
        ("selfSigned with a certificate", tls(selfSigned=True), {}, "nginx-ha:tls.selfSigned", "remove tls.certificate and tls.key"),
        ("selfSigned with a key", {"selfSigned": True, "key": key_pem(private("rsa2048")), "serverNames": ["www.example.com"]}, {},
         "nginx-ha:tls.key", "pulumi config rm --path tls.key"),
        ("no certificate nor selfSigned", tls(certificate=None, key=None), {}, "nginx-ha:tls.certificate", "tls.selfSigned true"),
        ("a certificate without its key", tls(key=None), {}, "nginx-ha:tls.key", "pulumi config set --secret --path tls.key < key.pem"),
        ("names given twice", tls(serverNames=["www.example.com", "WWW.example.com"]), {}, "nginx-ha:tls.serverNames[1]", "list each name once"),
        ("junk before", tls(certificate=JUNK + fullchain()), {}, "nginx-ha:tls.certificate", "line 1 holds text outside a PEM block ('Bag Attributes')"),
        ("junk between", tls(certificate=pem(lf) + "intermediate:\n" + pem(inter)), {}, "nginx-ha:tls.certificate", "holds text outside a PEM block ('intermediate:')"),
        ("junk after", tls(certificate=fullchain() + "-- \nops\n"), {}, "nginx-ha:tls.certificate", "remove it"),
        ("a private key pasted into certificate", tls(certificate=fullchain() + key_pem(private("rsa2048"))), {},
         "nginx-ha:tls.certificate", "line 25 begins a -----BEGIN PRIVATE KEY----- block: a private key does not belong"),
        ("no certificate in certificate", tls(certificate="\n  \n"), {}, "nginx-ha:tls.certificate", "holds no certificate"),
        ("a broken certificate", tls(certificate=pem(lf).replace("M", "A", 40) + pem(inter)), {}, "nginx-ha:tls.certificate", "not a readable X.509"),
        ("an END that closes another block", tls(certificate=pem(lf).replace("END CERTIFICATE", "END X509 CRL")), {},
         "nginx-ha:tls.certificate", "closes the CERTIFICATE block"),
        ("a control character", tls(certificate=fullchain() + "\x0c"), {}, "nginx-ha:tls.certificate", "control character"),
        ("chain out of order", tls(certificate=pem(lf, root, inter)), {}, "nginx-ha:tls.certificate", "out of order: certificate 1"),
        ("intermediate first", tls(certificate=pem(inter, lf)), {}, "nginx-ha:tls.certificate", "the order is wrong"),
        ("missing intermediate", tls(certificate=pem(lf)), {}, "nginx-ha:tls.certificate",
         "missing its intermediate (the CA 'CN=Test Intermediate CA' that issued 'CN=www.example.com'): append it after the server certificate; use the fullchain.pem your ACME client writes, not cert.pem"),
        ("missing intermediate before the root", tls(certificate=pem(lf, root)), {}, "nginx-ha:tls.certificate", "insert it right after that certificate"),
        ("a chain that no CA of tls.ca issued", tls(ca=pem(p["other_root"])), {}, "nginx-ha:tls.certificate", "its last certificate ('CN=Test Intermediate CA') was issued by 'CN=Test Root CA', which is neither in the chain nor in tls.ca: add that CA to tls.ca"),
        ("a name the certificate does not cover", tls(serverNames=["www.example.com", "api.example.org"]), {}, "nginx-ha:tls.serverNames[1]",
         "'api.example.org' is not covered by tls.certificate, which covers www.example.com, example.com"),
        ("a wildcard does not cover the bare domain", tls(certificate=fullchain(wild), serverNames=["example.com"]), {}, "nginx-ha:tls.serverNames[0]", "covers *.example.com"),
        ("a wildcard covers one label only", tls(certificate=fullchain(wild), serverNames=["a.b.example.com"]), {}, "nginx-ha:tls.serverNames[0]", "one label"),
        ("a wildcard name needs the wildcard", tls(serverNames=["*.example.com"]), {}, "nginx-ha:tls.serverNames[0]", "not covered"),
        ("a name in the CN only", tls(certificate=fullchain(leaf(cn="www.example.com", sans=("example.com",)))), {}, "nginx-ha:tls.serverNames[0]",
         "its CN names it, but clients read only the subjectAltName"),
        ("no subjectAltName", tls(certificate=fullchain(leaf(sans=()))), {}, "nginx-ha:tls.certificate", "no subjectAltName DNS names"),
        ("RSA 1024", tls(certificate=fullchain(leaf("rsa1024")), key=key_pem(private("rsa1024"))), {}, "nginx-ha:tls.certificate",
         "RSA 1024-bit: clients refuse RSA under 2048 bits; generate a new key and certificate request with `openssl req -newkey rsa:2048"),
        ("Ed25519", tls(certificate=fullchain(leaf("ed25519"))), {}, "nginx-ha:tls.certificate", "ec_paramgen_curve:P-256"),
        ("EC P-521", tls(certificate=fullchain(leaf("p521"))), {}, "nginx-ha:tls.certificate", "P-256 or P-384 only"),
        ("a CA that is not one", tls(ca=pem(lf)), {}, "nginx-ha:tls.ca", "is not a CA"),
        ("junk in the CA", tls(ca="root:\n" + pem(root)), {}, "nginx-ha:tls.ca", "outside a PEM block"),
        ("ticket keys of 48 bytes", tls(), {"tlsTicketKeys": base64.b64encode(b"k" * 48).decode()}, "nginx-ha:tlsTicketKeys",
         "48 bytes once decoded; nginx's ssl_session_ticket_key takes 80-byte keys here (AES-256); `openssl rand 80 | base64 -w0"),
        ("ticket keys not base64", tls(), {"tlsTicketKeys": TICKET_KEY + " not-base64!"}, "nginx-ha:tlsTicketKeys", "key 2 of 2 is not base64"),
        ("ticket keys duplicated", tls(), {"tlsTicketKeys": f"{TICKET_KEY} {TICKET_KEY}"}, "nginx-ha:tlsTicketKeys", "key 2 of 2 repeats key 1"),
        ("too many ticket keys", tls(), {"tlsTicketKeys": " ".join(base64.b64encode(bytes([i]) * 80).decode() for i in range(3))},
         "nginx-ha:tlsTicketKeys", "keep at most 2: the newest first, then the one before it"),
        ("ticket keys missing", tls(), {"tlsTicketKeys": None}, "nginx-ha:tlsTicketKeys", "required with nginx-ha:tls"),
        ("tls on the SSH port", tls(port=22), {}, "nginx-ha:tls.port", "SSH port"),
        ("tls on nginx's port", tls(port=80), {}, "nginx-ha:tls.port", "give HTTPS its own (443"),
        ("tls on Tomcat's port", tls(port=8080), {}, "nginx-ha:tls.port", "Tomcat's port on nginx-ha:backends[0]"),
        ("tls with lvs", tls(), {"lvs": {"enabled": True}}, "nginx-ha:tls", "HTTPS behind the LVS director is not supported yet: turn one of them off"),
    ]  # fmt: skip


ROWS = _rows()


@pytest.mark.parametrize(
    ("tls_value", "overrides", "key", "advice"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_bad_tls_input_is_refused_naming_the_key_and_the_fix(tls_value, overrides, key, advice):
    problems = problems_of(raw(tls_value, **overrides))
    assert set(problems) == {key}, problems
    assert advice in problems[key], problems[key]


def test_the_rows_are_distinct_mistakes():
    assert len({r[0] for r in ROWS}) == len(ROWS) >= 35


def test_every_tls_problem_comes_back_together():
    text = fullchain() + "trailer\n"
    problems = problems_of(
        raw(tls(certificate=text, serverNames=["a.example.com", "a.example.com"], port=22), lvs={"enabled": True}, tlsTicketKeys="short")
    )  # fmt: skip
    assert {
        "nginx-ha:tls.certificate",
        "nginx-ha:tls.serverNames[1]",
        "nginx-ha:tls.port",
        "nginx-ha:tls",
        "nginx-ha:tlsTicketKeys",
    } <= set(problems)


def test_secrets_stored_in_plain_text_are_refused_with_the_stdin_hint():
    # Neither stored as a secret: the engine reports only the three older ones secret.
    plain = stacks.SECRET_KEYS - {"nginx-ha:tlsTicketKeys"}
    problems = problems_of(raw(), secret_keys=plain)
    assert set(problems) == {"nginx-ha:tls.key", "nginx-ha:tlsTicketKeys"}
    assert "pulumi config set --secret --path tls.key < key.pem" in problems["nginx-ha:tls.key"]
    assert "nginx-ha:tls is not a secret" in problems["nginx-ha:tls.key"]
    assert (
        "openssl rand 80 | base64 -w0 | pulumi config set --secret tlsTicketKeys"
        in problems["nginx-ha:tlsTicketKeys"]
    )
    # A self-signed stack has no key: only the ticket keys must be secret.
    s = parse_settings(
        raw({"selfSigned": True, "serverNames": ["www.example.com"]}),
        secret_keys=stacks.SECRET_KEYS | {"nginx-ha:tlsTicketKeys"},
    )
    assert s.tls is not None


def test_without_tls_the_ticket_keys_are_not_required():
    s = parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)
    assert s.tls is None and s.tls_ticket_keys is None
    assert preflight(s, now=NOW) == []


# ------------------------------------------------------------------ the preflight


def preflight_of(tls_value: dict[str, Any], now: datetime = NOW) -> dict[str, str]:
    found = preflight(parse(tls_value), now=now)
    text = "\n".join(str(p) for p in found)
    assert_no_secret(text)
    lines = tls_value.get("key", "").splitlines()
    body = [ln for ln in lines if len(ln) > 20 and ":" not in ln and not ln.startswith("-----")]
    assert not any(line in text for line in body), "a message shows the key given"
    out: dict[str, str] = {}
    for p in found:
        out[p.key] = out.get(p.key, "") + p.message
    return out


def _late() -> list[tuple[str, dict[str, Any], str, str]]:
    p = pki()
    good_key = key_pem(private("rsa2048"))
    return [
        ("a key of another certificate", tls(key=key_pem(private("rsa2048", 1))), "nginx-ha:tls.key",
         "does not match tls.certificate: this key's public half is RSA 2048-bit sha256:"),
        ("an EC key for an RSA certificate", tls(key=key_pem(private("p256"))), "nginx-ha:tls.key", "the certificate's key is RSA 2048-bit sha256:"),
        ("an encrypted key", tls(key=key_pem(private("rsa2048"), password=b"pass phrase")), "nginx-ha:tls.key",
         "`openssl pkey -in encrypted.pem -out key.pem`"),
        ("an encrypted key, OpenSSL's old form", tls(key=key_pem(private("rsa2048"), password=b"pass phrase", traditional=True)),
         "nginx-ha:tls.key", "is encrypted with a passphrase"),
        ("an RSA 1024 key", tls(key=key_pem(private("rsa1024"))), "nginx-ha:tls.key", "RSA 1024-bit: clients refuse RSA under 2048 bits"),
        ("junk around the key", tls(key="key for www:\n" + good_key), "nginx-ha:tls.key", "line 1 holds text outside a PEM block (12 characters)"),
        ("the certificate as the key", tls(key=good_key + pem(p["leaf"])), "nginx-ha:tls.key", "takes the private key alone"),
        ("parameters before the key (openssl ecparam -genkey)",
         tls(key="-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + good_key),
         "nginx-ha:tls.key", "line 1 begins a -----BEGIN EC PARAMETERS----- block: tls.key takes the private key alone (`openssl pkey"),
        ("two keys", tls(key=good_key + key_pem(private("p256"))), "nginx-ha:tls.key", "holds 2 private keys"),
        ("no key at all", tls(key="\n"), "nginx-ha:tls.key", "holds no private key"),
        ("a broken key", tls(key=good_key.replace("M", "A", 30)), "nginx-ha:tls.key", "is not a readable private key"),
        ("an expired certificate", tls(certificate=fullchain(leaf(start=NOW - timedelta(days=400), end=NOW - timedelta(days=10))), key=good_key),
         "nginx-ha:tls.certificate", "certificate 1 ('CN=www.example.com') has expired (valid from 2026-04-27 12:00 UTC to 2027-05-22 12:00 UTC; now is 2027-06-01 12:00 UTC): renew it"),
        ("a certificate not valid yet", tls(certificate=fullchain(leaf(start=NOW + timedelta(days=2)))), "nginx-ha:tls.certificate",
         "certificate 1 ('CN=www.example.com') is not valid yet (valid from 2027-06-03 12:00 UTC"),
    ]  # fmt: skip


LATE = _late()


@pytest.mark.parametrize(
    ("tls_value", "key", "advice"), [r[1:] for r in LATE], ids=[r[0] for r in LATE]
)
def test_a_late_tls_failure_is_caught_by_the_preflight(tls_value, key, advice):
    problems = preflight_of(tls_value)
    assert set(problems) == {key}, problems
    assert advice in problems[key], problems[key]


def test_an_expired_intermediate_is_named_and_problems_come_together():
    p = pki()
    old_inter = make_cert(
        "Old Intermediate CA",
        private("p256", 2),
        (p["root"], private("p256", 1)),
        ca=True,
        end=NOW - timedelta(days=1),
    )
    server = make_cert(
        "www.example.com",
        private("rsa2048"),
        (old_inter, private("p256", 2)),
        sans=("www.example.com",),
    )
    problems = preflight(
        parse(tls(certificate=pem(server, old_inter), key=key_pem(private("rsa2048", 1)))), now=NOW
    )
    assert {p.key for p in problems} == {"nginx-ha:tls.certificate", "nginx-ha:tls.key"}
    assert "certificate 2 ('CN=Old Intermediate CA') has expired" in str(problems)
    assert "does not match tls.certificate" in str(problems)


def test_the_same_certificate_passes_before_its_end_and_fails_after():
    s = parse()
    end = pki()["leaf"].not_valid_after_utc
    assert preflight(s, now=end - timedelta(seconds=1)) == []
    assert [p.key for p in preflight(s, now=end + timedelta(seconds=1))] == [
        "nginx-ha:tls.certificate"
    ]


# ------------------------------------------------------------------- the warnings


def test_a_certificate_expiring_within_21_days_is_a_warning():
    s = parse(tls(certificate=fullchain(leaf(end=NOW + timedelta(days=10, hours=3)))))
    assert preflight(s, now=NOW) == []
    [warning] = warnings_of(s)
    assert (
        "certificate 1 ('CN=www.example.com') expires in 10 days (2027-06-11 15:00 UTC)" in warning
    )
    assert "renew it" in warning
    assert s.tls is not None
    end = pem_mod.server_chain(s.tls)[0].not_valid_after_utc
    [warning] = warnings_of(s, end - timedelta(days=21))
    assert "expires in 21 days" in warning
    assert warnings_of(s, end - timedelta(days=21, seconds=1)) == []
    [warning] = warnings_of(s, NOW + timedelta(days=10))
    assert "expires within a day" in warning


def test_self_signed_outside_a_lab_stack_is_a_warning():
    value = json.dumps({"selfSigned": True, "serverNames": ["www.example.com"]})
    raw_config = dict(
        stacks.raw_config("dev"), **{"nginx-ha:tls": value, "nginx-ha:tlsTicketKeys": TICKET_KEY}
    )
    prod = parse_settings(raw_config, stack="prod", secret_keys=SECRET_KEYS)
    [warning] = warnings_of(prod)
    assert (
        "tls.selfSigned on stack prod, which is not a lab stack: clients will not trust" in warning
    )
    assert warnings_of(parse_settings(raw_config, stack="dev", secret_keys=SECRET_KEYS)) == []


# ------------------------------------------------------------ settings from code


def code_settings(**tls_changes: Any) -> models.Settings:
    values: dict[str, Any] = {
        "certificate": fullchain(),
        "key": SecretStr(key_pem(private("rsa2048"))),
        "server_names": ["www.example.com"],
    }
    values.update(tls_changes)
    return models.Settings(
        stack="code",
        network=models.Network(cidr=IPv4Network("10.77.0.0/24")),
        vip=IPv4Address("10.77.0.10"),
        ssh=models.Ssh(public_key=stacks.TEST_PUBLIC_KEY),
        load_balancers=[
            models.LoadBalancer(name="edge-a", ip=IPv4Address("10.77.0.11"), priority=150),
            models.LoadBalancer(name="edge-b", ip=IPv4Address("10.77.0.12"), priority=100),
        ],
        backends=[models.Backend(name="app-1", ip=IPv4Address("10.77.0.21"), role="primary")],
        vrrp_auth_pass=SecretStr(stacks.TEST_HMAC_KEY),
        tls=models.Tls(**values),
    )


def test_code_built_settings_may_give_the_tls_key_and_ticket_keys_as_inputs():
    s = code_settings(key=None)
    with pytest.raises(SettingsError) as err:
        validate(s)
    assert {p.key for p in err.value.problems} == {"nginx-ha:tls.key", "nginx-ha:tlsTicketKeys"}
    assert validate(s, tls_key_input=True, tls_ticket_keys_input=True) is s
    assert preflight(s, now=NOW) == []  # the dates still checked, no key to read
    with pytest.raises(SettingsError) as err:  # an input does not excuse a bad certificate
        validate(
            code_settings(key=None, certificate=pem(pki()["leaf"])),
            tls_key_input=True,
            tls_ticket_keys_input=True,
        )
    assert {p.key for p in err.value.problems} == {"nginx-ha:tls.certificate"}
    with pytest.raises(SettingsError) as err:  # nor a bad ticket key in the settings
        validate(
            s.model_copy(update={"tls_ticket_keys": SecretStr("AAAA")}),
            tls_key_input=True,
            tls_ticket_keys_input=True,
        )
    assert {p.key for p in err.value.problems} == {"nginx-ha:tlsTicketKeys"}


# ------------------------------------------------------------------- stack files


def test_stack_files_leave_out_encrypted_leaves_and_get_placeholders(tmp_path):
    cert_lines = "\n".join("      " + line for line in fullchain().splitlines())
    (tmp_path / "Pulumi.web.yaml").write_text(
        "config:\n"
        "  nginx-ha:vrrpAuthPass:\n    secure: v1:abc\n"
        "  nginx-ha:tlsTicketKeys:\n    secure: v1:def\n"
        "  nginx-ha:dns:\n    - 192.168.159.1\n    - secure: v1:ghi\n"
        "  nginx-ha:tls:\n"
        "    key:\n      secure: v1:jkl\n"
        "    serverNames: [www.example.com]\n"
        f"    certificate: |\n{cert_lines}\n"
    )
    cfg = stackfiles.read_config("web", tmp_path)
    assert set(cfg) == {"nginx-ha:tls", "nginx-ha:dns"}
    assert cfg["nginx-ha:dns"] == ["192.168.159.1"]
    assert cfg["nginx-ha:tls"] == {"serverNames": ["www.example.com"], "certificate": fullchain()}

    dev = stackfiles.read_config("dev", stacks.ROOT)
    (tmp_path / "Pulumi.web.yaml").write_text(
        json.dumps({"config": {**dev, "nginx-ha:tls": {"key": {"secure": "v1:x"}, "serverNames": ["www.example.com"], "certificate": fullchain()}}})
    )  # fmt: skip
    rendered = stackfiles.raw_config_from_file("web", tmp_path, env={})
    offline = json.loads(rendered["nginx-ha:tls"])
    assert offline["key"] == stackfiles.PLACEHOLDER_TLS_KEY
    assert rendered["nginx-ha:tlsTicketKeys"] == stackfiles.PLACEHOLDER_TICKET_KEYS
    assert ticket_keys(stackfiles.PLACEHOLDER_TICKET_KEYS)[0].startswith(
        b"placeholder-tls-ticket-key"
    )
    s = parse_settings(rendered, stack="web")  # the offline render's parse passes
    assert s.tls is not None and s.tls.key is not None
    assert "nginx-ha:tls.key" in {p.key for p in preflight(s, now=NOW)}  # a placeholder is no key

    env = {
        stackfiles.ENV_TLS_KEY: key_pem(private("rsa2048")),
        stackfiles.ENV_TLS_TICKET_KEYS: TICKET_KEY,
    }
    real = stackfiles.raw_config_from_file("web", tmp_path, env=env, real_secrets=True)
    assert json.loads(real["nginx-ha:tls"])["key"] == env[stackfiles.ENV_TLS_KEY]
    assert real["nginx-ha:tlsTicketKeys"] == TICKET_KEY
    found = preflight(parse_settings(real, stack="web"), now=NOW)
    assert [p for p in found if p.key.startswith("nginx-ha:tls")] == []
    # Without tls, no TLS placeholder.
    assert "nginx-ha:tlsTicketKeys" not in stackfiles.raw_config_from_file(
        "dev", stacks.ROOT, env={}
    )


def test_the_chain_rule_alone_on_edge_cases():
    p = pki()
    # A lone self-signed server certificate is judged by the gate, not here.
    alone = make_cert("self.example.com", private("p256"), sans=("self.example.com",))
    assert chain_problem([alone], []) is None
    # A CA of the same name that did not sign the certificate.
    impostor = make_cert(
        "Test Intermediate CA", private("p256", 4), (p["root"], private("p256", 1)), ca=True
    )
    problem = chain_problem([p["leaf"], impostor], [])
    assert problem is not None and "did not sign it" in problem
    # basicConstraints absent on the server certificate: not a CA, accepted.
    bare = make_cert(
        "www.example.com",
        private("rsa2048"),
        (p["inter"], private("p256", 2)),
        sans=("www.example.com",),
        constraints=False,
    )
    assert chain_problem([bare, p["inter"]], []) is None
    assert pem_mod.covers("*.example.com", "WWW.Example.com.")
    assert not pem_mod.covers("*.example.com", "example.com")
    assert not pem_mod.covers("*.example.com", "a.b.example.com")
    assert pem_mod.covers("*.example.com", "*.example.com")
    assert not pem_mod.covers("www.example.com", "*.example.com")


def test_the_leak_check_finds_a_key_or_a_ticket_key_in_a_message():
    with pytest.raises(AssertionError, match="key material"):
        assert_no_secret("tls.key: " + key_pem(private("rsa2048")).splitlines()[3])
    with pytest.raises(AssertionError, match="ticket key"):
        assert_no_secret(f"tlsTicketKeys: {TICKET_KEY[:30]}")
