"""Timelines (lab/timeline.py) from a made-up scenario, no root needed: the raw
requests and the nodes' events on the fault's clock, written as JSON, PNG and SVG;
the VRRP transitions and watcher lines parsed as the nodes write them."""

from __future__ import annotations

import json

from lab import timeline
from lab.probe import Request
from lab.timeline import Event

FAULT_WALL = 1_800_000_000.0  # the fault's wall-clock time
FAULT_MONO = 500.0  # and the same moment on the probe's monotonic clock


def requests() -> list[Request]:
    out = []
    for i in range(60):
        t0 = FAULT_MONO - 0.5 + i * 0.02
        if i < 25:
            out.append(Request(t0, t0 + 0.003, 200, "lb-a", "tc-1", None))
        elif i < 28:
            out.append(Request(t0, t0 + 2.0, 0, None, None, "timeout"))
        elif i < 40:
            out.append(Request(t0, t0 + 1.01, 200, "lb-b", "tc-1", None))
        else:
            out.append(Request(t0, t0 + 0.002, 200, "lb-b", "tc-2", None))
    return out


def test_the_nodes_files_become_events_on_the_faults_clock(tmp_path):
    transitions = tmp_path / "transitions"
    transitions.write_text(
        f"{FAULT_WALL - 30} VI_121 BACKUP 150\n"
        f"{FAULT_WALL - 20} VI_121 MASTER 150\n"
        f"{FAULT_WALL - 20} VI_9 BACKUP 100\n"
        f"{FAULT_WALL + 0.4} VI_121 FAULT 150\n"
    )
    got = timeline.vrrp_events(transitions, "lb-a", "VI_121", FAULT_WALL, since=-1.0)
    # the state it was in when the window opened, then what happened in it
    assert [(round(e.t, 3), e.what) for e in got] == [(-20.0, "MASTER"), (0.4, "FAULT")]
    log = tmp_path / "nginx_watch.log"
    log.write_text(
        f"{FAULT_WALL - 60} watching http://127.0.0.1/nginx-ha/health\n"
        f"{FAULT_WALL - 59} verdict up\n"
        f"{FAULT_WALL + 0.3} hold on: nginx accepts but does not answer (0.040 s)\n"
        "curl: (28) a stray line without a time\n"
        f"{FAULT_WALL + 0.7} verdict down (no answer in 0.15 s)\n"
    )
    got = timeline.watch_events(log, "lb-a", FAULT_WALL, since=-1.0)
    assert [(round(e.t, 3), e.what.split(":")[0]) for e in got] == [
        (0.3, "hold on"),
        (0.7, "verdict down (no answer in 0.15 s)"),
    ]


def test_a_timeline_is_written_as_json_png_and_svg(tmp_path):
    events = [
        Event(-20.0, "lb-a", "vrrp", "MASTER"),
        Event(-20.0, "lb-b", "vrrp", "BACKUP"),
        Event(0.0, "", "fault", "nginx hung on the MASTER (SIGSTOP)"),
        Event(0.3, "lb-a", "watch", "hold on: nginx accepts but does not answer"),
        Event(0.7, "lb-a", "watch", "verdict down (no answer in 0.15 s)"),
        Event(0.71, "lb-a", "vrrp", "FAULT"),
        Event(0.86, "lb-b", "vrrp", "MASTER"),
    ]
    data = timeline.record(
        scenario="nginx-hung",
        title="nginx hung on the MASTER (SIGSTOP)",
        profile="ours",
        holder="lb-a",
        primary="tc-1",
        lbs=["lb-a", "lb-b"],
        fault_at=FAULT_MONO,
        requests=requests(),
        events=events,
        summary={"failed": 3, "time_to_answer": "0.88 s", "worst_latency": "1.01 s"},
    )
    paths = timeline.write(data, tmp_path / "out" / "nginx-hung-run1")
    assert [p.name for p in paths] == [
        "nginx-hung-run1.json",
        "nginx-hung-run1.png",
        "nginx-hung-run1.svg",
    ]
    saved = json.loads(paths[0].read_text())
    assert len(saved["requests"]) == 60
    first = saved["requests"][0]
    assert first["t0"] == -0.5 and first["outcome"] == "MASTER -> tc-1"
    outcomes = {r["outcome"] for r in saved["requests"]}
    assert outcomes == {
        "MASTER -> tc-1",
        "BACKUP -> tc-1",
        "BACKUP -> tc-2",
        "failed: no answer in time",
    }
    assert [e["kind"] for e in saved["events"]][:3] == ["vrrp", "vrrp", "fault"]
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[2].read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    # modest files: the docs commit some of them
    assert paths[1].stat().st_size < 150_000
    assert paths[2].stat().st_size < 400_000
