"""The certificates the load balancers serve, in the live view (nginx_ha/view/
certificates.py and status.py): openssl's own output parsed, what needs attention
(within 21 days of the end, expired, two different certificates, a node serving
nothing), the table's rows, the stack's verdict and its JSON; and the probe told where
nginx serves TLS on a load balancer only."""

from __future__ import annotations

import calendar
import json
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from nginx_ha.config.pins import TLS_EXPIRY_WARNING_DAYS
from nginx_ha.topology import BACKEND, LOAD_BALANCER, Layout
from nginx_ha.topology.plans import TlsPlan
from nginx_ha.view import status as view
from nginx_ha.view.certificates import (
    ServedCertificate,
    certificate_rows,
    certificate_warnings,
    parse_certificate,
)
from support import certs

# `openssl x509 -noout -subject -fingerprint -sha256 -enddate -nameopt RFC2253` of a
# test CA's certificate (OpenSSL 3.0), as status.sh prints it: a one-digit day is
# padded with a space.
SAMPLE = (
    "subject=CN=www.example.com\n"
    "sha256 Fingerprint=6D:64:1D:97:8D:C5:A3:0B:BC:D6:AA:B3:A6:61:C0:C3:37:E1:0F:15:1B:"
    "06:5B:FC:0C:20:12:9D:62:7E:19:26\n"
    "notAfter=Mar  7 00:00:16 2027 GMT\n"
)
SAMPLE_END = calendar.timegm((2027, 3, 7, 0, 0, 16, 0, 0, 0))
FP = "6D:64:1D:97:8D:C5:A3:0B:BC:D6:AA:B3:A6:61:C0:C3:37:E1:0F:15:1B:06:5B:FC:0C:20:12:9D:62:7E:19:26"
DAY = 86400.0
VIPS = [{"vip": "192.168.159.110", "vrid": 121, "master": "lb1"}]


