"""The user's application (nginx-ha:app): every bad input refused before any resource,
naming its key and what to do, all of them at once; a WAR on this machine read for its
SHA-256 and version; what the plan makes of it (the release, Tomcat's context, the
health path asked, the JVM options), with real WARs built from support/app/."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import pytest

from nginx_ha import render
from nginx_ha.config import SettingsError, parse_settings
from nginx_ha.config.app import war_facts
from nginx_ha.config.preflight import app_problems
from nginx_ha.render.rollout import activation_params
from nginx_ha.topology import Layout, build_topology
from support import stacks
from support.war import build_war

SHA = "3f5a" * 16


@pytest.fixture(scope="module")
def war(tmp_path_factory) -> Path:
    return build_war(tmp_path_factory.mktemp("wars") / "shop.war", "1.4.2")


def settings(**app: Any):
    return parse_settings(stacks.raw_config("dev", app=app), stack="dev")


def problems(**app: Any) -> dict[str, str]:
    with pytest.raises(SettingsError) as e:
        settings(**app)
    return {p.key: p.message for p in e.value.problems}


# ------------------------------------------------------------------ refused


@pytest.mark.parametrize(
    ("app", "key", "says"),
    [
        ({"url": "https://repo.example.com/shop.war"}, "nginx-ha:app.sha256", "required with app.url"),
        ({}, "nginx-ha:app", "names no WAR"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "war": "/srv/a.war"}, "nginx-ha:app.url", "one source"),
        ({"url": "https://r.example.com/a.war", "sha256": "abc"}, "nginx-ha:app.sha256", "64 hexadecimal"),
        ({"url": "ftp://r.example.com/a.war", "sha256": SHA}, "nginx-ha:app.url", "URL like"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "context": "shop"}, "nginx-ha:app.context", "absolute URL path"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "context": "/a/../b"}, "nginx-ha:app.context", "no '.' or '..'"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "context": "/a//b"}, "nginx-ha:app.context", "no '//'"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "context": "/shop/"}, "nginx-ha:app.context", "no trailing"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "healthPath": "health"}, "nginx-ha:app.healthPath", "starting with '/'"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "healthPath": "/a b"}, "nginx-ha:app.healthPath", "segments"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "healthPath": "/nginx-ha/health"}, "nginx-ha:app.healthPath", "answers itself"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "javaOpts": "-Xmx1g; id"}, "nginx-ha:app.javaOpts", "no shell characters"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "javaOpts": "Xmx1g"}, "nginx-ha:app.javaOpts", "starting with '-'"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "javaOpts": "-Dx=$(id)"}, "nginx-ha:app.javaOpts", "no shell"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "gateTimeout": 1}, "nginx-ha:app.gateTimeout", "greater than or equal to 5"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "colour": "red"}, "nginx-ha:app.colour", "unknown key"),
        ({"war": "build/\nshop.war"}, "nginx-ha:app.war", "one line of printable text"),
        ({"war": ""}, "nginx-ha:app.war", "path of a WAR"),
        ({"url": "https://r.example.com/a.war", "sha256": SHA, "warmupPaths": ["/a/../b"]}, "nginx-ha:app.warmupPaths[0]", "no '.' or '..'"),
    ],
)  # fmt: skip
def test_a_bad_app_setting_is_refused_naming_its_key(app, key, says):
    found = problems(**app)
    assert key in found, found
    assert says in found[key], found[key]


def test_every_problem_of_the_app_is_reported_at_once():
    found = problems(
        url="https://repo.example.com/shop.war", context="shop", healthPath="health", javaOpts="x"
    )
    assert {
        "nginx-ha:app.context",
        "nginx-ha:app.healthPath",
        "nginx-ha:app.javaOpts",
    } <= set(found), found


# ------------------------------------------------------------ the WAR on this machine


def preflight_of(path: Path | str, **app: Any) -> dict[str, str]:
    s = settings(war=str(path), **app)
    return {p.key: p.message for p in app_problems(s)}


def test_a_missing_war_is_named_before_any_resource(tmp_path):
    found = preflight_of(tmp_path / "nowhere.war")
    assert "does not exist on this machine" in found["nginx-ha:app.war"]


def test_a_folder_is_not_a_war(tmp_path):
    assert "not a regular file" in preflight_of(tmp_path)["nginx-ha:app.war"]


def test_a_file_that_is_not_a_zip_is_not_a_war(tmp_path):
    bad = tmp_path / "shop.war"
    bad.write_text("<html>404 from the artifact server</html>\n")
    found = preflight_of(bad)["nginx-ha:app.war"]
    assert "is not a WAR: not a zip archive" in found and "mvn package" in found


def test_a_zip_without_web_inf_is_not_a_war(tmp_path):
    jar = tmp_path / "lib.war"
    with zipfile.ZipFile(jar, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n")
        z.writestr("com/example/Lib.class", b"\xca\xfe\xba\xbe")
    assert "no WEB-INF/ folder" in preflight_of(jar)["nginx-ha:app.war"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_war_is_named(tmp_path, war):
    locked = tmp_path / "locked.war"
    locked.write_bytes(war.read_bytes())
    locked.chmod(0)
    assert "cannot be read" in preflight_of(locked)["nginx-ha:app.war"]


def test_a_war_whose_sha256_is_not_the_pinned_one_is_refused(war):
    found = preflight_of(war, sha256=SHA)
    assert "not the build the stack pins" in found["nginx-ha:app.sha256"]
    assert war_facts(war).sha256 in found["nginx-ha:app.sha256"]


def test_a_good_war_passes_and_its_digest_and_version_are_read(war):
    assert preflight_of(war) == {}
    assert preflight_of(war, sha256=war_facts(war).sha256) == {}
    facts = war_facts(war)
    assert facts.version == "1.4.2"
    # The same sources and version build the same bytes: a release is named by them.
    again = build_war(war.parent / "again.war", "1.4.2")
    assert war_facts(again).sha256 == facts.sha256
    assert war_facts(build_war(war.parent / "next.war", "1.4.3")).sha256 != facts.sha256


# --------------------------------------------------------------- what the plan makes


def test_the_plan_names_the_release_and_asks_the_health_path_under_the_context(war):
    s = settings(
        war=str(war),
        context="/shop",
        healthPath="/health",
        javaOpts="-Xmx256m",
        warmupPaths=["/", "/catalog"],
    )
    topo = build_topology(s)
    assert topo.app is not None
    assert topo.app.warmup_paths == ("/shop", "/shop/catalog")
    sha = war_facts(war).sha256
    assert (topo.app.sha256, topo.app.release, topo.app.version) == (sha, sha[:16], "1.4.2")
    assert (topo.app.context_name, topo.app.health_path) == ("shop", "/shop/health")
    plans = render.plans(topo, lambda _n: Layout())
    backend = plans["tomcat-primary"]
    files = backend.files({})
    descriptor = files["/var/lib/tomcat10/conf/Catalina/localhost/shop.xml"]
    doc_base = ET.fromstring(descriptor).get("docBase")  # noqa: S314 - our own rendered file
    assert doc_base == f"/var/lib/nginx-ha/app/releases/{sha[:16]}"
    assert "-Xmx256m" in files["/var/lib/tomcat10/bin/setenv.sh"]
    # The load balancers get no file of the application.
    assert not [p for p in plans["nginx-master"].files({}) if "tomcat" in p]


def test_without_java_opts_the_heap_is_half_the_vm_s_memory(war):
    topo = build_topology(settings(war=str(war)))
    files = render.plans(topo, lambda _n: Layout())["tomcat-backup"].files({})
    mib = next(n for n in topo.nodes if n.name == "tomcat-backup").size.memory_mib
    assert f"-Xmx{mib // 2}m" in files["/var/lib/tomcat10/bin/setenv.sh"]


def params_of(topo, plans, name: str) -> dict[str, str]:
    """The parameters of a node's activation."""
    node = next(n for n in topo.nodes if n.name == name)
    return activation_params(topo, node, Layout(), plans[name].parts)


