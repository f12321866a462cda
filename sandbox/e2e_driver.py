"""The end-to-end run's driver (sandbox/e2e.py): the environment of every call (the
run's own Pulumi backend, passphrase and home under ``.run/e2e``), each command run in
the sandbox's namespace for a bounded time (:func:`sandbox.bounded.bounded`), each
``pulumi`` call by its subcommand's limit (``LIMITS``), ``python -m nginx_ha
up|destroy`` with its progress and the engine's events, SSH to a node and a request to
the VIP; and the run's record: its phases and checks.

The steps of the run build on it (``sandbox/e2e_stack.py``, ``e2e_checks.py``,
``e2e_changes.py``, ``e2e_report.py``); ``sandbox/e2e.py`` puts them together.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from nginx_ha.topology.naming import parse_page_marker
from sandbox import config, vm
from sandbox.bounded import bounded
from support.netns import in_ns

ROOT = config.PROJECT_ROOT
WORK = ROOT / ".run" / "e2e"
PROJECT = WORK / "project"
STACK = "sandbox"
NETNS = config.NETNS
LINKED = (
    "__main__.py",
    "requirements.txt",
    "nginx_ha",
    "venv",
    "scripts",
    "sandbox",
)
# Copied, not linked: the project reads its stack files through a reader that follows a
# link only to a file inside the project folder (nginx_ha/config/stackread.py).
COPIED = ("Pulumi.yaml", f"Pulumi.{STACK}.yaml")
KEY = PROJECT / ".run" / "keys" / f"{STACK}_ed25519"
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


def throwaway_passphrase(work: Path) -> str:
    """A passphrase for the e2e's own state only (.run/e2e/passphrase, 0600)."""
    path = work / "passphrase"
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secrets.token_hex(16).encode())
        os.close(fd)
    return path.read_text().strip()


def tail(text: str, lines: int = 40) -> str:
    return "\n".join((text or "").splitlines()[-lines:])


def changed_lines(text: str) -> str:
    return " | ".join(
        line.strip() for line in text.splitlines() if re.match(r"\s*[~+-]{1,2}\s", line)
    )[:400]


class Driver:
    """A run's environment, its commands and its record. ``diagnose`` is called at the
    first failed check (once the stack has outputs); the report
    (``sandbox/e2e_report.py``) says what it does."""

    def __init__(
        self,
        out=print,
        limits: dict[str, float] | None = None,
        parallel: int | None = None,
    ):
        self.out = out
        # The run's folders, read when it is made (the tests point them elsewhere).
        self.root = ROOT
        self.work = WORK
        self.project = PROJECT
        self.key = KEY
        self.phases: list[tuple[str, float, str]] = []
        self.checks: list[tuple[str, bool, str]] = []
        self.env = dict(os.environ)
        self.env.update(
            PATH=f"{self.root / '.toolchain' / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            PULUMI_BACKEND_URL=f"file://{self.work / 'state'}",
            PULUMI_CONFIG_PASSPHRASE=throwaway_passphrase(self.work),
            PULUMI_HOME=str(self.work / "pulumi-home"),
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

    # ------------------------------------------------------------------ the record
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

    def diagnose(self) -> None:
        """What the nodes say about a failure: nothing here (``e2e_report.Report``)."""

    # ------------------------------------------------------------------ commands
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
            cwd=self.project,
            env=self.env,
            log=self.work / log if log else None,
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
        events = self.work / f"{log}.events.jsonl"
        events.unlink(missing_ok=True)
        p = self.run(
            [
                str(self.root / "venv" / "bin" / "python"),
                "-m",
                "nginx_ha",
                command,
                "--stack",
                STACK,
                "--yes",
                "--plain",
                "--project-dir",
                str(self.project),
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
        return vm.ssh_argv(self.key, ip, command, connect_timeout=10)

    def ssh(self, ip: str, command: str, timeout: float = 60, input: str | None = None) -> str:
        return self.run(self.ssh_cmd(ip, command), netns=True, timeout=timeout, input=input).stdout

    @property
    def tls_name(self) -> str | None:
        """With nginx-ha:tls (an https url): the name the url asks, else None."""
        url = urlsplit(str(self.outputs.get("url", "")))
        return url.hostname if url.scheme == "https" else None

    def tls_ca(self) -> Path:
        """The stack's CA (output tlsCa, tls.selfSigned), written for curl and the loop."""
        path = self.work / "tls-ca.pem"
        path.write_text(str(self.outputs["tlsCa"]))
        return path

    def curl_vip(self) -> list[str]:
        """curl's options to ask the VIP: over HTTPS the url's name resolved to the VIP,
        the chain verified with the stack's CA."""
        name = self.tls_name
        if name is None:
            return [self.outputs["url"]]
        port = urlsplit(str(self.outputs["url"])).port or 443
        vip = self.outputs["vip"]
        return [
            "--resolve",
            f"{name}:{port}:{vip}",
            "--cacert",
            str(self.tls_ca()),
            self.outputs["url"],
        ]

    def vip_get(self, timeout: float = 3) -> tuple[str, str]:
        """(X-Served-By, backend name) of one request to the VIP from the namespace."""
        p = self.run(
            ["curl", "-sS", "-m", str(timeout), "-D", "-", *self.curl_vip()],
            netns=True,
            check=False,
            timeout=timeout + 5,
        )
        served = re.search(r"(?im)^x-served-by:\s*(\S+)", p.stdout or "")
        backend = parse_page_marker(p.stdout or "")
        return (served.group(1) if served else "", backend[0] if backend else "")
