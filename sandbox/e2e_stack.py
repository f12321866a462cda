"""The stack's life in an end-to-end run (sandbox/e2e.py): the throwaway copy of the
project, the sandbox up, the bootstrap (stack, key, secrets), ``pulumi up`` with its
phases from the engine's events, ``pulumi destroy`` and what it must leave behind (no
domain, volume, network or lease), and the cleanup whatever happened (a stale lock of a
killed pulumi removed).
"""

from __future__ import annotations

import json
import shutil
import sys
import time

from sandbox import config
from sandbox.e2e_driver import COPIED, LINKED, Driver
from support.netns import processes


class StackLife(Driver):
    """The steps that make the stack and take it away again."""

    def prepare(self) -> None:
        shutil.rmtree(self.project, ignore_errors=True)
        self.project.mkdir(parents=True)
        for name in LINKED:
            (self.project / name).symlink_to(self.root / name)
        (self.project / ".toolchain").symlink_to(self.root / ".toolchain")
        for name in COPIED:
            shutil.copy(self.root / name, self.project / name)
        (self.work / "state").mkdir(parents=True, exist_ok=True)

    def sandbox_up(self) -> None:
        t = time.monotonic()
        self.run([sys.executable, "-m", "sandbox", "up"], log="sandbox-up.log", timeout=1800)
        self.phase("sandbox up", time.monotonic() - t, "image current: reused")

    def bootstrap(self) -> None:
        t = time.monotonic()
        self.run(
            [str(self.project / "scripts" / "bootstrap.sh"), "--no-up"],
            log="bootstrap.log",
            timeout=600,
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
        comms = [c for _, c, _ in processes(config.NETNS)]
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
        locks = list((self.work / "state" / ".pulumi" / "locks").glob("**/*.json"))
        for lock in locks:
            lock.unlink(missing_ok=True)
        return bool(locks)
