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
import subprocess
import sys
import time
from pathlib import Path

from nginx_ha.topology.naming import parse_page_marker
from sandbox import config
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
PARALLEL = 4


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
    def __init__(self, out=print):
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

    # ------------------------------------------------------------------ helpers
    def phase(self, name: str, seconds: float, notes: str = "") -> None:
        self.phases.append((name, seconds, notes))
        self.out(f"== phase {name}: {seconds:.1f} s {notes}")

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, bool(ok), detail))
        self.out(f"== check {'PASS' if ok else 'FAIL'} {name}: {detail}")
        return bool(ok)

    def run(
        self,
        cmd: list[str],
        *,
        netns: bool = False,
        check: bool = True,
        timeout=None,
        log: str | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        full = in_ns(NETNS, *cmd) if netns else list(cmd)
        if log:
            with open(WORK / log, "w") as fh:
                p = subprocess.run(
                    full,
                    cwd=PROJECT,
                    env=self.env,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=timeout,
                    input=input,
                )
            p.stdout = (WORK / log).read_text()
        else:
            p = subprocess.run(
                full,
                cwd=PROJECT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
            )
        if check and p.returncode != 0:
            tail = "\n".join(
                (p.stdout or "").splitlines()[-40:] + (p.stderr or "").splitlines()[-20:]
            )
            raise RuntimeError(f"{' '.join(cmd[:4])} failed (rc {p.returncode}):\n{tail}")
        return p

    def pulumi(self, *args: str, log: str | None = None, check: bool = True, timeout=None):
        return self.run(
            ["pulumi", *args, "--stack", STACK, "--non-interactive"],
            netns=True,
            log=log,
            check=check,
            timeout=timeout,
        )

    def pulumi_run(self, command: str, *args: str, log: str) -> dict[str, float]:
        """``python -m nginx_ha COMMAND --stack sandbox --yes`` in the namespace: the
        operation through Pulumi's Automation API, its progress (phase lines, the live
        ``[done/total]`` count) on stderr and into WORK/log as it comes; return
        "type:name" -> when its step ended, from the engine's events
        (WORK/<log>.events.jsonl). Raises when it fails."""
        events = WORK / f"{log}.events.jsonl"
        events.unlink(missing_ok=True)
        full = in_ns(
            NETNS,
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
        )
        with open(WORK / log, "w") as fh:
            p = subprocess.Popen(
                full,
                cwd=PROJECT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            assert p.stdout is not None
            for line in p.stdout:
                fh.write(line)
                fh.flush()  # tail -f the log while it runs
                self.out(line.rstrip("\n"))
            rc = p.wait()
        if rc != 0:
            tail = "\n".join((WORK / log).read_text().splitlines()[-40:])
            raise RuntimeError(f"nginx_ha {command} failed (rc {rc}):\n{tail}")
        return step_ends(events)

    def virsh(self, *args: str, check: bool = True) -> str:
        uri = config.libvirt_uri(config.Paths.for_checkout().socket)
        return self.run(["virsh", "-c", uri, *args], check=check, timeout=60).stdout

    def ssh(self, ip: str, command: str, timeout: float = 60) -> str:
        return self.run(
            [
                "ssh",
                "-i",
                str(KEY),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                f"debian@{ip}",
                command,
            ],
            netns=True,
            timeout=timeout,
        ).stdout

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
        done = self.pulumi_run("up", f"--parallel={PARALLEL}", log="up.log")
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
        self.phase("pulumi up total", total)
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
            text = self.ssh(
                n["ip"],
                "hostname; cat /etc/machine-id; ip -o link; ip -o -4 addr; "
                "for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf $f; done",
            )
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

    def check_nginx_change(self) -> None:
        self.run(
            ["pulumi", "config", "set", "--stack", STACK, "--path", "nginx.readTimeout", "2"],
            netns=True,
        )
        p = self.pulumi("preview", "--json", log="preview-nginx.json", check=False)
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
        allowed = re.compile(
            r"^(nginx-(master|backup)-nginx-conf(-upload|-install)?|nginx-ha-smoke)$"
        )
        self.check(
            "changed nginx setting updates only the nginx-conf steps (+ smoke test)",
            bool(changed)
            and all(allowed.match(c) for c in changed)
            and any("nginx-conf" in c for c in changed),
            ", ".join(changed) or f"no steps (rc {p.returncode})",
        )
        t = time.monotonic()
        self.pulumi_run("up", log="up-nginx.log")
        self.phase("up after the nginx change", time.monotonic() - t)
        conf = self.ssh(
            self.outputs["nodes"]["nginx-master"]["ip"],
            "sudo grep -h proxy_read_timeout /etc/nginx/nginx.conf || true",
        )
        self.check(
            "the new nginx setting is live on the MASTER",
            "proxy_read_timeout 2s;" in conf,
            conf.strip().replace("\n", " | ")[:120],
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
        self.pulumi_run("destroy", f"--parallel={PARALLEL}", log="destroy.log")
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
                timeout=1800,
            )
            if p.returncode != 0:
                self.out("== cleanup: destroy failed; sandbox down removes what is left")

    def summary(self, ok: bool, error: str | None) -> dict:
        return {
            "ok": ok,
            "error": error,
            "phases": [{"phase": p, "seconds": round(s, 1), "notes": n} for p, s, n in self.phases],
            "checks": [{"check": c, "ok": o, "detail": d} for c, o, d in self.checks],
        }


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
    args = p.parse_args(argv)
    if args.checks_only:
        args.keep = True
    if os.geteuid() != 0:
        print("e2e: needs root (network namespace, libvirtd)", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    e = E2E(out=log)
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
        e.check_failover()
        if not args.keep:
            e.destroy()
    except Exception as exc:  # noqa: BLE001 - reported in the summary, then cleaned up
        error = str(exc)
        log(f"== error: {exc}")
    finally:
        if not args.keep:
            e.cleanup()
            if not was_up:
                t = time.monotonic()
                daemons.down(paths, out=log)
                e.phase("sandbox down", time.monotonic() - t)
        e.phase("e2e total", time.monotonic() - t_all)
        ok = error is None and bool(e.checks) and all(c[1] for c in e.checks)
        summary = e.summary(ok, error)
        (WORK / "summary.json").write_text(json.dumps(summary, indent=2))
        print_tables(summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
