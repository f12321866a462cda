"""The network-namespace lab inside one sandbox VM: for what this machine's kernel
cannot run (IPVS), on the stock Debian kernel of the sandbox's base image.

What goes in (one tar stream over SSH, unpacked at ``/``):

- the checkout as it is (``git ls-files``: tracked and untracked files, not ignored ones)
  under ``/opt/nginx-ha``;
- the Python packages the lab imports (``requirements.txt`` without Pulumi), as wheels
  from PyPI for the VM's CPython 3.11 (``pip install --target``, cached under
  ``.run/lab-vm/``) under ``/opt/nginx-ha-site``;
- a keepalived build folder (the caller's: ``bench.lvs`` builds it with the project's
  install script) under ``/usr/local/keepalived``, where the lab looks first, and the
  Debian packages of the libraries it links (``apt-get download`` here; a build on this
  machine links what its -dev packages offer, e.g. libmagic) under
  ``/opt/nginx-ha-debs``, installed where the VM lacks them.

Then ``sandbox/templates/lab_vm_setup.sh.j2`` installs the lab's packages from the base
image's apt cache (no egress) and loads IPVS, and :meth:`LabVm.run` runs a lab command
as root with the checkout on ``PYTHONPATH``. The VM is destroyed on every way out.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

from nginx_ha.render.params import script_text
from sandbox import config, daemons
from sandbox.vm import Vm, VmSpec

CHECKOUT = "/opt/nginx-ha"
SITE = "/opt/nginx-ha-site"
DEBS = "/opt/nginx-ha-debs"
KEEPALIVED_PREFIX = "/usr/local/keepalived"  # lab/daemons.py: PROJECT_KEEPALIVED
# What the lab runs (docs/lab.md "Needs"), all in the base image's apt cache
# (config.CACHED_PACKAGES and their dependencies): nginx, Tomcat, the firewall tools
# the lab and lvs_realserver.sh use, and keepalived's runtime libraries.
PACKAGES = (
    "nginx-light",
    "tomcat10",
    "default-jre-headless",
    "iptables",
    "nftables",
    "curl",
    "libnl-3-200",
    "libnl-genl-3-200",
)
# The VM's interpreter (Debian 12's python3): the wheels are chosen for it.
PYTHON_VERSION = "3.11"
PLATFORMS = ("manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64")

SPEC = VmSpec(
    name="nginx-ha-lab-vm",
    mac="52:54:00:5a:00:16",
    nat_bridge="nhlabvm0",
    nat_gateway="192.168.157.1",
    fallback_address="192.168.159.249",
    memory_mib=2048,
    vcpus=2,
)


def logs_script() -> str:
    """sandbox/templates/lab_logs.sh as the lab VM runs it (as root, on stdin): the
    lab's run folders as one base64 line."""
    return script_text(config.TEMPLATES.file("lab_logs.sh"), {"CHECKOUT": CHECKOUT})


def setup_script() -> str:
    return config.TEMPLATES.render(
        "lab_vm_setup.sh.j2",
        packages=PACKAGES,
        keepalived_prefix=KEEPALIVED_PREFIX,
        debs=DEBS,
    )


def lab_requirements(requirements: str) -> list[str]:
    """The lab's Python packages: the program's pins without Pulumi's."""
    out = []
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.lower().startswith("pulumi"):
            out.append(line)
    return out


def site_packages(root: Path, cache: Path, out=print) -> Path:
    """The lab's packages for the VM's Python, from PyPI wheels (cached by pins)."""
    reqs = lab_requirements((root / "requirements.txt").read_text())
    key = hashlib.sha256("\n".join([PYTHON_VERSION, *PLATFORMS, *reqs]).encode()).hexdigest()
    site = cache / f"site-{key[:16]}"
    if (site / ".complete").exists():
        return site
    tmp = site.with_suffix(".tmp")
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    t = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(tmp)]
        + ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
        + [*platforms, *reqs],
        check=True,
        timeout=900,
    )
    (tmp / ".complete").write_text("\n".join(reqs) + "\n")
    subprocess.run(["rm", "-rf", str(site)], check=True)
    tmp.rename(site)
    out(f"  Python packages for the VM ({', '.join(reqs)}) in {time.monotonic() - t:.0f} s")
    return site


def _out(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300).stdout


def runtime_packages(binary: Path) -> list[str]:
    """The Debian packages of the libraries ``binary`` links (``ldd``, ``dpkg -S``) and
    what they depend on directly."""
    owners: set[str] = set()
    for line in _out(["ldd", str(binary)]).splitlines():
        parts = line.split("=>")
        if len(parts) != 2 or not parts[1].strip().startswith("/"):
            continue
        lib = Path(parts[1].split()[0])
        for candidate in (str(lib.resolve()), str(lib)):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                owners.add(r.stdout.split(":", 1)[0].strip())
                break
    names = set(owners)
    for pkg in owners:
        deps = _out(
            ["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts"]
            + ["--no-breaks", "--no-replaces", "--no-enhances", pkg]
        )
        for line in deps.splitlines():
            k, _, v = line.strip().partition(": ")
            if k == "Depends" and v and not v.startswith("<"):
                names.add(v.split(":", 1)[0])
    return sorted(names)


