"""Progress of long work (nginx_ha/view/progress.py, nginx_ha/ops/events.py): phase lines
as they start and end, a live count from Pulumi's engine events, the events recorded
for the e2e's phases, and the image build's count from mmdebstrap's own output."""

from __future__ import annotations

import io
import json
import sys
import time

import pytest
from pulumi.automation import events as ev

from nginx_ha.ops.events import StepCounter
from nginx_ha.view.progress import Reporter
from sandbox import image

STACK_URN = "urn:pulumi:dev::nginx-ha::pulumi:pulumi:Stack::nginx-ha-dev"
DOMAIN = "urn:pulumi:dev::nginx-ha::nginx-ha:index:NginxHaStack$libvirt:index/domain:Domain::nginx-master-domain"
BUILD = "urn:pulumi:dev::nginx-ha::nginx-ha:index:NginxHaStack$command:remote:Command::nginx-master-keepalived-build"

KINDS = {  # the engine's JSON names
    "resource_pre_event": "resourcePreEvent",
    "res_outputs_event": "resOutputsEvent",
    "res_op_failed_event": "resOpFailedEvent",
}


def event(
    kind: str, urn: str, op: str = "create", typ: str = "", **extra: object
) -> ev.EngineEvent:
    meta = {"op": op, "urn": urn, "type": typ or urn.split("::")[2].split("$")[-1], "provider": ""}
    body: dict[str, object] = {"metadata": meta, **extra}
    return ev.EngineEvent.from_json({"sequence": 1, "timestamp": 1, KINDS[kind]: body})


def plain() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    return Reporter(stream=out, live=False, heartbeat=0), out


def test_phase_lines_say_when_a_phase_starts_ends_and_fails():
    rep, out = plain()
    with rep.phase("base image"):
        pass
    with pytest.raises(RuntimeError), rep.phase("pulumi up dev"):
        raise RuntimeError("boom")
    lines = out.getvalue().splitlines()
    assert lines[0] == "▶ base image" and lines[1].startswith("✔ base image (")
    assert lines[2] == "▶ pulumi up dev" and lines[3].startswith("✘ pulumi up dev failed after")


def test_engine_events_become_a_count_and_a_record(tmp_path):
    rep, out = plain()
    record = tmp_path / "events.jsonl"
    counter = StepCounter(rep, record)
    counter.previewing = True
    for urn in (DOMAIN, BUILD):
        counter(event("resource_pre_event", urn, planning=True))
    counter(event("resource_pre_event", STACK_URN))  # the stack itself is not counted
    counter.previewing = False
    assert list(counter.planned) == [DOMAIN, BUILD]
    rep.start_count("up dev", len(counter.planned))
    counter(event("resource_pre_event", STACK_URN))
    counter(event("resource_pre_event", DOMAIN))
    counter(event("resource_pre_event", BUILD))
    counter(event("res_outputs_event", DOMAIN))
    counter(event("res_op_failed_event", BUILD, status=1, steps=1))
    counter(
        ev.EngineEvent.from_json(
            {
                "sequence": 2,
                "timestamp": 2,
                "diagnosticEvent": {
                    "message": "keepalived build failed\n",
                    "color": "never",
                    "severity": "error",
                    "urn": BUILD,
                },
            }
        )
    )
    rep.stop_count()
    counter.close()
    text = out.getvalue()
    assert "▶ [0/2] create nginx-master-domain" in text
    assert "✔ [1/2] create nginx-master-domain" in text
    assert "✘ [1/2] create nginx-master-keepalived-build" in text
    assert "error nginx-master-keepalived-build: keepalived build failed" in text
    assert counter.failed == [BUILD]
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(r["event"], r["name"]) for r in rows] == [
        ("start", "nginx-master-domain"),
        ("start", "nginx-master-keepalived-build"),
        ("done", "nginx-master-domain"),
        ("failed", "nginx-master-keepalived-build"),
    ]
    assert all(r["t"] > 1e9 for r in rows)  # when it reached us, not the engine's whole seconds


def test_a_replacement_is_one_step():
    rep, out = plain()
    counter = StepCounter(rep)
    rep.start_count("up", 1)
    for kind, op in (
        ("resource_pre_event", "create-replacement"),
        ("res_outputs_event", "create-replacement"),
        ("resource_pre_event", "replace"),
        ("res_outputs_event", "replace"),
        ("resource_pre_event", "delete-replaced"),
        ("res_outputs_event", "delete-replaced"),
    ):
        counter(event(kind, DOMAIN, op=op))
    rep.stop_count()
    assert out.getvalue().count("✔") == 1 and "[1/1]" in out.getvalue()


def test_a_silent_minute_gets_a_line_naming_what_runs():
    out = io.StringIO()
    rep = Reporter(stream=out, live=False, heartbeat=0.05)
    rep.start_count("up dev", 3)
    rep.step_started(BUILD, "create nginx-master-keepalived-build")
    time.sleep(0.2)
    rep.stop_count()
    assert "… up dev [0/3] running: create nginx-master-keepalived-build" in out.getvalue()


def test_the_image_build_counts_packages_from_mmdebstrap_output(tmp_path):
    fake = (
        "print('I: downloading packages with apt...')\n"
        "print('0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded.')\n"
        "for p in ('a', 'b', 'c'):\n    print(f'Setting up {p} (1.0) ...')\n"
        "print('I: running --customize-hook in shell...')\n"
    )
    rep, out = plain()
    log = tmp_path / "build.log"
    with log.open("w") as fh:
        image._run_counted([sys.executable, "-c", fake], fh, rep)
    text = out.getvalue()
    assert "mmdebstrap: downloading packages with apt..." in text
    assert "mmdebstrap: running --customize-hook in shell..." in text
    assert rep._done == 3 and rep._total == 3
    assert "Setting up b (1.0)" in log.read_text()


def test_the_e2e_takes_its_phase_times_from_the_recorded_events(tmp_path):
    from sandbox.e2e_driver import step_ends

    record = tmp_path / "up.log.events.jsonl"
    record.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "t": 10.0,
                        "event": "start",
                        "type": "libvirt:index/domain:Domain",
                        "name": "a-domain",
                    }
                ),
                json.dumps(
                    {
                        "t": 17.5,
                        "event": "done",
                        "type": "libvirt:index/domain:Domain",
                        "name": "a-domain",
                    }
                ),
                json.dumps(
                    {
                        "t": 90.0,
                        "event": "done",
                        "type": "command:remote:Command",
                        "name": "a-wait-ready",
                    }
                ),
                json.dumps(
                    {
                        "t": 95.0,
                        "event": "done",
                        "type": "command:remote:Command",
                        "name": "a-wait-ready",
                    }
                ),
                "not json",
            ]
        )
    )
    assert step_ends(record) == {"libvirt:a-domain": 17.5, "command:a-wait-ready": 90.0}
    assert step_ends(tmp_path / "missing.jsonl") == {}
