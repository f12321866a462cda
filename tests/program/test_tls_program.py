"""HTTPS at the VIP (nginx-ha:tls) in the real program under mocks: the TLS key and the
ticket keys never in a plain input, their stage steps (stdin, no logging, secret
output), what nginx.conf's stage waits for, what a renewal or a ticket-key rotation
runs again, the exports (url, tlsCa), the smoke test over HTTPS, and what a load
balancer's activation, firewall and VIP hold are told."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
from pulumi.runtime import rpc

from nginx_ha.topology.selfsigned import self_signed
from support import stacks
from support.mocks import Run, run_program
from tests import tls_stacks as ts
from tests.program.commands import header_params, params_of, uploaded
from tests.program.test_keepalived_node import plain_strings

LBS = ("nginx-master", "nginx-backup")
BACKENDS = ("tomcat-primary", "tomcat-backup")
TICKET_STEPS = ("tls-ticket-key-0", "tls-ticket-key-1")
SELF_SIGNED_KEY = self_signed(stacks.TEST_HOST_KEY_SEED, "nginx-ha", "dev", tuple(ts.NAMES))


def run(tls: dict[str, Any], ticket_keys: str = ts.TICKET_KEY, **overrides: Any) -> Run:
    return run_program(ts.raw(tls, ticket_keys, **overrides), secret_keys=ts.SECRET_KEYS)


@pytest.fixture(scope="module")
def self_signed_run() -> Run:
    return run(ts.SELF_SIGNED, ts.TICKET_KEYS)


@pytest.fixture(scope="module")
def operator_run() -> Run:
    return run(ts.operator_tls(), ts.TICKET_KEYS)


@pytest.fixture
def runs(request, self_signed_run, operator_run) -> tuple[str, Run]:
    """(the TLS key, the run) of ``request.param``: selfSigned or operator."""
    if request.param == "selfSigned":
        return SELF_SIGNED_KEY.key, self_signed_run
    return ts.operator().first.key, operator_run


BOTH = pytest.mark.parametrize("runs", ["selfSigned", "operator"], indirect=True)


def unwrapped(value: Any) -> Any:
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


# ------------------------------------------------------------------ secrets


def pem_body(pem: str) -> list[str]:
    """The key's base64 lines: a leak that dropped the PEM's BEGIN/END lines shows too."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@BOTH
def test_no_tls_key_and_no_ticket_key_is_in_a_plain_input(runs):
    key, result = runs
    secrets = [key, *pem_body(key), ts.TICKET_KEY, ts.TICKET_KEY_NEW]
    leaks = [
        (r.name, name, s[:12])
        for r in result.resources
        for name, value in r.inputs.items()
        for s in secrets
        if any(s in text for text in plain_strings(value))
    ]
    assert leaks == []
    # ... and none in an export (configHashes, nodes, url...).
    assert not any(s in str(result.exports) for s in secrets)


@BOTH
def test_the_secret_stage_steps_carry_the_secret_on_stdin_only(runs):
    key, result = runs
    for lb in LBS:
        for step, secret, decode in (
            ("tls-key", key, None),
            ("tls-ticket-key-0", ts.TICKET_KEY_NEW, "base64"),  # the newest first
            ("tls-ticket-key-1", ts.TICKET_KEY, "base64"),
        ):
            r = result.named(f"{lb}-{step}")
            assert rpc.is_rpc_secret(r.inputs["stdin"]), step
            assert rpc.unwrap_rpc_secret(r.inputs["stdin"]).strip() == secret.strip()
            assert r.inputs["logging"] == "none", step
            assert {"stdout", "stderr"} <= set(r.additional_secret_outputs), step
            assert secret.strip() not in r.inputs["create"]
            params = params_of(r.inputs["create"])
            assert params.get("DECODE") == decode, step
            assert params["STAGED"].startswith("/var/lib/nginx-ha/releases/secret/")
            # Its trigger is the digest of the secret: a secret itself.
            assert rpc.is_rpc_secret(r.inputs["triggers"]) or all(
                rpc.is_rpc_secret(t) for t in r.inputs["triggers"]
            )
    for be in BACKENDS:
        assert not [r for r in result.resources if r.name.startswith(f"{be}-tls")]


def test_self_signed_stages_the_chain_and_the_ca_as_secrets_too(self_signed_run):
    for lb in LBS:
        for step, text in (
            ("tls-certificate", SELF_SIGNED_KEY.chain),
            ("tls-trust", SELF_SIGNED_KEY.ca),
        ):
            r = self_signed_run.named(f"{lb}-{step}")
            assert rpc.unwrap_rpc_secret(r.inputs["stdin"]) == text
            assert r.inputs["logging"] == "none"


