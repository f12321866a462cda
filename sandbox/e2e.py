"""End to end: ``pulumi up --stack sandbox`` on the sandbox libvirt, then the checks
(docs/e2e.md) from inside the namespace, then ``pulumi destroy`` and ``sandbox down``.

``up`` and ``destroy`` run through ``python -m nginx_ha up|destroy`` (Pulumi's
Automation API): their progress streams as they go (phase lines, each resource step as
it starts and ends with a live count, a line naming what still runs every 30 s), and
the phase times come from the engine's events.

Run through ``scripts/e2e.sh`` (root). Every Pulumi command runs in a throwaway copy
of the project (``.run/e2e/project``: symlinks to the program, a copy of
``Pulumi.sandbox.yaml``) so the generated key and secrets never touch a tracked file,
with a local file backend and a throwaway passphrase under ``.run/e2e``. Whatever
fails, the stack is destroyed and the sandbox taken down (unless it was up before).

Writes ``.run/e2e/summary.json`` (phases, checks, ok) and prints the phase and check
tables; exits 1 when a check failed, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nginx_ha.render.params import script_text
from nginx_ha.topology import Layout
from nginx_ha.topology.naming import parse_page_marker
from sandbox import config, vm
from sandbox.bounded import bounded
from sandbox.vip_loop import VipLoop, loop_text
from support.netns import in_ns, processes

ROOT = config.PROJECT_ROOT
WORK = ROOT / ".run" / "e2e"
PROJECT = WORK / "project"
STACK = "sandbox"
NETNS = config.NETNS
LINKED = (
    "__main__.py",
    "Pulumi.yaml",
    "requirements.txt",
    "nginx_ha",
    "venv",
    "scripts",
    "sandbox",
)
KEY = PROJECT / ".run" / "keys" / f"{STACK}_ed25519"
FAILOVER_LIMIT = 90.0  # seconds for the VIP to answer from the BACKUP
# The time limit of each `pulumi` call, in seconds, by its subcommand ("up-change": an
# `up` after a config change). A call still running at its limit is interrupted as Ctrl-C
# would (SIGINT to its process group, killed after GRACE) and the run stops with a
# message naming the call and the limit, then cleans up as on Ctrl-C (destroy, sandbox
# down). The first `up` took 23 to 34 min on 2 loaded cores (docs/e2e.md).
LIMITS = {
    "up": 3600.0,
    "up-change": 1200.0,
    "preview": 600.0,
    "destroy": 1200.0,
    "config": 120.0,
    "stack": 120.0,
}
# The request loop through the VIP runs during each change (sandbox/vip_loop.py); it
# ends by itself after this many seconds even if nobody stops it.
LOOP_LIMIT = LIMITS["up-change"] + 60
# The broken change: an nginx setting that passes `nginx -t` but cannot serve. A 1 ms
# proxy_read_timeout: no Tomcat of an emulated VM answers that fast, so every request
# through that nginx ends in 504 (both backends time out) while its local health
# location still answers 200 (issue 13: keepalived's check alone would keep the VIP
# there). The rollout's gate must catch it at the first load balancer.
BROKEN_READ_TIMEOUT = "0.001"
# The working change, and the value the revert goes back to: the stack's readTimeout is
# 5 s (Pulumi.sandbox.yaml); a Tomcat in an emulated VM can take over a second.
CHANGED_READ_TIMEOUT = "4"
# After a failed check, each load balancer's journal since this long ago (journalctl
# --since) is kept in .run/e2e/diag-NODE.txt (sandbox/templates/diagnose.sh).
DIAG_SINCE = "-2h"


def diagnose_script(since: str = DIAG_SINCE) -> str:
    """sandbox/templates/diagnose.sh as a load balancer runs it (as root, on stdin)."""
    layout = Layout()
    return script_text(
        config.TEMPLATES.file("diagnose.sh"),
        {
            "STATE_DIR": layout.vrrp_state_dir,
            "DRAIN_DIR": layout.drain_dir,
            "HEALTH_FILE": layout.health_file,
            "SINCE": since,
        },
    )


def clone_facts_script() -> str:
    """sandbox/templates/clone_facts.sh as a node runs it (as its user, on stdin)."""
    return script_text(config.TEMPLATES.file("clone_facts.sh"))


def lb_facts_script() -> str:
    """sandbox/templates/lb_facts.sh as a load balancer runs it (as its user, on stdin)."""
    return script_text(config.TEMPLATES.file("lb_facts.sh"), {"NGINX_CONF": Layout().nginx_conf})


def step_ends(events: Path) -> dict[str, float]:
    """ "command:NAME" / "libvirt:NAME" -> when the step ended (its first "done"), from
    the JSON lines ``python -m nginx_ha ... --events`` writes."""
    done: dict[str, float] = {}
    if not events.exists():
        return done
    for line in events.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if e.get("event") != "done":
            continue
        typ = "command:" if str(e.get("type", "")).startswith("command:") else "libvirt:"
        done.setdefault(typ + str(e.get("name", "")), float(e["t"]))
    return done


class E2E:
    def __init__(
        self,
        out=print,
        limits: dict[str, float] | None = None,
        parallel: int | None = None,
    ):
        self.out = out
        self.phases: list[tuple[str, float, str]] = []
        self.checks: list[tuple[str, bool, str]] = []
        self.env = dict(os.environ)
        self.env.update(
            PATH=f"{ROOT / '.toolchain' / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            PULUMI_BACKEND_URL=f"file://{WORK / 'state'}",
            PULUMI_CONFIG_PASSPHRASE=_throwaway_passphrase(),
            PULUMI_HOME=str(WORK / "pulumi-home"),
            PULUMI_SKIP_UPDATE_CHECK="1",
            PULUMI_DIY_BACKEND_NO_LEGACY_WARNING="1",
            STACK=STACK,
        )
        self.env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        self.stack_made = False
        self.outputs: dict = {}
        self.limits = {**LIMITS, **(limits or {})}
        self.parallel = parallel  # None: Pulumi's default (--parallel), as a user gets
        self.netns: str | None = NETNS  # None: run the commands here (the unit tests)
        self.loops: dict[str, dict] = {}  # the request loop's figures per change
        self.diagnosed = False  # the load balancers' reports kept (diagnose)

    # ------------------------------------------------------------------ helpers
    def phase(self, name: str, seconds: float, notes: str = "") -> None:
        self.phases.append((name, seconds, notes))
        self.out(f"== phase {name}: {seconds:.1f} s {notes}")

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, bool(ok), detail))
        self.out(f"== check {'PASS' if ok else 'FAIL'} {name}: {detail}")
        if not ok and not self.diagnosed and self.outputs:
            # At once: a later step (the failover check restarts the MASTER) would take
            # what the nodes remember of the failure with it.
            self.diagnose()
        return bool(ok)

    def run(
        self,
        cmd: list[str],
        *,
        netns: bool = False,
        check: bool = True,
        timeout: float = 600,
        log: str | None = None,
        input: str | None = None,
        name: str | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> subprocess.CompletedProcess:
        """``cmd`` (in the sandbox's namespace with ``netns``) for at most ``timeout``
        seconds (:func:`bounded`); raises when it fails and ``check``."""
        full = in_ns(self.netns, *cmd) if netns and self.netns else list(cmd)
        p = bounded(
            full,
            name=name or " ".join(cmd[:4]),
            limit=timeout,
            cwd=PROJECT,
            env=self.env,
            log=WORK / log if log else None,
            input=input,
            on_line=on_line,
        )
        if check and p.returncode != 0:
            tail = "\n".join(
                (p.stdout or "").splitlines()[-40:] + (p.stderr or "").splitlines()[-20:]
            )
            raise RuntimeError(f"{name or ' '.join(cmd[:4])} failed (rc {p.returncode}):\n{tail}")
        return p

    def pulumi(
        self,
        *args: str,
        log: str | None = None,
        check: bool = True,
        limit: str | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> subprocess.CompletedProcess:
        """``pulumi ARGS --stack sandbox`` in the namespace, bounded by its time limit
        (``LIMITS[limit or ARGS[0]]``)."""
        key = limit or args[0]
        return self.run(
            ["pulumi", *args, "--stack", STACK, "--non-interactive"],
            netns=True,
            log=log,
            check=check,
            timeout=self.limits[key],
            name=f"pulumi {' '.join(a for a in args if not a.startswith('-'))} --stack {STACK}",
            on_line=on_line,
        )

    def pulumi_run(
        self, command: str, *args: str, log: str, limit: str | None = None, check: bool = True
    ) -> tuple[subprocess.CompletedProcess, dict[str, float]]:
        """``python -m nginx_ha COMMAND --stack sandbox --yes`` in the namespace: the
        operation through Pulumi's Automation API, its progress (phase lines, the live
        ``[done/total]`` count) on stderr and into WORK/log as it comes, bounded by the
        time limit of ``limit`` (default: COMMAND); return the run and "type:name" ->
        when its step ended, from the engine's events (WORK/<log>.events.jsonl). Raises
        when it fails and ``check``."""
        events = WORK / f"{log}.events.jsonl"
        events.unlink(missing_ok=True)
        p = self.run(
            [
                str(ROOT / "venv" / "bin" / "python"),
                "-m",
                "nginx_ha",
                command,
                "--stack",
                STACK,
                "--yes",
                "--plain",
                "--project-dir",
                str(PROJECT),
                "--events",
                str(events),
                *args,
            ],
            netns=True,
            log=log,
            check=check,
            timeout=self.limits[limit or command],
            name=f"pulumi {command} --stack {STACK} (python -m nginx_ha {command})",
            on_line=lambda line: self.out(line.rstrip("\n")),
        )
        return p, step_ends(events)

    def parallel_args(self) -> list[str]:
        return [] if self.parallel is None else [f"--parallel={self.parallel}"]

    def parallel_note(self) -> str:
        if self.parallel is None:
            return f"Pulumi's default parallelism ({4 * (os.cpu_count() or 1)}: 4 per CPU)"
        return f"--parallel={self.parallel}"

    def virsh(self, *args: str, check: bool = True) -> str:
        uri = config.libvirt_uri(config.Paths.for_checkout().socket)
        return self.run(["virsh", "-c", uri, *args], check=check, timeout=60).stdout

    def ssh_cmd(self, ip: str, command: str) -> list[str]:
        return vm.ssh_argv(KEY, ip, command, connect_timeout=10)

    def ssh(self, ip: str, command: str, timeout: float = 60, input: str | None = None) -> str:
        return self.run(self.ssh_cmd(ip, command), netns=True, timeout=timeout, input=input).stdout

    def vip_get(self, timeout: float = 3) -> tuple[str, str]:
        """(X-Served-By, backend name) of one request to the VIP from the namespace."""
        p = self.run(
            ["curl", "-sS", "-m", str(timeout), "-D", "-", self.outputs["url"]],
            netns=True,
            check=False,
            timeout=timeout + 5,
        )
        served = re.search(r"(?im)^x-served-by:\s*(\S+)", p.stdout or "")
        backend = parse_page_marker(p.stdout or "")
        return (served.group(1) if served else "", backend[0] if backend else "")

    # ------------------------------------------------------------------ steps
    def prepare(self) -> None:
        shutil.rmtree(PROJECT, ignore_errors=True)
        PROJECT.mkdir(parents=True)
        for name in LINKED:
            (PROJECT / name).symlink_to(ROOT / name)
        (PROJECT / ".toolchain").symlink_to(ROOT / ".toolchain")
        shutil.copy(ROOT / f"Pulumi.{STACK}.yaml", PROJECT / f"Pulumi.{STACK}.yaml")
        (WORK / "state").mkdir(parents=True, exist_ok=True)

    def sandbox_up(self) -> None:
        t = time.monotonic()
        self.run([sys.executable, "-m", "sandbox", "up"], log="sandbox-up.log", timeout=1800)
        self.phase("sandbox up", time.monotonic() - t, "image current: reused")

    def bootstrap(self) -> None:
        t = time.monotonic()
        self.run(
            [str(PROJECT / "scripts" / "bootstrap.sh"), "--no-up"], log="bootstrap.log", timeout=600
        )
        self.stack_made = True
        self.phase("bootstrap (stack, key, secrets)", time.monotonic() - t)

    def up(self) -> None:
        t0 = time.time()
        _, done = self.pulumi_run("up", *self.parallel_args(), log="up.log")
        total = time.time() - t0
        first_domain = min((v for k, v in done.items() if k.endswith("-domain")), default=None)
        ready = [v for k, v in done.items() if k.endswith("-wait-ready")]
        remote_steps = [
            v for k, v in done.items() if k.startswith("command:") and not k.endswith("-smoke")
        ]
        smoke = next((v for k, v in done.items() if k.endswith("-smoke")), None)
        if first_domain:
            self.phase("up: first domain defined+started", first_domain - t0)
        if ready:
            self.phase("up: first VM booted (SSH + cloud-init)", min(ready) - t0)
            self.phase("up: all VMs booted", max(ready) - t0)
        if remote_steps:
            self.phase("up: remote steps done", max(remote_steps) - t0)
        if smoke:
            self.phase("up: VIP serving (smoke test passed)", smoke - t0)
        self.phase("pulumi up total", total, self.parallel_note())
        self.outputs = json.loads(self.pulumi("stack", "output", "--json").stdout)
        self.check(
            "up exports vip, url, nodes, smoke",
            all(k in self.outputs for k in ("vip", "url", "nodes", "smoke")),
            str(self.outputs.get("smoke")),
        )

    def check_vip(self) -> None:
        nodes = self.outputs["nodes"]
        master = next(n for n, v in nodes.items() if v.get("role") == "MASTER")
        primary = next(n for n, v in nodes.items() if v.get("role") == "primary")
        served, backend = self.vip_get()
        self.check(
            "VIP answers through the MASTER's nginx from the primary Tomcat",
            served == master and backend == primary,
            f"X-Served-By {served or '-'}, backend {backend or '-'} (expected {master}, {primary})",
        )

    def check_status(self, holder: str, when: str) -> None:
        """``python -m nginx_ha status --json`` (over SSH, host keys pinned) names
        ``holder`` as the live holder of the VIP."""
        p = self.run(
            [
                str(ROOT / "venv" / "bin" / "python"),
                "-m",
                "nginx_ha",
                "status",
                "--stack",
                STACK,
                "--json",
                "--project-dir",
                str(PROJECT),
            ],
            netns=True,
            check=False,
            timeout=180,
        )
        slug = when.replace(" ", "-")
        (WORK / f"status-{slug}.json").write_text(p.stdout + p.stderr)
        try:
            held = json.loads(p.stdout)["vips"][0]["heldBy"]
        except (json.JSONDecodeError, KeyError, IndexError):
            held = None
        self.check(
            f"status {when}: the VIP is held by {holder}",
            held == [holder],
            f"heldBy {held} (rc {p.returncode}; .run/e2e/status-{slug}.json)",
        )

    def check_clones(self) -> None:
        nodes = self.outputs["nodes"]
        facts = {}
        for name, n in nodes.items():
            text = self.ssh(n["ip"], "bash -s", input=clone_facts_script())
            lines = text.splitlines()
            link = {}
            for m in re.finditer(r"^\d+: (\S+?):.*link/ether ([0-9a-f:]{17})", text, re.M):
                link[m.group(1)] = m.group(2)
            addr_dev = {
                m.group(2): m.group(1)
                for m in re.finditer(r"^\d+: (\S+)\s+inet ([0-9.]+)/", text, re.M)
            }
            fps = sorted(re.findall(r"SHA256:\S+", text))
            dev = addr_dev.get(n["ip"])
            facts[name] = {
                "hostname": lines[0].strip(),
                "machine_id": lines[1].strip(),
                "mac_of_ip": link.get(dev or "", ""),
                "fps": fps,
            }
            f = facts[name]
            self.check(f"{name}: own hostname", f["hostname"] == name, f["hostname"])
            self.check(
                f"{name}: {n['ip']} on the interface with its MAC",
                f["mac_of_ip"] == n["mac"],
                f"{n['ip']} on {dev} ({f['mac_of_ip'] or '-'}), expected {n['mac']}",
            )
        ids = [f["machine_id"] for f in facts.values()]
        self.check(
            "machine-ids distinct",
            len(set(ids)) == len(ids) and all(ids),
            ", ".join(i[:8] for i in ids),
        )
        fps = [fp for f in facts.values() for fp in f["fps"]]
        self.check(
            "SSH host keys distinct",
            len(set(fps)) == len(fps) and len(fps) >= len(ids),
            f"{len(fps)} fingerprints, {len(set(fps))} distinct",
        )

    def check_no_changes(self) -> None:
        t = time.monotonic()
        p = self.pulumi("preview", "--expect-no-changes", log="preview-nochange.log", check=False)
        self.check(
            "preview --expect-no-changes right after up",
            p.returncode == 0,
            f"rc {p.returncode} in {time.monotonic() - t:.1f} s"
            + ("" if p.returncode == 0 else ": " + _changed_lines(p.stdout)),
        )

    # ------------------------------------------------------------------ changes
    def lb_roles(self) -> tuple[str, str]:
        """(the MASTER, the load balancer the rollout activates first: the BACKUP)."""
        nodes = self.outputs["nodes"]
        master = next(n for n, v in nodes.items() if v.get("role") == "MASTER")
        first = next(n for n, v in nodes.items() if v.get("role") == "BACKUP")
        return master, first

    def vip_holders(self) -> list[str]:
        """The load balancers that have the VIP on an interface now (over SSH). Not
        lo: every load balancer keeps a copy there (vrrp_state.sh, "linger"), which
        answers no ARP; the holder is the one with it on its VRRP interface."""
        vip = re.escape(str(self.outputs["vip"]))
        held = []
        for name, n in self.outputs["nodes"].items():
            if n.get("role") in ("MASTER", "BACKUP"):
                text = self.ssh(n["ip"], "ip -o -4 addr show", timeout=30)
                if _holds(text, vip):
                    held.append(name)
        return held

    def lb_facts(self, name: str) -> dict[str, str]:
        """What a change may touch on a load balancer: the live nginx.conf's digest and
        read timeout, and the PIDs of nginx's master process and of keepalived."""
        text = self.ssh(
            self.outputs["nodes"][name]["ip"], "bash -s", timeout=30, input=lb_facts_script()
        )
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def set_read_timeout(self, value: str) -> None:
        self.pulumi("config", "set", "--path", "nginx.readTimeout", value)

    def up_under_loop(self, label: str, log: str) -> tuple[subprocess.CompletedProcess, dict]:
        """``pulumi up`` (allowed to fail) while the request loop runs through the VIP,
        with the VIP's holder before and after; returns the run and the loop's figures
        (also kept for the summary)."""
        before = self.vip_holders()
        loop = VipLoop(
            self.outputs["url"], self.netns, self.env, WORK / f"loop-{log}.jsonl", LOOP_LIMIT
        )
        t = time.monotonic()
        try:
            time.sleep(1.0)  # a second of service before the change
            p, _ = self.pulumi_run("up", log=log, limit="up-change", check=False)
            took = time.monotonic() - t - 1.0
            time.sleep(2.0)  # and after it
        finally:
            figures = loop.stop()
        figures.update(holder_before=before, holder_after=self.vip_holders(), up_seconds=took)
        self.loops[label] = figures
        self.out(f"== request loop during {label}: {loop_text(figures)}")
        return p, figures

    def check_nginx_change(self) -> None:
        master, _ = self.lb_roles()
        self.set_read_timeout(CHANGED_READ_TIMEOUT)
        p = self.pulumi("preview", "--json", check=False)
        (WORK / "preview-nginx.json").write_text(p.stdout + p.stderr)
        try:
            steps = json.loads(p.stdout).get("steps", [])
        except json.JSONDecodeError:
            steps = []
        changed = sorted(
            {
                s["urn"].rsplit("::", 1)[1]
                for s in steps
                if s.get("op") not in ("same", "read")
                and not s["urn"].rsplit("::", 1)[0].endswith("pulumi:pulumi:Stack")
            }
        )
        # The rollout: nginx.conf uploaded and staged (validated) on both, then each
        # node's activation (the MASTER's after the BACKUP's gate), the handbacks and
        # the smoke test.
        allowed = re.compile(
            r"^(nginx-(master|backup)-(nginx-conf(-upload|-stage)?|activate|handback)"
            r"|nginx-ha-smoke)$"
        )
        self.check(
            "changed nginx setting updates only the nginx-conf steps, the activations and "
            "handbacks of the load balancers (+ smoke test)",
            bool(changed)
            and all(allowed.match(c) for c in changed)
            and any("nginx-conf" in c for c in changed),
            ", ".join(changed) or f"no steps (rc {p.returncode})",
        )
        p, loop = self.up_under_loop("the nginx change", "up-nginx.log")
        if p.returncode != 0:
            raise RuntimeError(f"pulumi up after the nginx change failed:\n{_tail(p.stdout)}")
        self.phase("up after the nginx change", loop["up_seconds"], loop_text(loop))
        self.check(
            "request loop through the VIP during the nginx change: no failed request",
            loop["sent"] > 0 and loop["failed"] == 0,
            loop_text(loop),
        )
        self.check(
            "the VIP is with the MASTER before and after the nginx change",
            loop["holder_before"] == [master] == loop["holder_after"],
            f"before {loop['holder_before']}, after {loop['holder_after']}",
        )
        read = self.lb_facts(master).get("read", "")
        self.check(
            "the new nginx setting is live on the MASTER",
            read == f"proxy_read_timeout {CHANGED_READ_TIMEOUT}s",
            read or "no proxy_read_timeout",
        )

    def check_broken_change(self) -> None:
        """A change that passes `nginx -t` but cannot serve must stop at the first load
        balancer's activation, rolled back there, with the VIP never failing."""
        master, first = self.lb_roles()
        before = {n: self.lb_facts(n) for n in (master, first)}
        self.set_read_timeout(BROKEN_READ_TIMEOUT)
        p, loop = self.up_under_loop("the broken change", "up-broken.log")
        after = {n: self.lb_facts(n) for n in (master, first)}
        self.phase(
            f"up with the broken change (nginx.readTimeout {BROKEN_READ_TIMEOUT}), stopped",
            loop["up_seconds"],
            loop_text(loop),
        )
        said = re.search(
            rf"nginx-ha: {re.escape(first)}: (activating \S+ failed its gate: .*)", p.stdout
        )
        report = said.group(1).strip() if said else ""
        self.check(
            f"broken change: up fails at {first}-activate with the gate's message",
            p.returncode != 0
            and f"{first}-activate" in p.stdout
            and "Rolled back: the previous version is back and passes the gate" in report,
            f"rc {p.returncode}: {report[:600] or _tail(p.stdout, 8)}",
        )
        self.check(
            "broken change: no failed request through the VIP",
            loop["sent"] > 0 and loop["failed"] == 0,
            loop_text(loop),
        )
        served = {lb for _, lb in loop["served_by"]}
        self.check(
            "broken change: the MASTER untouched",
            after[master] == before[master]
            and loop["holder_before"] == [master] == loop["holder_after"]
            and served == {master},
            f"{master}: nginx.conf {before[master].get('conf')} -> {after[master].get('conf')}, "
            f"nginx pid {before[master].get('nginx')} -> {after[master].get('nginx')}, "
            f"keepalived pid {before[master].get('keepalived')} -> "
            f"{after[master].get('keepalived')}; VIP before {loop['holder_before']}, after "
            f"{loop['holder_after']}; answered by {sorted(served)}",
        )
        self.check(
            f"broken change: {first} rolled back (its nginx.conf is the previous one)",
            after[first].get("conf") == before[first].get("conf")
            and after[first].get("read") == f"proxy_read_timeout {CHANGED_READ_TIMEOUT}s",
            f"nginx.conf {before[first].get('conf')} -> {after[first].get('conf')} "
            f"({after[first].get('read') or 'no proxy_read_timeout'})",
        )
        # Reverted, `up` passes again, with the loop running.
        self.set_read_timeout(CHANGED_READ_TIMEOUT)
        p, loop = self.up_under_loop("the revert", "up-revert.log")
        self.phase("up after reverting the broken change", loop["up_seconds"], loop_text(loop))
        self.check(
            f"revert (nginx.readTimeout {CHANGED_READ_TIMEOUT}): up passes, no failed request "
            "through the VIP",
            p.returncode == 0 and loop["sent"] > 0 and loop["failed"] == 0,
            f"rc {p.returncode}; {loop_text(loop)}"
            + ("" if p.returncode == 0 else f": {_tail(p.stdout, 8)}"),
        )
        q = self.pulumi("preview", "--expect-no-changes", log="preview-revert.log", check=False)
        self.check(
            "preview --expect-no-changes after the revert",
            q.returncode == 0,
            f"rc {q.returncode}" + ("" if q.returncode == 0 else ": " + _changed_lines(q.stdout)),
        )

    def check_failover(self) -> None:
        nodes = self.outputs["nodes"]
        master = next(n for n, v in nodes.items() if v.get("role") == "MASTER")
        backup = next(n for n, v in nodes.items() if v.get("role") == "BACKUP")
        t = time.monotonic()
        self.virsh("destroy", nodes[master]["domain"])
        seen = ("", "")
        while time.monotonic() - t < FAILOVER_LIMIT:
            seen = self.vip_get(timeout=2)
            if seen[0] == backup:
                break
            time.sleep(0.5)
        took = time.monotonic() - t
        self.check(
            f"virsh destroy of the MASTER: the VIP answers from {backup}",
            seen[0] == backup,
            f"after {took:.1f} s: X-Served-By {seen[0] or '-'}, "
            f"backend {seen[1] or '-'} (limit {FAILOVER_LIMIT:.0f} s)",
        )
        self.phase("failover: MASTER destroyed to VIP served by BACKUP", took)
        self.check_status(backup, "after the failover")
        self.virsh("start", nodes[master]["domain"], check=False)

    def destroy(self) -> None:
        t = time.monotonic()
        self.pulumi_run("destroy", *self.parallel_args(), log="destroy.log")
        self.stack_made = False
        self.phase("pulumi destroy", time.monotonic() - t)
        doms = self.virsh("list", "--all", "--name").split()
        vols = self.virsh("vol-list", config.POOL).splitlines()[2:]
        vols = [v.split()[0] for v in vols if v.strip()]
        nets = self.virsh("net-list", "--all", "--name").split()
        lease_dir = config.Paths.for_checkout().root / "lib" / "dnsmasq"
        leases = (
            [
                p.name
                for p in lease_dir.glob("*")
                if p.is_file()
                and p.suffix in (".leases", ".status")
                and p.read_text().strip() not in ("", "[]")
            ]
            if lease_dir.exists()
            else []
        )
        comms = [c for _, c, _ in processes(NETNS)]
        self.check(
            "destroy leaves no domain, volume, network or lease",
            not doms
            and vols == [config.BASE_VOLUME]
            and not nets
            and not leases
            and "dnsmasq" not in comms,
            f"domains {doms}, volumes {vols}, networks {nets}, lease files {leases}, "
            f"dnsmasq running: {'dnsmasq' in comms}",
        )

    def cleanup(self) -> None:
        if self.stack_made:
            self.out("== cleanup: pulumi destroy")
            p = self.pulumi(
                "destroy",
                "--yes",
                "--skip-preview",
                log="destroy-cleanup.log",
                check=False,
            )
            if p.returncode != 0 and "locked" in p.stdout and self.drop_stale_locks():
                # A pulumi that had to be killed (its time limit) left its lock behind.
                self.out("== cleanup: removed the stale lock of a killed pulumi; destroy again")
                p = self.pulumi(
                    "destroy", "--yes", "--skip-preview", log="destroy-cleanup.log", check=False
                )
            if p.returncode != 0:
                self.out("== cleanup: destroy failed; sandbox down removes what is left")

    def drop_stale_locks(self) -> bool:
        """Remove the lock files of the run's own throwaway backend (only ever called
        when no pulumi of ours runs); whether there were any."""
        locks = list((WORK / "state" / ".pulumi" / "locks").glob("**/*.json"))
        for lock in locks:
            lock.unlink(missing_ok=True)
        return bool(locks)

    def diagnose(self) -> None:
        """After a failed check or an error: what each load balancer says about its
        recent past (VRRP transitions, flags, journal; sandbox/templates/diagnose.sh)
        into WORK/diag-NODE.txt, before the stack goes. Its transitions are printed."""
        self.diagnosed = True
        script = diagnose_script()
        for name, n in self.outputs.get("nodes", {}).items():
            if n.get("role") not in ("MASTER", "BACKUP"):
                continue
            path = WORK / f"diag-{name}.txt"
            try:
                p = self.run(
                    self.ssh_cmd(n["ip"], "sudo bash -s"),
                    netns=True,
                    check=False,
                    timeout=90,
                    input=script,
                    name=f"diagnose {name}",
                )
                text = (p.stdout or "") + (p.stderr or "")
            except Exception as exc:  # noqa: BLE001 - a report of a failure must not fail
                text = f"could not ask {name}: {exc}"
            path.write_text(text)
            self.out(f"== diagnostics of {name}: .run/e2e/{path.name}")
            for line in _section(text, "transitions").splitlines()[-8:]:
                self.out(f"   {name} transition: {line}")

    def summary(self, ok: bool, error: str | None) -> dict:
        return {
            "ok": ok,
            "error": error,
            "phases": [{"phase": p, "seconds": round(s, 1), "notes": n} for p, s, n in self.phases],
            "checks": [{"check": c, "ok": o, "detail": d} for c, o, d in self.checks],
            "loops": self.loops,
        }


