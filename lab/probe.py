"""The client's request loop, run inside the client namespace.

``python -m lab.probe URL`` starts one GET every ``--interval`` seconds (open loop:
a slow answer does not delay the next request) for at most ``--duration`` seconds
and ``--max-requests`` requests, each bounded by ``--timeout``. It prints one JSON
line per finished request as it finishes: start and end (CLOCK_MONOTONIC, shared
with the orchestrating process), HTTP status, the load balancer that answered (nginx's
``X-Served-By``), the Tomcat behind it (the page's ``nginx-ha-backend=`` line), or
the error. Closing its stdin stops it early. ``--until-ok`` instead waits for the
first 200 and exits 0 (1 on timeout).

An ``https://`` URL is asked over TLS: ``--servername NAME`` is the name sent (SNI,
Host) and verified against the certificate while the connection goes to the URL's host
(the VIP), the chain verified with ``--cafile``. ``--resume`` offers each new connection the TLS
session of the last one (a session ticket), and each request records whether the
server resumed it (``resumed``) and the protocol (``tls``): a failover that loses the
sessions shows as full handshakes. A handshake that fails is a failed request.

Standard library only: it starts in the client namespace while a scenario waits (under
software emulation, importing the project's settings model took over 10 s), so the
backend page's marker comes on the command line (``--marker``; :mod:`lab.client` passes
``nginx_ha.topology.naming.PAGE_MARKER_KEY``). The orchestrator's side (starting it
there, reading it) is :mod:`lab.client`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

SERVED_BY = re.compile(rb"^x-served-by:\s*(\S+)", re.I | re.M)
MAX_THREADS = 512  # HTTPS: requests open at once (each in a thread of its own)
DEFAULT_MARKER = "nginx-ha-backend"  # tests/lab/test_lvs.py: naming.PAGE_MARKER_KEY's value
BACKEND = re.compile(re.escape(DEFAULT_MARKER.encode()) + rb"=(\S+)")
# The test application's page names its version (support/app/index.jsp).
VERSION = re.compile(rb"\bversion=(\S+)")
# A POST's body (--post-every): small, as a form would send.
POST_BODY = b"item=42&note=" + b"x" * 1000


def set_marker(key: str) -> None:
    """The backend page's marker key (``KEY=<node name>`` in the page)."""
    global BACKEND
    BACKEND = re.compile(re.escape(key.encode()) + rb"=(\S+)")


@dataclass(frozen=True)
class Request:
    t0: float
    t1: float
    status: int  # 0: no HTTP answer
    lb: str | None
    backend: str | None
    error: str | None
    resumed: bool | None = None  # HTTPS: the server resumed the offered TLS session
    tls: str | None = None  # HTTPS: the protocol (TLSv1.3, ...)
    method: str = "GET"
    version: str | None = None  # the application's version that answered (version=...)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def latency(self) -> float:
        return self.t1 - self.t0


@dataclass
class Target:
    """Where a request goes: ``host`` (the name sent and, over TLS, verified) at
    ``address`` and ``port``; over TLS with ``tls``, the last session kept for the next
    connection when ``resume``."""

    host: str
    address: str
    port: int
    path: str
    tls: ssl.SSLContext | None = None
    resume: bool = False
    session: ssl.SSLSession | None = None


def target(
    url: str, servername: str | None = None, cafile: str | None = None, resume: bool = False
) -> Target:
    u = urlsplit(url)
    address = u.hostname or ""
    tls = None
    if u.scheme == "https":
        tls = ssl.create_default_context(cafile=cafile)
    port = u.port or (443 if tls else 80)
    return Target(servername or address, address, port, u.path or "/", tls, resume)


def version_of(data: bytes) -> str | None:
    m = VERSION.search(data.partition(b"\r\n\r\n")[2])
    return m.group(1).decode() if m else None


def _parse(data: bytes) -> tuple[int, str | None, str | None]:
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    status = int(m.group(1)) if m else 0
    lb = SERVED_BY.search(head)
    be = BACKEND.search(body)
    return (
        status,
        lb.group(1).decode() if lb else None,
        be.group(1).decode() if be else None,
    )


def _request(t: Target, method: str = "GET") -> bytes:
    if method == "POST":
        return (
            f"POST {t.path} HTTP/1.1\r\nHost: {t.host}\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(POST_BODY)}\r\n\r\n"
        ).encode() + POST_BODY
    return f"GET {t.path} HTTP/1.1\r\nHost: {t.host}\r\nConnection: close\r\n\r\n".encode()


async def _get(t: Target, method: str) -> tuple[int, str | None, str | None, str | None]:
    reader, writer = await asyncio.open_connection(t.address, t.port)
    try:
        writer.write(_request(t, method))
        data = await reader.read(-1)
    finally:
        writer.close()
    return (*_parse(data), version_of(data))


