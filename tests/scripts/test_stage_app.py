"""The application's stage step as the program runs it on a backend, for real (root):
stage_app.sh takes the uploaded WAR, checks its SHA-256, unpacks it (Python's zipfile:
no member lands outside the release), refuses a WAR of another digest or one that is
not a web application with nothing left behind, is idempotent, and prunes old
releases but the live one; then stage.sh's tomcat-context validator accepts the
descriptor only when the release it names is unpacked from the pinned WAR.

Every step's text is the plan's own (``Step.text``); the node's folders are the test's
scratch folder (a Layout pointing there)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nginx_ha.config import parse_settings
from nginx_ha.render.app import app_artefacts, app_step, context_path, uploaded_war
from nginx_ha.render.artefacts import stage_step
from nginx_ha.topology import Layout, build_topology
from nginx_ha.topology.app import AppPlan
from support import stacks
from support.war import build_war

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="unpacks root-owned releases: needs root"),
    pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3 (its zipfile)"),
]


@pytest.fixture
def scratch() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="nginx-ha-stage-app-", dir="/var/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def layout(scratch: Path) -> Layout:
    return Layout(
        upload_dir=str(scratch / "upload"),
        release_dir=str(scratch / "releases"),
        app_dir=str(scratch / "app"),
        tomcat_base=str(scratch / "tomcat"),
    )


def plan_for(war: Path, **app) -> AppPlan:
    s = parse_settings(stacks.raw_config("dev", app={"war": str(war), **app}), stack="dev")
    topo = build_topology(s)
    assert topo.app is not None
    return topo.app


def stage(scratch: Path, app: AppPlan, war: Path | None = None) -> subprocess.CompletedProcess:
    """Upload ``war`` (default: the plan's) where the program does, run the stage step."""
    lay = layout(scratch)
    up = Path(uploaded_war(app, lay))
    up.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(war or app.source, up)
    return subprocess.run(
        ["bash", "-c", app_step(app, lay).text], capture_output=True, text=True, timeout=60
    )


def releases(scratch: Path) -> list[str]:
    d = scratch / "app" / "releases"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_a_war_is_verified_and_unpacked_into_its_release_read_only(scratch):
    war = build_war(scratch / "shop.war", "1.4.2")
    app = plan_for(war)
    res = stage(scratch, app)
    assert res.returncode == 0, res.stderr
    assert f"SHA-256 {app.sha256} verified, version 1.4.2" in res.stdout
    rel = scratch / "app" / "releases" / app.release
    assert (rel / "WEB-INF" / "web.xml").is_file() and (rel / "index.jsp").is_file()
    assert (rel / ".nginx-ha-sha256").read_text().strip() == app.sha256
    assert (rel / ".nginx-ha-version").read_text().strip() == "1.4.2"
    assert oct((rel / "index.jsp").stat().st_mode & 0o777) == "0o644"
    assert (rel / "index.jsp").stat().st_uid == 0
    # Again: kept, nothing redone.
    again = stage(scratch, app)
    assert again.returncode == 0 and "already unpacked" in again.stdout
    assert releases(scratch) == [app.release]


def test_a_war_of_another_digest_is_refused_and_nothing_is_left(scratch):
    war = build_war(scratch / "shop.war", "1.4.2")
    other = build_war(scratch / "other.war", "6.6.6")
    app = plan_for(war)
    res = stage(scratch, app, war=other)
    assert res.returncode != 0
    assert f"not {app.sha256}" in res.stderr and "nothing activated" in res.stderr
    assert releases(scratch) == []
    assert not list((scratch / "app" / "releases").glob(".staging-*"))


def test_a_zip_without_web_inf_is_refused(scratch):
    jar = scratch / "lib.war"
    with zipfile.ZipFile(jar, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n")
        z.writestr("index.html", "<p>no web app</p>")
    good = build_war(scratch / "shop.war", "1.0")
    app = dataclasses.replace(plan_for(good), sha256=hashlib.sha256(jar.read_bytes()).hexdigest())
    res = stage(scratch, app, war=jar)
    assert res.returncode != 0 and "no WEB-INF/ folder" in res.stderr
    assert releases(scratch) == []


def test_a_member_that_climbs_out_stays_inside_the_release(scratch):
    war = scratch / "evil.war"
    with zipfile.ZipFile(war, "w") as z:
        z.writestr("WEB-INF/web.xml", "<web-app/>")
        z.writestr("../../../../escaped.txt", "out")
        z.writestr("/abs-escaped.txt", "out")
    good = build_war(scratch / "shop.war", "1.0")
    app = dataclasses.replace(plan_for(good), sha256=hashlib.sha256(war.read_bytes()).hexdigest())
    app = dataclasses.replace(app, source=str(war))
    res = stage(scratch, app, war=war)
    assert res.returncode == 0, res.stderr
    assert not (scratch / "escaped.txt").exists() and not Path("/abs-escaped.txt").exists()
    assert not (scratch / "app" / "escaped.txt").exists()
    assert (scratch / "app" / "releases" / app.release / "escaped.txt").exists()


def test_old_releases_are_pruned_but_the_live_one(scratch):
    lay = layout(scratch)
    apps = [plan_for(build_war(scratch / f"v{i}.war", f"1.{i}")) for i in range(6)]
    live = apps[0]
    descriptor = Path(context_path(live, lay))
    descriptor.parent.mkdir(parents=True)
    descriptor.write_text(f'<Context docBase="{scratch}/app/releases/{live.release}" />\n')
    for app in apps:
        res = stage(scratch, app)
        assert res.returncode == 0, res.stderr
        os.utime(scratch / "app" / "releases" / app.release)  # mtimes in staging order
    kept = set(releases(scratch))
    # The live one, the newest, and the KEEP (3) newest others.
    assert kept == {live.release, *(a.release for a in apps[-4:])}


def test_the_descriptor_is_staged_only_against_its_unpacked_release(scratch):
    war = build_war(scratch / "shop.war", "1.4.2")
    s = parse_settings(stacks.raw_config("dev", app={"war": str(war)}), stack="dev")
    topo = build_topology(s)
    node = next(n for n in topo.nodes if n.name == "tomcat-primary")
    lay = layout(scratch)
    context = next(a for a in app_artefacts(topo, node, lay) if a.role == "app-context")
    step = stage_step(context, lay)

    def run() -> subprocess.CompletedProcess:
        up = Path(context.uploaded(lay))
        up.parent.mkdir(parents=True, exist_ok=True)
        up.write_text(context.text)
        return subprocess.run(["bash", "-c", step.text], capture_output=True, text=True)

    refused = run()  # the release is not unpacked yet
    assert refused.returncode != 0 and "not an unpacked release" in refused.stdout + refused.stderr
    assert topo.app is not None
    assert stage(scratch, topo.app).returncode == 0
    staged = run()
    assert staged.returncode == 0, staged.stderr
    assert Path(context.staged(lay)).read_text() == context.text


def test_status_reports_the_release_the_descriptor_names(scratch):
    from nginx_ha.topology.kinds import BACKEND
    from nginx_ha.view import status as view

    war = build_war(scratch / "shop.war", "1.4.2")
    app = plan_for(war)
    assert stage(scratch, app).returncode == 0
    lay = layout(scratch)
    descriptor = Path(context_path(app, lay))
    descriptor.parent.mkdir(parents=True)
    descriptor.write_text(f'<Context docBase="{scratch}/app/releases/{app.release}" />\n')
    probe = view.probe_script(BACKEND, lay, systemctl="true", app_descriptor=str(descriptor))
    res = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    report = view.parse_probe("tomcat-primary", "primary", "192.168.159.131", False, res.stdout)
    assert report.app == view.AppRelease(app.release, app.sha256, "1.4.2")
