"""HTTPS at the VIP in the network-namespace lab (real nginx, keepalived and Tomcat;
root): the https profile (tls.selfSigned for www.nginx-ha.test) serves the VIP over
verified TLS with HTTP/2, port 80 redirects, both load balancers serve the same
certificate, a failover keeps the clients' TLS sessions (the ticket keys are shared),
and the program's own rollout of a renewed certificate (replayed: bench/replay.py)
loses no request under the HTTPS loop, while a certificate that passes `nginx -t` but
not the gate's verified handshake stops at the first load balancer, rolled back.

How fast is measured by bench/failover.py --profiles https and bench/rollout.py, not
asserted here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench import rollout
from lab import failover, scenarios
from lab.lab import Lab
from lab.live import live_status
from tests.lab.instances import instance
from tests.lab.test_failover import _skip_unless_lab_can_run

pytestmark = [pytest.mark.slow, pytest.mark.root]


def curl(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", lab.client, "curl", "-sS", "--max-time", "5", *args],
        capture_output=True,
        text=True,
        timeout=15,
    )


@pytest.fixture(scope="module")
def https_lab():
    _skip_unless_lab_can_run()
    lab = Lab("dev", "https", instance=instance("test-tls"))
    lab.up(log=lambda *_: None)
    try:
        yield lab
    finally:
        lab.down(log=lambda *_: None)


def test_the_vip_serves_verified_https_with_http2_and_port_80_redirects(https_lab):
    lab = https_lab
    assert lab.topo.tls is not None
    name = lab.topo.tls.server_names[0]
    got = curl(
        lab,
        "--resolve",
        f"{name}:443:{lab.vip}",
        "--cacert",
        str(lab.client_ca),
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}\n",
        f"https://{name}/",
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("HTTP/2 200"), got.stdout[:200]
    assert "x-served-by: nginx-master" in got.stdout.lower()
    assert got.stdout.strip().endswith("2")  # HTTP/2
    # Not trusted without the stack's CA: the chain is verified for real.
    untrusted = curl(lab, "--resolve", f"{name}:443:{lab.vip}", f"https://{name}/")
    assert untrusted.returncode == 60, untrusted.stderr
    plain = curl(lab, "-D", "-", "-o", "/dev/null", f"http://{lab.vip}/shop?x=1")
    assert plain.stdout.startswith("HTTP/1.1 308"), plain.stdout[:200]
    assert f"location: https://{lab.vip}/shop?x=1" in plain.stdout.lower()
    # The health location keepalived's check asks stays plain HTTP on port 80.
    health = subprocess.run(
        ["ip", "netns", "exec", lab.master.ns, "curl", "-sS", "--max-time", "5", "-o", "/dev/null"]
        + ["-w", "%{http_code}", lab.topo.nginx.health_url],
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert health.stdout == "200", health.stderr


def test_both_load_balancers_serve_the_same_certificate(https_lab):
    status = live_status(https_lab)
    served = {n.name: n.certificate for n in status.nodes if n.tls}
    assert set(served) == {"nginx-master", "nginx-backup"}
    prints = {c.sha256 for c in served.values() if c is not None}
    assert len(prints) == 1 and None not in served.values(), served
    assert status.certificate_warnings == []
    assert all("www.nginx-ha.test" in c.subject for c in served.values() if c)


def test_a_failover_keeps_the_clients_tls_sessions(https_lab):
    obs = failover.run(https_lab, scenarios.SCENARIOS["nginx-dead"])
    try:
        assert obs.holders_after == ["nginx-backup"]
        resumed = obs.resumed_after
        assert resumed is not None
        # The new holder resumes the sessions the old one issued: the same ticket keys.
        assert resumed[1] > 10 and resumed[0] == resumed[1], resumed
        assert all(r.tls in ("TLSv1.3", "TLSv1.2") for r in obs.requests if r.ok)
    finally:
        from lab import baseline

        baseline.heal(https_lab)


@pytest.fixture
def operator_cert_lab():
    """The https profile with the stack's own certificate from a test CA (tls.ca), as a
    renewal starts from, and what the first `pulumi up` leaves on the nodes."""
    _skip_unless_lab_can_run()
    lab = Lab("dev", "https", instance=instance("test-tls-roll"), overrides=rollout.TLS_BASE)
    with rollout.deployed(lab):
        yield lab


def test_a_renewal_rolls_one_load_balancer_at_a_time_without_a_failed_request(
    operator_cert_lab,
):
    lab = operator_cert_lab
    outcome = rollout.run(lab, rollout.CHANGES["tls-certificate"], log=print)
    done = outcome.replay
    assert done.failed is None, done.failed.output if done.failed else ""
    assert [r.step.name for r in done.activations][-2:] == [
        "nginx-backup-activate",
        "nginx-master-activate",
    ]
    assert outcome.requests and not outcome.failed, {r.error or r.status for r in outcome.failed}
    assert all(r.tls is not None for r in outcome.requests)  # the loop asked over HTTPS
    for lb in lab.lbs:
        served = Path(lb.layout.tls_dir, "server.crt").read_text()
        assert served.strip() == rollout.TLS_AFTER.certificate.strip()
    status = live_status(lab)
    assert len({n.certificate.sha256 for n in status.nodes if n.certificate}) == 1


def test_a_certificate_for_another_name_stops_at_the_first_gate_and_is_rolled_back(
    operator_cert_lab,
):
    lab = operator_cert_lab
    before = {lb.node.name: Path(lb.layout.tls_dir, "server.crt").read_text() for lb in lab.lbs}
    outcome = rollout.run(lab, rollout.CHANGES["broken-tls"], log=print)
    failed = outcome.replay.failed
    assert failed is not None and failed.step.name == "nginx-backup-activate"
    assert "failed its gate" in failed.output and "TLS verified" in failed.output
    assert "no alternative certificate subject name matches" in failed.output
    assert "the previous version is back and passes the gate" in failed.output
    assert not [r for r in outcome.replay.results if r.step.name == "nginx-master-activate"]
    assert outcome.requests and not outcome.failed, {r.error or r.status for r in outcome.failed}
    for lb in lab.lbs:
        assert Path(lb.layout.tls_dir, "server.crt").read_text() == before[lb.node.name]
