"""Rollouts measured in the network-namespace lab, printed as a markdown table.

    sudo venv/bin/python -m bench.rollout [--stack dev] [--changes a,b] [--json FILE] [--save]
    venv/bin/python -m bench.rollout --rows     # the docs' table, from the saved figures

For each kind of change: the lab up (a serving stack), the program's remote steps for
the changed settings recorded under Pulumi mocks and replayed on the lab's nodes in
their dependency order (bench/replay.py: stage on every node, then one activation at a
time behind its gate), while a client sends one request through the VIP every 20 ms
(each bounded by 2 s, the loop bounded in time). Printed per change: requests sent and
failed, the longest wait for an answer, the VIP holder over time, where the rollout
stopped and what it reported. The lab is taken down after each change, also on errors.
``--save`` writes docs/figures/rollout.json, which the docs' table is generated from
(bench/docfigures.py).

The changes:
- nginx-setting: nginx.readTimeout 1 s -> 2 s (nginx.conf on each load balancer);
- broken-nginx: nginx.conf edited as a bad template change would (every upstream server
  on a port nothing listens on): it passes `nginx -t`, cannot serve; the rollout must
  stop at the first load balancer and roll it back, the MASTER untouched;
- keepalived-unit: keepalived.version 2.3.3 (a new unit: keepalived restarts; the lab
  runs its own keepalived binary, so the unit names it again);
- health-path: nginx.healthPath (nginx.conf, the check script and the watcher at once);
- tomcat-page: every backend's ROOT page changed (one backend at a time);
with the user's application (nginx-ha:app; the test application of support/war.py,
every fourth request of the loop a POST with a 1 KB form body):
- app-first: the node page replaced by the application 1.0.0 (uploaded, unpacked, each
  backend drained while its Tomcat restarts);
- app-deploy: the application 1.0.0 -> 2.0.0 (a cold build: its first request takes
  3 s more), one backend at a time, each warmed up before it takes requests;
- app-deploy-cold: the same without the warm-up (app.warmupPaths []): what the warm-up
  saves (in the sandbox's VMs every first request of a JSP is that slow);
- broken-app: a build whose health path answers 500: it must stop at the first
  backend, which gets 1.0.0 back, the other backend untouched;
with HTTPS at the VIP (the lab's https profile with a certificate of a test CA of the
bench's own, which the client trusts through tls.ca; the request loop over HTTPS,
every connection offered the last one's TLS session):
- tls-certificate: a renewed certificate with a new key from the same CA (the key on
  stdin, the chain staged and checked by nginx -t with it, one load balancer at a time);
- tls-ticket-keys: a new session ticket key first, the old one kept to decrypt;
- broken-tls: a certificate for another name with the stack's key, as a bad renewal
  would bring (past the settings' checks): it passes nginx -t, the gate's verified
  handshake refuses it at the first load balancer, which is rolled back.
A change that replaces VMs cannot happen in the lab: its order under mocks is in the
program tests (tests/program/test_rollout.py), its effect in the sandbox's e2e run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import figures_files, figures_rollout, replay  # noqa: E402
from bench.rollout_changes import (  # noqa: E402, F401 - the changes, as the tests ask for them
    APP_BASE,
    CHANGES,
    TLS_AFTER,
    TLS_BASE,
    Change,
    app_settings,
    app_war,
    build_wars,
)
from lab.client import Probe  # noqa: E402
from lab.config import lab_settings, merge  # noqa: E402
from lab.lab import Lab  # noqa: E402
from lab.probe import Request  # noqa: E402
from nginx_ha.config import stackfiles  # noqa: E402

INTERVAL = 0.02  # one request every 20 ms
REQUEST_TIMEOUT = 2.0
LOOP_LIMIT = 300.0  # the request loop ends by itself after this many seconds


@dataclass
class Outcome:
    change: Change
    requests: list[Request]
    holders: list[tuple[float, str]]  # (seconds since the start, holder) when it changed
    replay: replay.Replay
    started: float
    seconds: float

    @property
    def failed(self) -> list[Request]:
        return [r for r in self.requests if not r.ok]

    @property
    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def versions(self) -> str:
        """Which version each backend served, in order of first answer: "b@1.0.0 ..."."""
        seen: dict[tuple[str | None, str | None], None] = {}
        for r in sorted(self.requests, key=lambda r: r.t0):
            if r.ok and r.version:
                seen.setdefault((r.backend, r.version), None)
        return ", ".join(f"{b} {v}" for b, v in seen)

    @property
    def worst_latency(self) -> float:
        return max((r.latency for r in self.requests), default=0.0)

    @property
    def longest_gap(self) -> float:
        """The longest time the client waited for a successful answer: between the
        start of a request and the end of the next successful one."""
        oks = sorted(r.t1 for r in self.requests if r.ok)
        gap, last = 0.0, self.started
        for t in oks:
            gap, last = max(gap, t - last), t
        return gap

    def stopped(self) -> str:
        failed = self.replay.failed
        if failed is None:
            return f"completed ({len(self.replay.activations)} activations)"
        return f"stopped at {failed.step.name}"

    def report(self) -> str:
        failed = self.replay.failed
        if failed is None:
            return ""
        lines = [ln for ln in failed.output.splitlines() if ln.startswith("nginx-ha:")]
        return lines[-1] if lines else failed.output[-300:]


def holder_timeline(lab: Lab, stop: threading.Event, out: list[tuple[float, str]], t0: float):
    last = None
    while not stop.is_set():
        holders = ",".join(lab.vip_holders()) or "nobody"
        if holders != last:
            out.append((time.monotonic() - t0, holders))
            last = holders
        time.sleep(0.05)


def steps_for(lab: Lab, settings: dict[str, Any]) -> list[replay.Step]:
    """The program's replayed steps for the lab's stack with ``settings`` overridden."""
    extra = merge(lab.overrides or {}, settings)
    cfg = lab_settings(lab.stack, lab.profile_name, lab.keepalived_version, extra=extra)
    recorded = replay.record(
        cfg.settings,
        {name: ln.layout for name, ln in lab.nodes.items()},
        keepalived_version=lab.keepalived_version,
        keepalived_ipvs=lab.topo.keepalived.ipvs,
        vrrp_secret=lab.cfg.auth_secret,
    )
    return replay.plan(recorded, {str(ln.node.ip): name for name, ln in lab.nodes.items()})


@contextmanager
def deployed(lab: Lab) -> Iterator[Lab]:
    """The lab up and as the first `pulumi up` leaves its nodes (deploy), taken down
    after, also on errors."""
    lab.up(log=lambda *_: None)
    try:
        deploy(lab)
        yield lab
    finally:
        lab.down(log=lambda *_: None)


def deploy(lab: Lab) -> None:
    """What the first `pulumi up` leaves on the nodes (units, stamps): the program's
    steps for the unchanged stack, replayed once before any change is measured."""
    namespaces = {name: ln.ns for name, ln in lab.nodes.items()}
    done = replay.execute(steps_for(lab, {}), namespaces)
    if done.failed is not None:
        raise RuntimeError(f"the baseline deployment failed: {done.failed.output[-1000:]}")


def run(lab: Lab, change: Change, log: Callable[[str], None]) -> Outcome:
    steps = steps_for(lab, change.settings)
    if change.edit is not None:
        suffix, edit = change.edit
        steps = [_edited(s, suffix, edit) for s in steps]
    namespaces = {name: ln.ns for name, ln in lab.nodes.items()}
    probe = Probe(
        lab,
        interval=INTERVAL,
        duration=LOOP_LIMIT,
        timeout=REQUEST_TIMEOUT,
        post_every=change.post_every,
        marker=change.marker,
    )
    holders: list[tuple[float, str]] = []
    stop = threading.Event()
    t0 = time.monotonic()
    sampler = threading.Thread(target=holder_timeline, args=(lab, stop, holders, t0))
    sampler.start()
    try:
        time.sleep(1.0)  # a second of service before the change
        done = replay.execute(steps, namespaces, log=log)
        time.sleep(2.0)  # and after it
    finally:
        stop.set()
        sampler.join()
        requests = probe.stop()
    return Outcome(change, requests, holders, done, t0, time.monotonic() - t0)


def _edited(step: replay.Step, suffix: str, edit: Callable[[str], str]) -> replay.Step:
    if step.kind != "upload" or not step.name.endswith(suffix):
        return step
    return dataclasses.replace(step, text=edit(step.text))


def timeline(o: Outcome) -> str:
    return " -> ".join(f"{h} @{t:.1f} s" for t, h in o.holders)


def table(outcomes: list[Outcome]) -> str:
    rows = [
        "| change | expected | requests | failed | worst latency | longest wait | VIP holder over time | rollout | report |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        expected = "succeeds" if o.change.succeeds else "stops after the first node"
        rows.append(
            f"| {o.change.name}: {o.change.what} | {expected} | {len(o.requests)}"
            f"{f' ({len(o.posts)} POST)' if o.posts else ''} | "
            f"{len(o.failed)} | {o.worst_latency:.2f} s | {o.longest_gap:.2f} s | "
            f"{timeline(o)} | {o.stopped()} | {o.report().replace('|', '/')[:300]} |"
        )
    return "\n".join(rows)


def as_json(o: Outcome) -> dict[str, Any]:
    return {
        "change": o.change.name,
        "what": o.change.what,
        "succeeds": o.change.succeeds,
        "shows_loss": o.change.shows_loss,
        "requests": len(o.requests),
        "failed": len(o.failed),
        "posts": len(o.posts),
        "failed_posts": len([r for r in o.posts if not r.ok]),
        "versions": o.versions,
        "failures": sorted({r.error or f"HTTP {r.status}" for r in o.failed}),
        # Each failed request, and the slowest ones: when (seconds since the start),
        # what, and who answered.
        "failed_requests": [_request_row(o, r) for r in o.failed][:50],
        "slowest": [_request_row(o, r) for r in sorted(o.requests, key=lambda r: -r.latency)[:5]],
        "worst_latency": round(o.worst_latency, 3),
        "longest_gap": round(o.longest_gap, 3),
        "holders": [[round(t, 2), h] for t, h in o.holders],
        "stopped": o.stopped(),
        "report": o.report(),
        "steps": [
            {
                "name": r.step.name,
                "ok": r.ok,
                "at": round(r.started - o.started, 2),
                "seconds": round(r.seconds, 2),
                "output": r.output[-2000:],
            }
            for r in o.replay.results
        ],
    }


def _request_row(o: Outcome, r: Request) -> dict[str, Any]:
    return {
        "at": round(r.t0 - o.started, 3),
        "latency": round(r.latency, 3),
        "method": r.method,
        "status": r.status,
        "error": r.error,
        "lb": r.lb,
        "backend": r.backend,
        "version": r.version,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.rollout", description=str(__doc__).split("\n\n")[0]
    )
    p.add_argument("--stack", default="dev")
    p.add_argument(
        "--changes", default=",".join(CHANGES), help="comma-separated: " + ", ".join(CHANGES)
    )
    p.add_argument("--json", type=Path, help="also write every request and step here")
    p.add_argument("--save", action="store_true", help="write docs/figures/rollout.json")
    p.add_argument("--rows", action="store_true", help="print the docs' table and exit")
    args = p.parse_args(argv)
    if args.rows:
        print("\n".join(figures_rollout.rollout_table()))
        return 0
    if os.geteuid() != 0:
        print(
            "bench.rollout needs root (network namespaces, daemons): run it with sudo",
            file=sys.stderr,
        )
        return 2
    stackfiles.read_config(args.stack, ROOT)  # an unknown stack fails here, clearly
    outcomes = []
    names = args.changes.split(",")
    if any("app" in CHANGES[n].settings for n in names):
        build_wars()
    for name in names:
        change = CHANGES[name]
        lab = Lab(
            args.stack, change.profile, instance=f"rollout-{args.stack}", overrides=change.base
        )
        with deployed(lab):
            print(f"# {name}: {change.what}", file=sys.stderr)
            outcomes.append(run(lab, change, log=lambda line: print(f"  {line}", file=sys.stderr)))
    print(table(outcomes))
    results = [as_json(o) for o in outcomes]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.save:
        path = save(args.stack, results)
        print(f"saved {path.relative_to(figures_files.ROOT)}", file=sys.stderr)
    return 0


def save(stack: str, results: list[dict[str, Any]]) -> Path:
    """docs/figures/rollout.json: each change's figures (not its requests and steps)."""
    keep = ("change", "what", "succeeds", "shows_loss", "requests", "failed", "posts")
    keep += ("failed_posts",)
    keep += ("versions", "failures", "worst_latency")
    keep += ("longest_gap", "holders", "stopped", "report")
    changes = [
        {
            **{k: r[k] for k in keep},
            # Each activation's start (s after the loop's) and length.
            "activations": [
                [s["name"].removesuffix("-activate"), s["at"], s["seconds"]]
                for s in r["steps"]
                if s["name"].endswith("-activate")
            ],
        }
        for r in results
    ]
    return figures_files.save("rollout", {"stack": stack, "changes": changes})


if __name__ == "__main__":
    raise SystemExit(main())