def runtime_debs(binary: Path, cache: Path, out=print) -> Path:
    """``apt-get download`` of :func:`runtime_packages` into a folder (cached by the
    package list); the setup script installs those the VM does not have."""
    names = runtime_packages(binary)
    key = hashlib.sha256("\n".join(names).encode()).hexdigest()
    folder = cache / f"debs-{key[:16]}"
    if (folder / ".complete").exists():
        return folder
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    folder.mkdir(parents=True)
    subprocess.run(["apt-get", "download", "-q", *names], cwd=folder, check=True, timeout=600)
    (folder / ".complete").write_text("\n".join(names) + "\n")
    out(f"  Debian packages of keepalived's libraries: {', '.join(names)}")
    return folder


def checkout_files(root: Path) -> list[str]:
    """Tracked and untracked files of the checkout, not ignored ones (no venv, .run)."""
    r = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    )
    names = [n for n in r.stdout.decode().split("\0") if n]
    return [n for n in names if (root / n).is_file()]


def payload(root: Path, site: Path, keepalived: Path, debs: Path, dest: Path) -> Path:
    """One tar file of everything the VM gets, laid out from ``/``."""
    with tarfile.open(dest, "w") as tar:
        for name in checkout_files(root):
            tar.add(root / name, arcname=f"{CHECKOUT.lstrip('/')}/{name}", recursive=False)
        tar.add(site, arcname=SITE.lstrip("/"))
        tar.add(keepalived, arcname=KEEPALIVED_PREFIX.lstrip("/"))
        tar.add(debs, arcname=DEBS.lstrip("/"))
    return dest


class LabVm:
    """``with LabVm(paths, keepalived_prefix) as vm: vm.run([...])``."""

    def __init__(
        self,
        paths: config.Paths,
        keepalived: Path,
        root: Path = config.PROJECT_ROOT,
        cache: Path | None = None,
        spec: VmSpec = SPEC,
        out=print,
    ):
        self.paths, self.keepalived, self.root, self.out = paths, keepalived, root, out
        self.cache = cache or root / ".run" / "lab-vm"
        self.vm = Vm(paths, spec, out=out)
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> LabVm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.vm.destroy()

    def start(self) -> None:
        """Boot, carry everything in, install; the VM is then ready for the lab."""
        self.cache.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        site = site_packages(self.root, self.cache, self.out)
        debs = runtime_debs(self.keepalived / "sbin" / "keepalived", self.cache, self.out)
        tar = payload(self.root, site, self.keepalived, debs, self.cache / "payload.tar")
        self.seconds["payload"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        self.vm.boot()
        self.seconds |= self.vm.seconds
        self.seconds["boot"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        self.vm.put_tar(tar, "/")
        self.seconds["copy_in"] = round(time.monotonic() - t, 1)
        self.out(f"  copied in {tar.stat().st_size / 1e6:.0f} MB in {self.seconds['copy_in']} s")
        t = time.monotonic()
        r = self.vm.ssh(["sudo", "bash", "-s"], input=setup_script().encode(), timeout=1800)
        self.seconds["setup"] = round(time.monotonic() - t, 1)
        for line in r.stdout.strip().splitlines():
            self.out(f"  {line}")
        self.out(f"  VM set up in {self.seconds['setup']} s")

    def run(self, argv: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """``python3 ARGV...`` as root in the VM with the checkout importable; its
        standard error is shown as it goes (the lab's progress)."""
        command = [
            "sudo",
            "env",
            f"PYTHONPATH={CHECKOUT}:{SITE}",
            "python3",
            *argv,
        ]
        proc = subprocess.Popen(
            self.vm._ssh_argv(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
        )
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, "")

    def fetch_logs(self, dest: Path, *, timeout: float = 300) -> Path:
        """The lab's run folders in the VM (``.run/lab``: every node's keepalived,
        watcher, nginx and Tomcat logs, VRRP transitions; the lab keeps them at down)
        into ``dest``, replacing what an earlier run left there: the VM goes with the
        run, its logs stay here to read."""
        r = self.vm.ssh(["sudo", "bash", "-s"], input=logs_script().encode(), timeout=timeout)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        tar = base64.b64decode(r.stdout)
        subprocess.run(["tar", "-xz", "-C", str(dest)], input=tar, check=True, timeout=60)
        return dest


def sandbox_paths(out=print) -> tuple[config.Paths, bool]:
    """The sandbox to use: the one that is up (whichever checkout started it), else this
    checkout's, brought up here; True when it was brought up (the caller takes it down)."""
    target = daemons.anchor_target()
    if target is not None and daemons.netns_id() is not None:
        paths = config.Paths(root=target)
        if daemons.status(paths)["up"]:
            out(f"using the sandbox that is up ({target})")
            return paths, False
    paths = config.Paths.for_checkout()
    daemons.up(paths, out=out)
    return paths, True