def test_the_operators_chain_is_a_staged_file_checked_as_certificates(operator_run):
    for lb in LBS:
        text = uploaded(operator_run, f"{lb}-tls-certificate-upload")
        assert text == ts.operator().first.certificate.strip() + "\n"
        stage = params_of(operator_run.named(f"{lb}-tls-certificate-stage").inputs["create"])
        assert stage["VALIDATOR"] == "x509"
        trust = params_of(operator_run.named(f"{lb}-tls-trust-stage").inputs["create"])
        assert trust["VALIDATOR"] == "x509"


@BOTH
def test_nginx_conf_is_staged_after_the_tls_files_it_is_checked_with(runs):
    _, result = runs
    for lb in LBS:
        deps = result.dependencies(f"{lb}-nginx-conf-stage")
        assert {f"{lb}-tls-key", *(f"{lb}-{s}" for s in TICKET_STEPS)} <= deps
        cert = f"{lb}-tls-certificate"
        assert cert in deps or f"{cert}-stage" in deps
        # Its stage step names the staged copies nginx -t reads.
        subst = params_of(result.named(f"{lb}-nginx-conf-stage").inputs["create"])["SUBST"]
        assert "/etc/nginx/tls/server.key\t/var/lib/nginx-ha/releases/secret/server.key" in subst
        # The activation swaps them in after all of it.
        assert {f"{lb}-nginx-conf-stage", f"{lb}-tls-key"} <= result.waits_for(f"{lb}-activate")


# ------------------------------------------------------------------ what re-runs


def activation_triggers(result: Run) -> dict[str, Any]:
    return {n: unwrapped(result.named(f"{n}-activate").inputs["triggers"]) for n in LBS + BACKENDS}


@pytest.fixture(scope="module")
def renewed_run() -> Run:
    """The operator's second certificate from the same CA (a new key), same tickets."""
    return run(ts.operator_tls(ts.operator().second), ts.TICKET_KEYS)


@pytest.fixture(scope="module")
def rotated_run() -> Run:
    """The same certificate, one ticket key only (the rotation's other side)."""
    return run(ts.operator_tls(), ts.TICKET_KEY)


@pytest.mark.parametrize("change", ["renewed", "rotated"])
def test_a_new_key_or_new_ticket_keys_reactivate_the_load_balancers_only(
    change, operator_run, renewed_run, rotated_run
):
    after = {"renewed": renewed_run, "rotated": rotated_run}[change]
    before_t, after_t = activation_triggers(operator_run), activation_triggers(after)
    for lb in LBS:
        assert rpc.is_rpc_secret(after.named(f"{lb}-activate").inputs["triggers"])
        assert before_t[lb] != after_t[lb], lb
        assert before_t[lb][0] == after_t[lb][0]  # the same VM (its instance-id)
    for be in BACKENDS:
        assert before_t[be] == after_t[be], be
        assert (
            operator_run.named(f"{be}-activate").inputs["create"]
            == after.named(f"{be}-activate").inputs["create"]
        )
    for be in BACKENDS:
        assert operator_run.exports["configHashes"][be] == after.exports["configHashes"][be]


def test_new_ticket_keys_change_no_plain_file(operator_run, rotated_run):
    assert operator_run.exports["configHashes"] == rotated_run.exports["configHashes"]
    for lb in LBS:
        for staged in ("nginx-conf", "tls-certificate"):
            name = f"{lb}-{staged}-upload"
            assert uploaded(operator_run, name) == uploaded(rotated_run, name)


def test_a_renewal_changes_the_certificate_file_and_its_hash(operator_run, renewed_run):
    for lb in LBS:
        old, new = (r.exports["configHashes"][lb] for r in (operator_run, renewed_run))
        assert set(old) == set(new)
        # The chain, and the activation whose manifest names its staged copy.
        assert {p for p in old if old[p] != new[p]} == {
            "/etc/nginx/tls/server.crt",
            "/steps/activate.sh",
        }
        assert old["/etc/nginx/tls/server.crt"] != new["/etc/nginx/tls/server.crt"]
        assert "/etc/nginx/tls/server.key" not in new
        # nginx.conf is the same file, so not uploaded again; its stage step runs again
        # (its SUBST names the new chain's staged copy). What stage.sh then does:
        # tests/scripts/test_tls_stage.py, test_a_renewal_checks_the_new_certificate...
        name = f"{lb}-nginx-conf"
        assert uploaded(operator_run, f"{name}-upload") == uploaded(renewed_run, f"{name}-upload")
        stage = [r.named(f"{name}-stage").inputs["create"] for r in (operator_run, renewed_run)]
        assert stage[0] != stage[1]


