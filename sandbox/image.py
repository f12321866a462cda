"""Build the sandbox's Debian 12 base image from Debian's packages (mmdebstrap).

Steps (LAB_NOTES "Real virtual machines on our machines"): a minbase rootfs with the
packages a VM boots with; the packages the remote steps install downloaded into its apt
cache with matching package lists (no egress needed later); an fstab and a NoCloud-only
datasource list; ``mkfs.ext4 -d`` on a raw file; ``qemu-img convert -c`` to qcow2. The
kernel and initrd are copied next to the image: domains boot them directly, the image
has no bootloader. Skipped when the image exists with the same recipe hash.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from nginx_ha.view.progress import Reporter
from sandbox import config

IMAGE_SIZE = "4G"  # the raw filesystem; the stack's diskGib is at least this


def host_sources() -> str:
    texts: dict[str, str] = {}
    main = Path("/etc/apt/sources.list")
    if main.exists():
        texts[str(main)] = main.read_text()
    d = Path("/etc/apt/sources.list.d")
    if d.is_dir():
        for f in sorted(d.iterdir()):
            if f.suffix in (".list", ".sources"):
                texts[str(f)] = f.read_text()
    return config.debian_sources(texts)


def manifest(images: Path) -> dict | None:
    try:
        return json.loads((images / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_current(images: Path, recipe: str) -> bool:
    m = manifest(images)
    return (
        m is not None
        and m.get("recipe") == recipe
        and all((images / n).exists() for n in (config.BASE_VOLUME, "vmlinuz", "initrd.img"))
    )


def _run(cmd: list[str], log) -> None:
    print("+ " + shlex.join(cmd), file=log, flush=True)
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)


# apt's "0 upgraded, 153 newly installed, ..." and dpkg's "Setting up PKG (VERSION) ...".
NEWLY_INSTALLED = re.compile(r"\b(\d+) newly installed\b")
SETTING_UP = re.compile(r"^Setting up (\S+)")


def _run_counted(cmd: list[str], log, reporter: Reporter) -> None:
    """Run ``cmd`` (mmdebstrap) into ``log``, showing its own phase lines ("I: ...")
    as they come and a live count of the packages set up, against the total apt
    announces."""
    print("+ " + shlex.join(cmd), file=log, flush=True)
    total = 0
    reporter.start_count("packages set up", None)
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if line.startswith("I: "):
                reporter.line(f"  mmdebstrap: {line[3:].strip()}")
            elif m := NEWLY_INSTALLED.search(line):
                total += int(m.group(1))
                reporter.set_total(total)
            elif m := SETTING_UP.match(line):
                reporter.advance(f"set up {m.group(1)}")
        if proc.wait() != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
    finally:
        reporter.stop_count()


def build(
    paths: config.Paths, *, force: bool = False, out=print, reporter: Reporter | None = None
) -> dict:
    """Build (or keep) the base image; return its manifest with phase times. The
    phases show as they start and end, with a live count of the packages set up
    (``reporter``; default: lines on stderr, a progress bar on a terminal)."""
    rep = reporter or Reporter()
    images = paths.images
    images.mkdir(parents=True, exist_ok=True)
    sources = host_sources()
    recipe = config.image_recipe_hash(sources)
    if not force and is_current(images, recipe):
        m = manifest(images) or {}
        out(f"base image is current ({images / config.BASE_VOLUME}, recipe {recipe[:12]})")
        return m

    work = images / "build"
    rootfs = work / "rootfs"
    marker = work / "rootfs.recipe"
    # A rootfs that an interrupted build finished with the same recipe is reused.
    reuse = marker.exists() and marker.read_text() == recipe and not force
    if not reuse:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
    (work / "debian.sources").write_text(sources)
    log_path = images / "build.log"
    times: dict[str, float] = {}
    cached = " ".join(config.CACHED_PACKAGES)
    with log_path.open("a" if reuse else "w") as log:
        t = time.monotonic()
        # In a private mount namespace: mmdebstrap mounts /proc, /sys and /dev in the
        # chroot, and a mount it fails to undo (seen: "umount /proc failed") then dies
        # with the namespace instead of staying in the host's.
        mmdebstrap = [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "mmdebstrap",
            "--variant=minbase",
            "--mode=root",
            "--format=directory",
            "--include=" + ",".join(config.BASE_PACKAGES),
            # Keep the package lists and the cache: the cache then holds only what
            # the customize hook downloads (the base's own .debs are cleaned first).
            "--skip=cleanup/apt",
            '--customize-hook=chroot "$1" apt-get clean',
            # With their Recommends (mmdebstrap's chroot does not install them; the
            # remote steps' plain `apt-get install` does).
            '--customize-hook=chroot "$1" env DEBIAN_FRONTEND=noninteractive '
            "apt-get install --download-only -y -q -o APT::Install-Recommends=true "
            f"{cached}",
            config.SUITE,
            str(rootfs),
            str(work / "debian.sources"),
        ]
        if reuse:
            print("reusing the rootfs of an interrupted build", file=log, flush=True)
            rep.line("reusing the rootfs of an interrupted build")
        else:
            with rep.phase(
                f"rootfs: mmdebstrap {config.SUITE} and the VMs' packages into the apt cache "
                f"(about 4 min; log {log_path})"
            ):
                _run_counted(mmdebstrap, log, rep)
        marker.write_text(recipe)
        times["mmdebstrap"] = time.monotonic() - t
        out(f"  rootfs built in {times['mmdebstrap']:.0f} s")

        t = time.monotonic()
        (rootfs / "etc/fstab").write_text(config.FSTAB)
        (rootfs / "etc/cloud/cloud.cfg.d/90-nginx-ha-sandbox.cfg").write_text(config.CLOUD_CFG)
        (rootfs / "etc/hostname").write_text("localhost\n")
        resolv = rootfs / "etc/resolv.conf"
        resolv.unlink(missing_ok=True)
        resolv.write_text("# written at boot from the network-config\n")
        (rootfs / "etc/machine-id").write_text("")
        kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
        initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
        if not kernels or not initrds:
            raise RuntimeError(f"no kernel/initrd in {rootfs / 'boot'}; see {log_path}")
        shutil.copyfile(kernels[-1], images / "vmlinuz.tmp")
        shutil.copyfile(initrds[-1], images / "initrd.img.tmp")
        raw = work / "root.raw"
        with rep.phase(f"filesystem: mkfs.ext4 of {IMAGE_SIZE} from the rootfs (seconds)"):
            _run(["truncate", "-s", IMAGE_SIZE, str(raw)], log)
            _run(["mkfs.ext4", "-q", "-L", "root", "-d", str(rootfs), str(raw)], log)
        times["mkfs"] = time.monotonic() - t
        t = time.monotonic()
        qcow = images / (config.BASE_VOLUME + ".tmp")
        with rep.phase("image: qemu-img convert to compressed qcow2 (about 30 s)"):
            _run(
                ["qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(qcow)],
                log,
            )
        times["qcow2"] = time.monotonic() - t
        out(f"  filesystem {times['mkfs']:.0f} s, qcow2 {times['qcow2']:.0f} s")

        archives = rootfs / "var/cache/apt/archives"
        cache_bytes = sum(f.stat().st_size for f in archives.glob("*.deb"))
        rootfs_bytes = int(
            subprocess.run(
                ["du", "-sb", str(rootfs)], check=True, capture_output=True, text=True
            ).stdout.split()[0]
        )
        debs = len(list(archives.glob("*.deb")))
    for name in ("vmlinuz", "initrd.img", config.BASE_VOLUME):
        (images / (name + ".tmp")).replace(images / name)
    with rep.phase("removing the build's rootfs (about 30 s)"):
        shutil.rmtree(work)
    m = {
        "recipe": recipe,
        "suite": config.SUITE,
        "kernel": kernels[-1].name,
        "image_bytes": (images / config.BASE_VOLUME).stat().st_size,
        "rootfs_bytes": rootfs_bytes,
        "apt_cache_debs": debs,
        "apt_cache_bytes": cache_bytes,
        "seconds": {k: round(v, 1) for k, v in times.items()},
        "base_packages": list(config.BASE_PACKAGES),
        "cached_packages": list(config.CACHED_PACKAGES),
    }
    (images / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")
    return m


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_keepalived_source(paths: config.Paths, *, out=print) -> Path:
    """Debian's keepalived source tarball next to the image (for nginx-ha:keepalived.path).

    ``apt-get source`` with a private apt state (deb-src entries of the machine's Debian
    mirror); only the upstream tarball is kept, and it must match the pinned SHA-256.
    """
    dest = paths.images / config.KEEPALIVED_TARBALL
    if dest.exists() and _sha256(dest) == config.KEEPALIVED_SHA256:
        return dest
    paths.images.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keepalived-src-", dir=paths.images) as tmp:
        t = Path(tmp)
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "out"):
            (t / sub).mkdir(parents=True)
        (t / "sources.list.d" / "debian.sources").write_text(
            host_sources().replace("Types: deb\n", "Types: deb-src\n")
        )
        apt = [
            "apt-get",
            "-q",
            "-o",
            "Dir::Etc::SourceList=/dev/null",
            "-o",
            f"Dir::Etc::SourceParts={t / 'sources.list.d'}",
            "-o",
            f"Dir::State::Lists={t / 'lists'}",
            "-o",
            f"Dir::Cache={t / 'cache'}",
            "-o",
            "Debug::NoLocking=1",
            "-o",
            "APT::Sandbox::User=root",
        ]
        subprocess.run([*apt, "update"], check=True, capture_output=True, text=True)
        # The Debian part of the source package is not needed; its download may fail.
        r = subprocess.run(
            [*apt, "source", "--download-only", f"keepalived=1:{config.KEEPALIVED_VERSION}-1"],
            cwd=t / "out",
            capture_output=True,
            text=True,
        )
        got = t / "out" / config.KEEPALIVED_TARBALL
        if not got.exists() or _sha256(got) != config.KEEPALIVED_SHA256:
            raise RuntimeError(
                f"could not fetch {config.KEEPALIVED_TARBALL} with the pinned SHA-256 from "
                f"Debian's archive: {r.stderr.strip()[-800:]}"
            )
        got.replace(dest)
    out(f"keepalived source: {dest}")
    return dest