def _get_tls(
    t: Target, timeout: float, method: str = "GET"
) -> tuple[int, str | None, str | None, bool | None, str | None, str | None]:
    """One request over TLS (blocking: the ssl module offers a session only there)."""
    assert t.tls is not None
    with socket.create_connection((t.address, t.port), timeout=timeout) as raw:
        offered = t.session if t.resume else None
        with t.tls.wrap_socket(raw, server_hostname=t.host, session=offered) as conn:
            conn.sendall(_request(t, method))
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            resumed = conn.session_reused
            if t.resume and conn.session is not None:
                t.session = conn.session  # TLS 1.3: its ticket came with the answer
            if not chunks:  # a ragged end: the server went away mid-exchange
                raise ConnectionAbortedError("closed before an answer")
            data = b"".join(chunks)
            return (*_parse(data), resumed, conn.version(), version_of(data))


async def one(t: Target, timeout: float, method: str = "GET") -> Request:
    t0 = time.monotonic()
    r = await _one(t, timeout, t0, method)
    return r if method == "GET" else dataclasses.replace(r, method=method)


async def _one(t: Target, timeout: float, t0: float, method: str) -> Request:
    try:
        if t.tls is None:
            status, lb, be, version = await asyncio.wait_for(_get(t, method), timeout)
            return Request(t0, time.monotonic(), status, lb, be, None, version=version)
        status, lb, be, resumed, proto, version = await asyncio.wait_for(
            asyncio.to_thread(_get_tls, t, timeout, method), timeout
        )
        return Request(t0, time.monotonic(), status, lb, be, None, resumed, proto, version=version)
    except TimeoutError:
        return Request(t0, time.monotonic(), 0, None, None, "timeout")
    except ssl.SSLError as e:
        return Request(t0, time.monotonic(), 0, None, None, f"SSLError: {e.reason or e}")
    except OSError as e:
        return Request(t0, time.monotonic(), 0, None, None, type(e).__name__)


async def loop(
    t: Target,
    interval: float,
    duration: float,
    max_requests: int,
    timeout: float,
    emit,
    post_every: int = 0,
) -> None:
    stop = asyncio.Event()
    ev_loop = asyncio.get_running_loop()
    # HTTPS requests run in threads (the ssl module offers a session only there): one
    # each for every request that can be open at once, so a request waiting out a
    # dropped SYN never holds back the ones started after it (asyncio's default pool
    # has a handful of threads: requests queued behind stalled ones looked slow too).
    ev_loop.set_default_executor(
        ThreadPoolExecutor(max_workers=min(MAX_THREADS, int(timeout / interval) + 8))
    )

    def watch_stdin() -> None:
        sys.stdin.read()
        ev_loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    start = time.monotonic()
    emit({"ready": start})
    tasks: set[asyncio.Task] = set()

    async def run_one(method: str) -> None:
        emit(_asdict(await one(t, timeout, method)))

    for i in range(max_requests):
        due = start + i * interval
        if due - start > duration:
            break
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
            break  # stopped
        except TimeoutError:
            pass
        is_post = post_every > 0 and i % post_every == post_every - 1
        task = asyncio.create_task(run_one("POST" if is_post else "GET"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=timeout + 1)
    emit({"done": time.monotonic()})


def _asdict(r: Request) -> dict:
    out = {
        "t0": r.t0,
        "t1": r.t1,
        "status": r.status,
        "lb": r.lb,
        "backend": r.backend,
        "error": r.error,
    }
    if r.tls is not None or r.resumed is not None:
        out |= {"resumed": r.resumed, "tls": r.tls}
    if r.method != "GET":
        out["method"] = r.method
    if r.version is not None:
        out["version"] = r.version
    return out


async def until_ok(t: Target, timeout: float, want_backend: str | None) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Long enough for nginx to try a black-holed primary (connect timeout) and
        # then the backup: a client that gives up first makes nginx drop the attempt.
        r = await one(t, 3.0)
        if r.ok and (want_backend is None or r.backend == want_backend):
            print(json.dumps(_asdict(r)), flush=True)
            return 0
        await asyncio.sleep(0.02)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.probe")
    p.add_argument("url")
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--max-requests", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--until-ok", action="store_true")
    p.add_argument("--backend", help="with --until-ok: wait for this Tomcat")
    p.add_argument("--marker", default=DEFAULT_MARKER, help="the backend page's marker key")
    p.add_argument("--servername", help="https: the name sent and verified (default: the URL's)")
    p.add_argument("--cafile", help="https: the trust anchors (default: the system's)")
    p.add_argument("--resume", action="store_true", help="https: offer the last TLS session")
    p.add_argument(
        "--post-every", type=int, default=0, help="every Nth request a POST (a 1 KB form body)"
    )
    a = p.parse_args(argv)
    set_marker(a.marker)
    t = target(a.url, a.servername, a.cafile, a.resume)
    if a.until_ok:
        return asyncio.run(until_ok(t, a.duration, a.backend))

    def emit(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    asyncio.run(loop(t, a.interval, a.duration, a.max_requests, a.timeout, emit, a.post_every))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