# ------------------------------------------------------------------ exports, smoke


def test_self_signed_exports_the_ca_that_verifies_the_served_chain(self_signed_run):
    ca_pem = self_signed_run.exports["tlsCa"]
    assert ca_pem == SELF_SIGNED_KEY.ca and "PRIVATE" not in ca_pem
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf, *rest = ts.certificates(SELF_SIGNED_KEY.chain)
    for name in ("www.example.com", "nginx-ha-gate.example.com"):
        verifier = (
            PolicyBuilder()
            .store(Store([ca]))
            .time(leaf.not_valid_before_utc)
            .build_server_verifier(x509.DNSName(name))
        )
        assert verifier.verify(leaf, rest)[-1] == ca
    assert self_signed_run.exports["url"] == "https://www.example.com/"


def test_no_tls_ca_export_without_self_signed(operator_run):
    assert "tlsCa" not in operator_run.exports
    assert operator_run.exports["url"] == "https://www.example.com/"
    plain = run_program(stacks.raw_config("dev"))
    assert "tlsCa" not in plain.exports and plain.exports["url"].startswith("http://")


def smoke(result: Run):
    return result.named("nginx-ha-smoke")


def test_the_smoke_test_asks_over_https_with_the_stacks_ca_on_stdin(self_signed_run):
    s = smoke(self_signed_run)
    p = params_of(s.inputs["create"])
    assert p["TLS_URL"] == "https://www.example.com/"
    assert p["TLS_RESOLVE"] == "www.example.com:443:192.168.159.110"
    assert p["TLS_CA_STDIN"] == "yes" and p["REDIRECT"] == "yes"
    assert "TLS_CA" not in p
    assert s.inputs["stdin"] == SELF_SIGNED_KEY.ca  # a certificate: public


def test_the_smoke_test_trusts_tls_ca_or_the_system_store(operator_run):
    s = smoke(operator_run)
    assert params_of(s.inputs["create"])["TLS_CA_STDIN"] == "yes"
    assert s.inputs["stdin"] == ts.operator().ca.pem
    chained = run(ts.chained_tls())
    s = smoke(chained)
    p = params_of(s.inputs["create"])
    assert p["TLS_CA"] == "/etc/ssl/certs/ca-certificates.crt"
    assert "TLS_CA_STDIN" not in p
    assert "stdin" not in s.inputs
    gate = params_of(chained.named("nginx-master-activate").inputs["create"])
    assert gate["GATE_TLS_CA"] == "/etc/ssl/certs/ca-certificates.crt"


# ------------------------------------------------------------------ activation


def test_the_activation_gates_over_tls_and_quiesces_both_ports(self_signed_run):
    for lb in LBS:
        p = params_of(self_signed_run.named(f"{lb}-activate").inputs["create"])
        assert p["GATE_PLAIN"] == "redirect"
        assert p["GATE_TLS_NAMES"] == "www.example.com nginx-ha-gate.example.com"
        assert p["GATE_TLS_PORT"] == "443"
        assert p["GATE_TLS_CA"] == "/etc/nginx/tls/trust.pem"
        assert p["PORT"] == "80 443"
        fw = header_params(uploaded(self_signed_run, f"{lb}-https-firewall-upload"))
        assert (fw["FW_NAME"], fw["FW_PROTO"], fw["FW_PORT"], fw["FW_SOURCES"]) == (
            "https",
            "tcp",
            "443",
            "",
        )
        hold = header_params(uploaded(self_signed_run, f"{lb}-vip-hold-upload"))
        assert hold["HOLD_PORTS"] == "80 443"
    for be in BACKENDS:
        p = params_of(self_signed_run.named(f"{be}-activate").inputs["create"])
        assert not {k for k in p if k.startswith("GATE_TLS") or k == "GATE_PLAIN"}
        assert not [r for r in self_signed_run.resources if r.name == f"{be}-https-firewall"]


def test_without_the_redirect_the_gate_expects_port_80_to_serve():
    result = run({**ts.SELF_SIGNED, "redirectHttp": False, "port": 8443})
    p = params_of(result.named("nginx-master-activate").inputs["create"])
    assert (p["GATE_PLAIN"], p["GATE_TLS_PORT"], p["PORT"]) == ("serve", "8443", "80 8443")
    smoke_p = params_of(smoke(result).inputs["create"])
    assert smoke_p["REDIRECT"] == "no"
    assert smoke_p["TLS_URL"] == "https://www.example.com:8443/"
    assert smoke_p["TLS_RESOLVE"] == "www.example.com:8443:192.168.159.110"
