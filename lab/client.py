"""The lab's client, from the orchestrator: wait until the VIP serves, or run the
request loop (:mod:`lab.probe`) in the client namespace and read it as it goes.

It needs of a lab only its client namespace, URL and run folder (:class:`Served`;
:class:`lab.lab.Lab` is one), so the lab uses it without a way back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Protocol

from lab.config import ROOT
from lab.errors import LabError
from lab.probe import Request
from nginx_ha.topology.naming import PAGE_MARKER_KEY
from support import netns

# Seconds for the request loop to start in the client namespace (a Python start: well
# under a second here, several under software emulation).
READY_TIMEOUT = 30.0


class Served(Protocol):
    """A lab as the client sees it."""

    client: str  # the client's network namespace
    run_dir: Path  # where its logs are

    @property
    def url(self) -> str: ...  # the (first) VIP's

    @property
    def probe_args(self) -> list[str]: ...  # HTTPS: the server name, the CA, resumption


def _argv(lab: Served, *args: str, url: str | None = None) -> list[str]:
    return netns.in_ns(
        lab.client,
        sys.executable,
        "-m",
        "lab.probe",
        url or lab.url,
        "--marker",
        PAGE_MARKER_KEY,
        *lab.probe_args,
        *args,
    )


def wait_serving(
    lab: Served, timeout: float = 30, backend: str | None = None, url: str | None = None
) -> float:
    """Wait until the VIP answers 200 from the client namespace; seconds waited."""
    t0 = time.monotonic()
    args = ["--until-ok", "--duration", str(timeout)]
    if backend:
        args += ["--backend", backend]
    res = subprocess.run(_argv(lab, *args, url=url), cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise LabError(
            f"{url or lab.url} did not serve within {timeout} s: see the logs under "
            f"{lab.run_dir} ({res.stderr.strip()[-500:]})"
        )
    return time.monotonic() - t0


class Probe:
    """A running request loop in the client namespace, read as it goes."""

    def __init__(
        self,
        lab: Served,
        interval: float = 0.02,
        duration: float = 20.0,
        timeout: float = 2.0,
        url: str | None = None,  # default: the (first) VIP's
        post_every: int = 0,  # every Nth request a POST
        marker: str
        | None = None,  # the key naming the backend in the page (default: the node page's)
    ):
        max_requests = int(duration / interval) + 1
        self.proc = subprocess.Popen(
            _argv(
                lab,
                "--interval",
                str(interval),
                "--duration",
                str(duration),
                "--max-requests",
                str(max_requests),
                "--timeout",
                str(timeout),
                "--post-every",
                str(post_every),
                *(["--marker", marker] if marker else []),
                url=url,
            ),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.requests: list[Request] = []
        self.started: float | None = None
        self.finished = threading.Event()
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(READY_TIMEOUT):
            self.stop()
            raise RuntimeError("the probe did not start in the client namespace")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            obj = json.loads(line)
            if "ready" in obj:
                self.started = obj["ready"]
                self._ready.set()
            elif "done" in obj:
                self.finished.set()
            else:
                self.requests.append(Request(**obj))
        self._ready.set()
        self.finished.set()

    def snapshot(self) -> list[Request]:
        return list(self.requests)

    def stop(self) -> list[Request]:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        return sorted(self.requests, key=lambda r: r.t0)
