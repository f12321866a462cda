"""The request loop through the VIP, from the sandbox's namespace, and its figures.

While the end-to-end run (sandbox/e2e.py) changes the stack, a client sends one GET to
the VIP every 100 ms (the lab's rollout bench, on real CPUs, every 20 ms: bench/rollout.py).
The loop is the lab's own (``python -m lab.probe``: open loop, each request bounded, the
loop bounded in count and time), run as a program inside the sandbox's network namespace:
the sandbox imports nothing from the lab.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sandbox import config
from support.netns import in_ns

# One request every 100 ms. At 20 ms (50 a second, each through an emulated nginx and
# Tomcat) the loop itself saturated the MASTER's one emulated CPU: its stage step took
# 13 s against 5 s on the idle BACKUP, notify scripts took 6 s to run, and the MASTER's
# health verdict failed in the middle of a change that did not touch it (its VIP moved,
# 292 requests failed). 100 ms still sees any gap longer than a tenth of a second.
INTERVAL = 0.1
# Each request's bound: one SYN resent after 1 s (a handover drops new connections for
# a moment) and the answer still fit.
REQUEST_TIMEOUT = 3.0


class VipLoop:
    """The lab's request loop (``python -m lab.probe``, run as a program: the sandbox
    imports nothing from the lab) in the sandbox's namespace: one GET of the VIP every
    INTERVAL (open loop), each bounded by REQUEST_TIMEOUT, at most ``duration`` seconds and
    as many requests as fit in them. Every finished request is a JSON line in ``log``."""

    def __init__(
        self,
        url: str,
        netns: str | None,
        env: dict[str, str],
        log: Path,
        duration: float,
        args: Sequence[str] = (),
    ):
        """``args``: more of the loop's options (over HTTPS: ``--servername``,
        ``--cafile``, ``--resume``)."""
        argv = [
            sys.executable,
            "-m",
            "lab.probe",
            url,
            *args,
            "--interval",
            str(INTERVAL),
            "--duration",
            str(duration),
            "--max-requests",
            str(int(duration / INTERVAL) + 1),
            "--timeout",
            str(REQUEST_TIMEOUT),
        ]
        self.log = open(log, "w")  # noqa: SIM115 - closed by stop()
        self.err = open(log.with_suffix(".err"), "w")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            in_ns(netns, *argv) if netns else argv,
            cwd=config.PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
            start_new_session=True,
        )
        self.started: float | None = None
        self.requests: list[dict] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(15) or self.started is None:
            self.stop()
            raise RuntimeError(f"the request loop did not start: {log.with_suffix('.err')}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                self.log.write(line)
                obj = json.loads(line)
                if "ready" in obj:
                    self.started = obj["ready"]
                    self._ready.set()
                elif "t0" in obj:
                    self.requests.append(obj)
        finally:
            self._ready.set()

    def stop(self) -> dict:
        """End the loop (closing its stdin; killed if it does not end) and return its
        figures (:func:`loop_figures`)."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=REQUEST_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._reader.join(timeout=5)
        self.log.close()
        self.err.close()
        return loop_figures(self.started, self.requests)


def loop_figures(started: float | None, requests: list[dict]) -> dict:
    """Requests sent and failed (not a 200 within REQUEST_TIMEOUT), why they failed,
    the longest gap (the longest the client waited for a successful answer: from the
    loop's start or the end of one good answer to the end of the next), the worst
    latency, and who answered over time (X-Served-By, seconds from the start)."""
    reqs = sorted(requests, key=lambda r: r["t0"])
    t0 = started if started is not None else (reqs[0]["t0"] if reqs else 0.0)
    gap, last = 0.0, t0
    for end in sorted(r["t1"] for r in reqs if r["status"] == 200):
        gap, last = max(gap, end - last), end
    failed = [r for r in reqs if r["status"] != 200]
    failures: dict[str, int] = {}
    for r in failed:
        why = r.get("error") or f"HTTP {r['status']}"
        failures[why] = failures.get(why, 0) + 1
    # nginx-ha:app: the versions the application answered with, in the order first seen
    # per backend ("backend version"), and the POSTs among the requests.
    versions: dict[str, None] = {}
    for r in reqs:
        if r["status"] == 200 and r.get("version"):
            versions.setdefault(f"{r.get('backend')} {r['version']}", None)
    posts = [r for r in reqs if r.get("method") == "POST"]
    served: list[tuple[float, str]] = []
    for r in reqs:
        if r["status"] == 200 and (not served or served[-1][1] != r.get("lb")):
            served.append((round(r["t0"] - t0, 2), str(r.get("lb"))))
    return {
        "sent": len(reqs),
        "failed": len(failed),
        "failures": failures,
        "longest_gap": round(gap, 3),
        "worst_latency": round(max((r["t1"] - r["t0"] for r in reqs), default=0.0), 3),
        "served_by": served,
        "posts": len(posts),
        "failed_posts": len([r for r in posts if r["status"] != 200]),
        "versions": list(versions),
        "last_version": next((r["version"] for r in reversed(reqs) if r.get("version")), None),
        "seconds": round(max((r["t1"] for r in reqs), default=t0) - t0, 1),
    }


def loop_text(f: dict) -> str:
    why = ", ".join(f"{n} {k}" for k, n in sorted(f.get("failures", {}).items()))
    text = (
        f"{f['sent']} requests in {f['seconds']:.0f} s, {f['failed']} failed"
        + (f" ({why})" if why else "")
        + f", longest gap {f['longest_gap']:.2f} s, worst latency {f['worst_latency']:.2f} s; "
        + "answered by "
        + (" -> ".join(f"{lb} @{t:.1f} s" for t, lb in f["served_by"]) or "nobody")
    )
    if "holder_before" in f:
        text += f"; VIP holder before {f['holder_before']}, after {f['holder_after']}"
    return text