def test_the_activation_drains_a_backend_and_gates_through_each_load_balancer(war):
    topo = build_topology(settings(war=str(war), healthPath="/health", gateTimeout=42))
    plans = render.plans(topo, lambda _n: Layout())
    params = params_of(topo, plans, "tomcat-primary")
    primary = next(n for n in topo.nodes if n.name == "tomcat-primary")
    assert params["GATE_VIA"].split() == [f"http://{lb.ip}/health" for lb in topo.load_balancers]
    assert params["GATE_VIA_EXPECT"] == f"{primary.ip}:{primary.port}"
    assert (params["GATE"], params["GATE_TIMEOUT"]) == ("app", "42")
    assert params["GATE_URL"] == f"http://127.0.0.1:{primary.port}/health"
    assert params["DRAIN_PORT"] == str(primary.port)
    assert params["WARM_URLS"] == f"http://127.0.0.1:{primary.port}/"
    # nginx sends to a backup only while no primary answers: it is asked on itself only.
    backup = params_of(topo, plans, "tomcat-backup")
    assert "GATE_VIA" not in backup and backup["GATE_RECORD"] == "yes"
    lb = params_of(topo, plans, "nginx-master")
    assert (lb["GATE_PATH"], lb["GATE_MARKER"]) == ("/health", "no")
    assert lb["GATE_URL"].endswith("/health")


def test_without_the_app_the_gates_ask_the_node_page():
    topo = build_topology(parse_settings(stacks.raw_config("dev"), stack="dev"))
    plans = render.plans(topo, lambda _n: Layout())
    assert params_of(topo, plans, "tomcat-primary")["GATE"] == "marker"
    assert "GATE_VIA" not in params_of(topo, plans, "tomcat-primary")
    lb = params_of(topo, plans, "nginx-master")
    assert (lb["GATE_PATH"], lb["GATE_MARKER"]) == ("/", "yes")