def _holds(ip_addr_text: str, vip_pattern: str) -> bool:
    """Whether ``ip -o -4 addr show`` names the VIP on an interface other than lo."""
    return any(
        m.group(1) != "lo"
        for m in re.finditer(rf"^\d+:\s+(\S+)\s+inet {vip_pattern}/", ip_addr_text, re.M)
    )


def _section(text: str, title: str) -> str:
    """The lines of diagnose.sh's section whose title starts with ``title``."""
    m = re.search(rf"^== {re.escape(title)}[^\n]*\n(.*?)(?=^== |\Z)", text, re.M | re.S)
    return m.group(1).strip() if m else ""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join((text or "").splitlines()[-lines:])


def _throwaway_passphrase() -> str:
    """A passphrase for the e2e's own state only (.run/e2e/passphrase, 0600)."""
    path = WORK / "passphrase"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secrets.token_hex(16).encode())
        os.close(fd)
    return path.read_text().strip()


def _changed_lines(text: str) -> str:
    return " | ".join(
        line.strip() for line in text.splitlines() if re.match(r"\s*[~+-]{1,2}\s", line)
    )[:400]


def print_tables(summary: dict, out=print) -> None:
    out("| phase | time | notes |")
    out("|---|---|---|")
    for p in summary["phases"]:
        out(f"| {p['phase']} | {p['seconds']:.1f} s | {p['notes']} |")
    out("")
    out("| check | result | detail |")
    out("|---|---|---|")
    for c in summary["checks"]:
        out(f"| {c['check']} | {'PASS' if c['ok'] else 'FAIL'} | {c['detail']} |")
    out(
        f"\ne2e ok: {summary['ok']}" + (f" (error: {summary['error']})" if summary["error"] else "")
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox.e2e", description=__doc__)
    p.add_argument("--keep", action="store_true", help="leave the stack and the sandbox up")
    p.add_argument(
        "--checks-only",
        action="store_true",
        help="only the checks, against the stack a --keep run left up (keeps it up)",
    )
    p.add_argument(
        "--parallel",
        type=int,
        metavar="N",
        help="pulumi up/destroy --parallel=N (default: Pulumi's own, as a user gets it)",
    )
    p.add_argument(
        "--limit",
        action="append",
        default=[],
        type=_limit,
        metavar="CALL=SECONDS",
        help=f"the time limit of a pulumi call ({', '.join(f'{k}={v:.0f}' for k, v in LIMITS.items())})",
    )
    args = p.parse_args(argv)
    if args.checks_only:
        args.keep = True
    if os.geteuid() != 0:
        print("e2e: needs root (network namespace, libvirtd)", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    e = E2E(out=log, limits=dict(args.limit), parallel=args.parallel)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    # Ctrl-C and TERM end the run the same way: the running command is interrupted, the
    # stack destroyed, the sandbox taken down. SIGINT is taken even when it came in
    # ignored (scripts/e2e.sh runs this in the background, where bash ignores it).
    handler = _Interrupts()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        return _session(e, args, log)
    finally:
        for sig, h in saved.items():
            signal.signal(sig, h)


def _session(e: E2E, args: argparse.Namespace, log: Callable[[str], None]) -> int:
    from sandbox import daemons

    paths = config.Paths.for_checkout()
    was_up = daemons.status(paths)["up"]
    if not was_up and not args.checks_only:
        shutil.rmtree(WORK / "state", ignore_errors=True)  # a down sandbox has no resources
    error = None
    t_all = time.monotonic()
    try:
        if args.checks_only:
            e.outputs = json.loads(e.pulumi("stack", "output", "--json").stdout)
        else:
            e.prepare()
            e.sandbox_up()
            e.bootstrap()
            if was_up:
                e.cleanup()  # a previous run's resources in a sandbox that stayed up
                e.stack_made = True
            e.up()
        e.check_vip()
        e.check_status(
            next(n for n, v in e.outputs["nodes"].items() if v.get("role") == "MASTER"), "after up"
        )
        e.check_clones()
        e.check_no_changes()
        e.check_nginx_change()
        e.check_broken_change()
        e.check_failover()
        if not args.keep:
            e.destroy()
    except Exception as exc:  # noqa: BLE001 - reported in the summary, then cleaned up
        error = str(exc)
        log(f"== error: {exc}")
    except KeyboardInterrupt:
        error = "interrupted (Ctrl-C or TERM)"
        log(f"== {error}: cleaning up")
    finally:
        ok = error is None and bool(e.checks) and all(c[1] for c in e.checks)
        interrupted = bool(error and error.startswith("interrupted"))
        if not ok and not interrupted and e.outputs and not e.diagnosed:
            e.diagnose()  # before the stack goes (not on Ctrl-C: that wants out)
        if not args.keep:
            try:
                e.cleanup()
            except Exception as exc:  # noqa: BLE001 - sandbox down removes what is left
                log(f"== cleanup: {exc}; sandbox down removes what is left")
            if not was_up:
                t = time.monotonic()
                daemons.down(paths, out=log)
                e.phase("sandbox down", time.monotonic() - t)
        e.phase("e2e total", time.monotonic() - t_all)
        summary = e.summary(ok, error)
        (WORK / "summary.json").write_text(json.dumps(summary, indent=2))
        print_tables(summary)
    if error and error.startswith("interrupted"):
        return 130
    return 0 if ok else 1


class _Interrupts:
    """SIGINT/TERM handler: KeyboardInterrupt, once per Ctrl-C. A Ctrl-C in the
    terminal reaches this process and scripts/e2e.sh, which passes it on: the second
    copy, within a second or two, would cut the cleanup short."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self.last: float | None = None

    def __call__(self, signum, frame) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.window:
            return
        self.last = now
        raise KeyboardInterrupt


def _limit(text: str) -> tuple[str, float]:
    call, _, seconds = text.partition("=")
    if call not in LIMITS or not seconds:
        raise argparse.ArgumentTypeError(
            f"{text}: expected CALL=SECONDS, CALL one of {', '.join(LIMITS)}"
        )
    return call, float(seconds)


if __name__ == "__main__":
    sys.exit(main())
