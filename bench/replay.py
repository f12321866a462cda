"""A rollout replayed against the network-namespace lab: the program's own remote steps,
recorded under Pulumi mocks, run in their dependency order on the lab's nodes.

Where the Pulumi engine cannot run (CI has no libvirt providers), this is how the
stage/activate/gate logic meets real nginx and keepalived: :func:`record` builds the
real ``NginxHaStack`` under recording mocks with the lab's per-node layouts and the
keepalived the lab runs; :func:`plan` keeps the steps a rollout runs on a node that
already exists (uploads, stage, the VRRP secret, activations: not the VMs, cloud-init,
packages or builds, which the lab provides itself) in an order the recorded
dependencies allow; :func:`execute` runs each inside its node's namespace, as root,
and stops at the first failure, as ``pulumi up`` would.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from nginx_ha.components.stack import NginxHaStack, NginxHaStackArgs
from nginx_ha.config import Settings
from nginx_ha.config.capabilities import Version
from nginx_ha.config.pins import TLS_TICKET_KEY_SLOTS
from nginx_ha.topology import Layout
from support import mocks, netns

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
# What a rollout runs on a node that exists; the rest (VM, cloud-init, packages,
# builds, the LVS real-server step, the smoke test) the lab provides or checks itself.
# The secrets' stage steps: the VRRP secret, and with nginx-ha:tls the key, the ticket
# keys and (tls.selfSigned) the certificate and CA derived from the seed.
SECRET_STEPS = ("-keepalived-auth", "-tls-key", "-tls-certificate", "-tls-trust")
SECRET_STEPS += tuple(f"-tls-ticket-key-{i}" for i in range(TLS_TICKET_KEY_SLOTS))
REPLAYED = ("-upload", "-stage", *SECRET_STEPS, "-activate", "-handback")
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 - Pulumi's secret signature


@dataclass(frozen=True)
class Step:
    name: str
    node: str
    kind: str  # "upload": ``text`` (or the file ``local``) goes to ``path``; "command": ``command`` runs
    text: str = ""
    local: str = ""  # a file of this machine uploaded (a WAR), instead of ``text``
    path: str = ""
    command: str = ""
    stdin: str | None = None


@dataclass
class Result:
    step: Step
    ok: bool
    seconds: float
    started: float  # time.monotonic() at its start
    output: str


@dataclass
class Replay:
    results: list[Result] = field(default_factory=list)

    @property
    def failed(self) -> Result | None:
        return next((r for r in self.results if not r.ok), None)

    @property
    def activations(self) -> list[Result]:
        return [r for r in self.results if r.step.name.endswith("-activate")]


def record(
    settings: Settings,
    layouts: Mapping[str, Layout],
    *,
    keepalived_version: Version,
    keepalived_ipvs: bool,
    vrrp_secret: str | None,
) -> mocks.Run:
    """The program's resources for ``settings`` on the lab's nodes, under mocks."""
    recorder = mocks.start(project=settings.project, stack=settings.stack)
    try:

        @pulumi.runtime.test
        def program():
            NginxHaStack(
                "nginx-ha",
                NginxHaStackArgs(
                    settings,
                    ssh_private_key="lab: not used",
                    vrrp_auth_pass=vrrp_secret,
                    layouts=layouts,
                    keepalived_version=keepalived_version,
                    keepalived_ipvs=keepalived_ipvs,
                ),
            )
            return recorder.settle()

        program()  # pyright: ignore[reportUnusedCoroutine] # runtime.test runs it to the end
        recorder.finish()
    finally:
        mocks.stop()
    return mocks.Run(recorder, {})


def unsecret(value: Any) -> Any:
    """A value as the mocks recorded it, without the secret wrapper (an input made of
    a secret, such as a connection with its private key, is recorded wrapped)."""
    if isinstance(value, dict) and SECRET_SIG in value and "value" in value:
        return value["value"]
    return value


def plan(run: mocks.Run, node_of_host: Mapping[str, str]) -> list[Step]:
    """The replayed steps, each after every replayed step it waits for."""
    kept = {
        r.key: r for r in run.resources if r.typ in (COMMAND, COPY) and r.name.endswith(REPLAYED)
    }
    waits = {key: run.waits_for(key) & set(kept) for key in kept}
    order: list[str] = []
    done: set[str] = set()
    # The recorded order, moved only as far as a dependency asks (stable).
    pending = [r.key for r in run.resources if r.key in kept]
    while pending:
        ready = next((k for k in pending if waits[k] <= done), None)
        if ready is None:
            raise RuntimeError(f"a dependency cycle among {pending}")
        order.append(ready)
        done.add(ready)
        pending.remove(ready)
    steps = []
    for key in order:
        r = kept[key]
        connection = unsecret(r.inputs["connection"])
        host = connection.get("host") if isinstance(connection, dict) else None
        if host is None:
            raise RuntimeError(f"{r.name}: no connection host in {sorted(connection)}")
        node = node_of_host[host]
        if r.typ == COPY:
            source = r.inputs["source"]
            local = getattr(source, "path", None)
            steps.append(
                Step(
                    r.name,
                    node,
                    "upload",
                    text="" if local else source.text,
                    local=local or "",
                    path=r.inputs["remotePath"],
                )
            )
        else:
            stdin = unsecret(r.inputs.get("stdin"))
            steps.append(
                Step(
                    r.name,
                    node,
                    "command",
                    command=r.inputs["create"],
                    stdin=stdin if isinstance(stdin, str) else None,
                )
            )
    return steps


def execute(
    steps: Sequence[Step],
    namespace_of: Mapping[str, str],
    *,
    log: Callable[[str], None] = lambda _line: None,
    timeout: float = 600,
) -> Replay:
    """Run ``steps`` on the lab's nodes (``namespace_of``: node -> namespace) until one
    fails."""
    replay = Replay()
    for step in steps:
        started = time.monotonic()
        if step.kind == "upload":
            target = Path(step.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            if step.local:
                shutil.copyfile(step.local, target)
            else:
                target.write_text(step.text)
            ok, output = True, f"uploaded {target}"
        else:
            res = subprocess.run(
                netns.in_ns(namespace_of[step.node], "bash", "-c", step.command),
                input=step.stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            ok, output = res.returncode == 0, (res.stdout + res.stderr).strip()
        result = Result(step, ok, time.monotonic() - started, started, output)
        replay.results.append(result)
        log(f"{'ok ' if ok else 'FAILED'} {step.name} ({result.seconds:.2f} s)")
        if not ok:
            break
    return replay
