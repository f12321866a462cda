"""status.sh's certificate section for real: a load balancer's rendered TLS nginx.conf
served by a real nginx in a namespace of the test's own (an operator's certificate of a
test CA), asked by the probe ``python -m nginx_ha status`` runs (openssl s_client to
the node's own nginx, then openssl x509), and parsed by the live view: the subject,
the SHA-256 fingerprint and the end of the certificate nginx serves."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from nginx_ha import render
from nginx_ha.topology import LOAD_BALANCER
from nginx_ha.view import status as view
from support import netns, nginx_validate
from tests import tls_stacks as ts

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces: needs root"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("ip", "unshare", "nsenter", "openssl", "timeout")),
        reason="needs iproute2, util-linux (unshare, nsenter), openssl and coreutils",
    ),
    pytest.mark.skipif(not nginx_validate.available(), reason="needs nginx (nginx-light)"),
]


@pytest.fixture
def scratch() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="nginx-ha-status-tls-", dir="/var/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_the_probe_reports_the_certificate_nginx_serves(scratch):
    tls = ts.operator_tls()
    topo = ts.topology(tls)
    assert topo.tls is not None
    layout = dataclasses.replace(
        nginx_validate.scratch_layout(scratch / "nginx"),
        tls_dir=str(scratch / "tls"),
        vrrp_state_dir=str(scratch / "vrrp"),
    )
    plan = render.node_plan(topo, topo.master, layout)
    for path, text in plan.files(ts.secrets(tls)).items():
        if path.startswith(layout.tls_dir + "/"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(plan.on_disk(path, text))
    conf = Path(layout.nginx_conf)
    conf.write_text(render.nginx_conf(topo, topo.master, layout))
    (scratch / "var-log-nginx").mkdir()
    holder = netns.Holder(
        "nhcert-",
        mounts=[["mount", "--bind", str(scratch / "var-log-nginx"), "/var/log/nginx"]],
        lifetime=120,
    )
    pidfile = Path(layout.nginx_pid)
    try:
        started = holder.run(nginx_validate.NGINX, "-c", str(conf))
        assert started.returncode == 0, started.stderr
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        script = view.probe_script(LOAD_BALANCER, layout, systemctl="true", tls=topo.tls)
        res = holder.run("bash", "-c", script, timeout=30)
        assert res.returncode == 0, res.stderr
    finally:
        holder.stop(pidfile, signal.SIGQUIT)
        holder.close()
    report = view.parse_probe("nginx-master", "MASTER", str(topo.master.ip), True, res.stdout)
    assert report.reachable, report.error
    served = x509.load_pem_x509_certificate(tls["certificate"].encode())
    assert report.tls and report.certificate is not None, res.stdout
    assert report.certificate.subject == "CN=www.example.com"
    assert report.certificate.sha256 == served.fingerprint(hashes.SHA256()).hex(":").upper()
    assert report.certificate.not_after == served.not_valid_after_utc.timestamp()
    now = report.now or time.time()
    assert view.certificate_warnings([report], now) == []  # 90 days: far from its end
