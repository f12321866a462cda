"""The rendered nginx.conf, run for real: nginx and two tiny HTTP backends serving the
rendered Tomcat pages, on loopback addresses inside a network namespace of the test's
own (nothing listens in the root namespace). Shows the primary serving, the backup
serving only while the primary is down or hangs, the return to the primary, the
retry policy for POST, the local-only health location, and the headers.

Every wait is bounded; timings are not asserted (bench/ measures them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from nginx_ha.render import script
from nginx_ha.render.params import script_text
from support import nginx_validate
from support.live_nginx import (
    BACKUP,
    BACKUP_ADDR,
    FAIL_TIMEOUT,
    HANG,
    LB,
    LB_IP,
    PORT,
    PRIMARY,
    PRIMARY_ADDR,
    VIP,
    Netns,
    backend_of,
    live_nginx,
    response,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
    pytest.mark.skipif(not nginx_validate.available(), reason="nginx not installed"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) not installed"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed"),
]


@pytest.fixture
def lab(tmp_path):
    with live_nginx(tmp_path) as ns:
        yield ns


def test_primary_serves_backup_only_while_primary_is_down(lab):
    url = f"http://{VIP}:{PORT}/"
    primary = f"{PRIMARY_ADDR[0]}:{PRIMARY_ADDR[1]}"
    backup = f"{BACKUP_ADDR[0]}:{BACKUP_ADDR[1]}"

    # Both up: every request goes to the primary; the headers name LB and upstream.
    for _ in range(5):
        r = response(lab, url)
        assert r["status"] == 200
        assert r["headers"]["x-served-by"] == LB
        assert r["headers"]["x-upstream"] == primary
        assert backend_of(r) == PRIMARY

    # Primary stopped (connection refused): the next request is answered by the
    # backup at once, no error reaches the client.
    lab.stop(PRIMARY)
    r = response(lab, url)
    assert r["status"] == 200 and backend_of(r) == BACKUP
    # nginx tried the primary (refused: 502), then the backup answered.
    assert r["headers"]["x-upstream"] == f"{primary}, {backup}"
    assert r["headers"]["x-upstream-status"] == "502, 200"
    for _ in range(5):
        r = response(lab, url)
        assert r["status"] == 200
        assert backend_of(r) == BACKUP
        assert r["headers"]["x-upstream"].split(", ")[-1] == backup

    # Primary back: after fail_timeout nginx tries it again, and it serves again.
    lab.start_backend(PRIMARY, PRIMARY_ADDR)
    lab.wait_port(*PRIMARY_ADDR)
    deadline = time.monotonic() + FAIL_TIMEOUT + 5
    seen = []
    while time.monotonic() < deadline:
        seen.append(backend_of(response(lab, url)))
        if seen[-1] == PRIMARY:
            break
        time.sleep(0.2)
    assert seen[-1] == PRIMARY, f"primary never served again: {seen}"


def test_hung_primary_times_out_to_backup_but_post_is_not_resent(lab):
    url = f"http://{VIP}:{PORT}/"
    lab.stop(PRIMARY)
    lab.start("hang", sys.executable, "-c", HANG, *map(str, PRIMARY_ADDR))
    lab.wait_port(*PRIMARY_ADDR)

    # GET is idempotent: after the read timeout nginx asks the backup.
    r = response(lab, url)
    assert r["status"] == 200
    assert backend_of(r) == BACKUP
    assert r["headers"]["x-upstream-status"] == "504, 200"

    # Once fail_timeout has passed the primary is tried again; a POST already sent to
    # it is not sent to the backup (retryNonIdempotent false): the client gets 504.
    # nginx compares fail_timeout with its whole-second clock, and since the upstream
    # has a shared zone every worker knows of the failure: wait a second more.
    time.sleep(FAIL_TIMEOUT + 1.5)
    r = response(lab, url, "-X", "POST", "--data", "x=1")
    assert r["status"] == 504
    assert r["headers"]["x-upstream"] == f"{PRIMARY_ADDR[0]}:{PRIMARY_ADDR[1]}"


def test_health_answers_locally_only(lab):
    url = f"http://127.0.0.1:{PORT}/nginx-ha/health"
    r = response(lab, url)
    assert (r["status"], r["body"]) == (200, f"ok {LB}\n")
    assert r["headers"]["x-served-by"] == LB
    # From the node's own address: allowed; from any other address: 403.
    assert (
        response(lab, f"http://{LB_IP}:{PORT}/nginx-ha/health", "--interface", LB_IP)["status"]
        == 200
    )
    assert response(lab, url, "--interface", "127.0.0.99")["status"] == 403
    # The site itself is open to every address.
    assert response(lab, f"http://{VIP}:{PORT}/", "--interface", "127.0.0.99")["status"] == 200


def smoke(ns: Netns, expect_lb: str) -> subprocess.CompletedProcess:
    params = {
        "URL": f"http://{VIP}:{PORT}/",
        "EXPECT_LB": expect_lb,
        "PRIMARIES": PRIMARY,
        "TRIES": "3",
        "INTERVAL": "0.2",
        "TIMEOUT": "3",
    }
    return ns.run("bash", "-c", script_text(script("smoke.sh"), params), timeout=60)


def test_smoke_script_passes_only_for_master_and_primary(lab):
    ok = smoke(lab, LB)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"smoke ok: http://{VIP}:{PORT}/ answered 200 by {LB} (MASTER)")
    assert f"from {PRIMARY} (primary), attempt 1/3" in ok.stdout

    # The VIP answered by another load balancer than the MASTER: a clear failure.
    wrong_lb = smoke(lab, "lb-other")
    assert wrong_lb.returncode == 1
    assert "nginx-ha smoke test failed" in wrong_lb.stderr
    assert "X-Served-By 'lb-other' (the MASTER)" in wrong_lb.stderr
    assert f"X-Served-By '{LB}'" in wrong_lb.stderr

    # Served, but by the backup Tomcat: also a failure, naming what answered.
    lab.stop(PRIMARY)
    on_backup = smoke(lab, LB)
    assert on_backup.returncode == 1
    assert f"backend '{BACKUP} backup'" in on_backup.stderr