def test_openssls_lines_parse():
    c = parse_certificate(SAMPLE)
    assert c == ServedCertificate("CN=www.example.com", FP, float(SAMPLE_END))
    assert c is not None
    assert c.days_left(SAMPLE_END - 10 * DAY) == pytest.approx(10)
    # OpenSSL 1.1 says "SHA256 Fingerprint"; a subject of several RDNs keeps its '='s.
    older = SAMPLE.replace("sha256", "SHA256").replace(
        "CN=www.example.com", "CN=www.example.com,O=Example\\, Inc.,C=US"
    )
    assert parse_certificate(older) == ServedCertificate(
        "CN=www.example.com,O=Example\\, Inc.,C=US", FP, float(SAMPLE_END)
    )
    # Nothing served (s_client found no nginx): nothing parsed.
    assert parse_certificate("") is None
    # An end openssl wrote in another form: the certificate, its end unknown.
    odd = parse_certificate(SAMPLE.replace("Mar  7 00:00:16 2027 GMT", "2027-03-07"))
    assert odd is not None and odd.not_after is None and odd.days_left(0) is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_what_openssl_prints_of_a_real_certificate_parses(tmp_path):
    issued = certs.TestCa().issue(["www.example.com", "*.example.com"])
    pem = tmp_path / "server.crt"
    pem.write_text(issued.certificate)
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-fingerprint", "-sha256", "-enddate"]
        + ["-nameopt", "RFC2253", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    c = parse_certificate(out)
    cert = x509.load_pem_x509_certificate(issued.certificate.encode())
    assert c is not None
    assert c.subject == "CN=www.example.com"
    assert c.sha256 == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert c.not_after == cert.not_valid_after_utc.timestamp()


# ------------------------------------------------------------------ the view


def probe(now: float, cert: str | None, addresses: str = "") -> str:
    """status.sh's answer from a load balancer (``cert``: its certificate section's
    lines, None: no section, as without TLS)."""
    section = "" if cert is None else f"== certificate\n{cert}"
    return (
        f"== now\n{now}\n== units\nkeepalived active\nnginx active\nnginx-ha-watch active\n"
        f"== addresses\n{addresses}\n== vrrp\nVI_121 MASTER 1 150\n== transitions\n"
        f"== health\n0\n== keepalived\nKeepalived v2.2.7\n{section}== end\n"
    )


def lbs(lb1: str | None, lb2: str | None, now: float) -> list[view.NodeReport]:
    vip = "eth0 192.168.159.110/24"
    return [
        view.parse_probe("lb1", "MASTER", "192.168.159.129", True, probe(now, lb1, vip)),
        view.parse_probe("lb2", "BACKUP", "192.168.159.130", True, probe(now, lb2)),
    ]


def status(lb1: str | None, lb2: str | None, days_before_end: float) -> view.StackStatus:
    now = SAMPLE_END - days_before_end * DAY
    return view.build_status("dev", VIPS, lbs(lb1, lb2, now), now=now)


OTHER = SAMPLE.replace("6D:64", "AA:BB")


def test_far_from_its_end_and_the_same_everywhere_is_healthy():
    s = status(SAMPLE, SAMPLE, TLS_EXPIRY_WARNING_DAYS + 1)
    assert s.certificate_warnings == [] and s.healthy
    assert s.nodes[0].tls and s.nodes[0].certificate is not None


@pytest.mark.parametrize(
    ("lb1", "lb2", "days", "warning"),
    [
        (SAMPLE, SAMPLE, 10, "lb1's certificate (CN=www.example.com) expires in 10 days"),
        (SAMPLE, SAMPLE, TLS_EXPIRY_WARNING_DAYS - 0.6, "expires in 20 days"),
        (SAMPLE, SAMPLE, -1, "lb2's certificate (CN=www.example.com) has expired"),
        (SAMPLE, OTHER, 60, "the load balancers serve different certificates: lb1 6D:64:"),
        (SAMPLE, "", 60, "lb2 serves no certificate"),
    ],
    ids=["near its end", "just within 21 days", "expired", "two certificates", "nothing"],
)
def test_what_needs_attention(lb1, lb2, days, warning):
    s = status(lb1, lb2, days)
    assert any(warning in w for w in s.certificate_warnings), s.certificate_warnings
    assert not s.healthy
    text = view.format_status(s)
    assert "stack dev: NEEDS ATTENTION" in text
    assert f"  warning: {s.certificate_warnings[0]}" in text


def test_a_node_that_cannot_be_asked_is_no_certificate_warning():
    now = SAMPLE_END - 60 * DAY
    nodes = [
        *lbs(SAMPLE, SAMPLE, now)[:1],
        view.parse_probe("lb2", "BACKUP", "192.168.159.130", True, "", error="no route"),
    ]
    assert certificate_warnings(nodes, now) == []
    # ... and no row: the table says it is unreachable.
    assert [r[0] for r in certificate_rows(nodes, now)] == ["node", "lb1"]


def test_the_table_rows():
    now = SAMPLE_END - 30.4 * DAY
    rows = certificate_rows(lbs(SAMPLE, "", now), now)
    assert rows == [
        ["node", "serves", "sha256", "days left"],
        ["lb1", "CN=www.example.com", "6D:64:1D:97:8D:C5:A3:0B...", "30"],
        ["lb2", "nothing", "-", "-"],
    ]
    # No TLS anywhere: no table.
    assert certificate_rows(lbs(None, None, now), now) == []
    plain = view.build_status("dev", VIPS, lbs(None, None, now), now=now)
    assert "certificates" not in view.format_status(plain) and plain.healthy
    data = json.loads(json.dumps(view.status_json(plain)))
    assert data["nodes"]["lb1"]["certificate"] is None


def test_the_json_carries_each_certificate():
    s = status(SAMPLE, "", 10)
    data = json.loads(json.dumps(view.status_json(s)))
    assert data["nodes"]["lb1"]["certificate"] == {
        "subject": "CN=www.example.com",
        "sha256": FP,
        "notAfter": float(SAMPLE_END),
    }
    assert data["nodes"]["lb2"]["certificate"] is None
    assert data["healthy"] is False
    assert data["certificateWarnings"] == s.certificate_warnings
    assert "lb2 serves no certificate" in data["certificateWarnings"]


def test_the_days_left_are_the_nodes_own_clock():
    # The node's clock says 10 days before the end; the operator's says 60.
    now = SAMPLE_END - 60 * DAY
    reports = lbs(SAMPLE, SAMPLE, SAMPLE_END - 10 * DAY)
    s = view.build_status("dev", VIPS, reports, now=now)
    assert any("expires in 10 days" in w for w in s.certificate_warnings)


# ------------------------------------------------------------------ the probe


def tls_plan(*names: str, port: int = 443) -> TlsPlan:
    return TlsPlan(
        server_names=names,
        port=port,
        redirect_http=True,
        hsts=False,
        self_signed=True,
        certificate=None,
        ca=None,
        ticket_key_slots=2,
    )


def params(script: str) -> dict[str, str]:
    lines = [ln for ln in script.splitlines() if not ln.startswith("#")]
    out = {}
    for line in lines[1:]:
        name, eq, value = line.partition("=")
        if not (eq and name.isidentifier() and name.isupper()):
            break
        out[name] = value
    return out


def test_the_probe_asks_a_load_balancers_nginx_for_its_certificate():
    script = view.probe_script(LOAD_BALANCER, Layout(), tls=tls_plan("www.example.com"))
    p = params(script)
    assert (p["TLS_PORT"], p["TLS_NAME"]) == ("443", "www.example.com")
    # A wildcard first: a name it covers (the gate's).
    p = params(view.probe_script(LOAD_BALANCER, Layout(), tls=tls_plan("*.example.com", port=8443)))
    assert (p["TLS_PORT"], p["TLS_NAME"]) == ("8443", "nginx-ha-gate.example.com")
    assert "openssl s_client -connect" in script and "section certificate" in script


def test_a_backend_and_a_plain_stack_are_not_asked():
    for script in (
        view.probe_script(BACKEND, Layout(), tls=tls_plan("www.example.com")),
        view.probe_script(LOAD_BALANCER, Layout()),
    ):
        assert not {"TLS_PORT", "TLS_NAME"} & set(params(script))
