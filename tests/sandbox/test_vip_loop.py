"""The request loop through the VIP (sandbox/vip_loop.py): it runs (here against a
local stand-in, outside any namespace) and is read as it goes; its figures: requests
sent and failed, why, the longest gap, the worst latency, who answered over time."""

from __future__ import annotations

import http.server
import os
import threading
import time

import pytest

from sandbox.vip_loop import INTERVAL, VipLoop, loop_figures, loop_text

pytestmark = pytest.mark.pure  # no daemon, no namespace: runs by default (tests/conftest.py)


def req(t0, t1, status=200, lb: str | None = "nginx-master", error=None):
    return {"t0": t0, "t1": t1, "status": status, "lb": lb, "backend": "t", "error": error}


def test_loop_figures_count_failures_gaps_and_who_answered():
    reqs = [
        req(100.00, 100.01),
        req(100.02, 100.03),
        req(100.04, 103.04, status=0, lb=None, error="timeout"),
        req(100.06, 101.50, lb="nginx-backup"),  # a SYN resent after 1 s
        req(101.52, 101.53, lb="nginx-backup"),
        req(101.54, 101.55, status=502, lb="nginx-backup"),
        req(101.56, 101.57),
    ]
    f = loop_figures(100.0, reqs)
    assert f["sent"] == 7 and f["failed"] == 2
    assert f["failures"] == {"timeout": 1, "HTTP 502": 1}
    assert f["longest_gap"] == pytest.approx(1.47)  # 100.03 -> 101.50
    assert f["worst_latency"] == pytest.approx(3.0)
    assert f["served_by"] == [(0.0, "nginx-master"), (0.06, "nginx-backup"), (1.56, "nginx-master")]
    text = loop_text({**f, "holder_before": ["nginx-master"], "holder_after": ["nginx-master"]})
    assert text.startswith(
        "7 requests in 3 s, 2 failed (1 HTTP 502, 1 timeout), longest gap 1.47 s"
    )
    assert "nginx-master @0.0 s -> nginx-backup @0.1 s -> nginx-master @1.6 s" in text
    assert text.endswith("VIP holder before ['nginx-master'], after ['nginx-master']")


def test_loop_figures_of_no_requests():
    f = loop_figures(None, [])
    assert (f["sent"], f["failed"], f["longest_gap"], f["served_by"]) == (0, 0, 0.0, [])


class _Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        body = b"<p>nginx-ha-backend=tomcat-primary</p>\n"
        self.send_response(200)
        self.send_header("X-Served-By", "nginx-master")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_loop_runs_and_is_read_as_it_goes(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        loop = VipLoop(url, None, dict(os.environ), tmp_path / "loop.jsonl", duration=30)
        time.sleep(1.0)
        f = loop.stop()  # long before its 30 s: stopped, not run out
    finally:
        server.shutdown()
    # About one request per INTERVAL over the second it ran (its start takes a moment).
    assert 0.5 / INTERVAL <= f["sent"] <= 3 / INTERVAL and f["failed"] == 0, f
    assert f["served_by"] == [(f["served_by"][0][0], "nginx-master")]
    assert len((tmp_path / "loop.jsonl").read_text().splitlines()) >= f["sent"]
