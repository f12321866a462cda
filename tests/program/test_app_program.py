"""The user's application (nginx-ha:app) in the program, under Pulumi mocks: the WAR
uploaded to every backend (or fetched by it), verified and unpacked by a stage step
before anything is activated; a new build changes only the backends' application
steps and activations (the load balancers' files stay); the outputs name the
release and each backend's version; a bad WAR is refused before any resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import stacks
from support.mocks import run_program
from support.war import build_war
from tests.program.commands import params_of

BACKENDS = ("tomcat-primary", "tomcat-backup")
LBS = ("nginx-master", "nginx-backup")


@pytest.fixture(scope="module")
def wars(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("wars")
    return {v: build_war(d / f"shop-{v}.war", v) for v in ("1.4.2", "1.4.3")}


@pytest.fixture(scope="module")
def runs(wars):
    def run(version: str):
        return run_program(
            stacks.raw_config("dev", app={"war": str(wars[version]), "healthPath": "/health"})
        )

    return {v: run(v) for v in wars}


def by_name(run):
    return {r.name: r for r in run.resources}


def test_the_war_is_uploaded_verified_and_unpacked_before_the_activation(runs, wars):
    res = by_name(runs["1.4.2"])
    for b in BACKENDS:
        upload = res[f"{b}-app-war-upload"]
        assert upload.inputs["source"].path == str(wars["1.4.2"])
        stage = res[f"{b}-app-stage"]
        params = params_of(stage.inputs["create"])
        assert params["FETCH"] == "no" and params["SOURCE"] == upload.inputs["remotePath"]
        assert len(params["SHA256"]) == 64 and params["RELEASE"] == params["SHA256"][:16]
        # The descriptor is staged (checked against the release) after the release is
        # unpacked, and the activation waits for both.
        waits = runs["1.4.2"].waits_for(res[f"{b}-app-context-stage"].key)
        assert stage.key in waits
        assert res[f"{b}-app-context-stage"].key in runs["1.4.2"].waits_for(
            res[f"{b}-activate"].key
        )
    # Nothing of the application on a load balancer.
    assert not [n for n in res if n.startswith(LBS) and "-app-" in n]


def test_a_new_build_changes_only_the_backends_application_steps(runs):
    a, b = by_name(runs["1.4.2"]), by_name(runs["1.4.3"])
    assert a.keys() == b.keys()
    differ = {
        n for n in a if repr(a[n].inputs.get("triggers")) != repr(b[n].inputs.get("triggers"))
    }
    assert differ == {
        *(f"{be}-{step}" for be in BACKENDS for step in ("app-war-upload", "app-stage")),
        *(f"{be}-app-context-{step}" for be in BACKENDS for step in ("upload", "stage")),
        # After the activations: the handbacks and the smoke test run again.
        *(f"{lb}-handback" for lb in LBS),
        "nginx-ha-smoke",
    }
    commands = {n for n in a if repr(a[n].inputs.get("create")) != repr(b[n].inputs.get("create"))}
    assert commands == {
        f"{be}-{step}" for be in BACKENDS for step in ("app-stage", "app-context-stage", "activate")
    }


def test_the_outputs_name_the_release_and_each_backend_s_version(runs):
    app = runs["1.4.2"].exports["app"]
    assert app["context"] == "/" and app["healthPath"] == "/health"
    assert app["release"] == app["sha256"][:16] and app["version"] == "1.4.2"
    assert set(app["backends"]) == set(BACKENDS)
    for b in BACKENDS:
        assert app["backends"][b]["sha256"] == app["sha256"]
    assert "app" not in run_program(stacks.raw_config("dev")).exports


def test_a_fetched_war_is_pinned_by_its_sha256():
    sha = "3f5a" * 16
    run = run_program(
        stacks.raw_config(
            "dev", app={"url": "https://repo.example.com/shop-1.4.2.war", "sha256": sha}
        )
    )
    res = by_name(run)
    assert not [n for n in res if n.endswith("-app-war-upload")]
    params = params_of(res["tomcat-primary-app-stage"].inputs["create"])
    assert (params["FETCH"], params["SHA256"]) == ("yes", sha)
    assert params["SOURCE"] == "https://repo.example.com/shop-1.4.2.war"


def test_a_file_that_is_not_a_war_is_refused_before_any_resource(tmp_path):
    bad = tmp_path / "shop.war"
    bad.write_text("not a zip")
    with pytest.raises(Exception) as e:
        run_program(stacks.raw_config("dev", app={"war": str(bad)}))
    assert "nginx-ha:app.war" in str(e.value) and "is not a WAR" in str(e.value)
