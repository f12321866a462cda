"""bench.tests: the test command's steps timed; its JUnit reading and its table."""

from __future__ import annotations

from pathlib import Path

from bench import figures_tests
from bench import tests as bench_tests

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.unit.test_a" name="test_quick" time="0.01"/>
<testcase classname="tests.unit.test_a" name="test_slow" time="4.2"/>
<testcase classname="tests.lab.test_b" name="test_skipped" time="0.0"><skipped message="no"/></testcase>
<testcase classname="tests.lab.test_b" name="test_broken" time="1.5"><failure message="x"/></testcase>
<testcase classname="tests.lab.test_b" name="test_error" time="0.3"><error message="y"/></testcase>
</testsuite></testsuites>
"""


def test_the_junit_report_gives_counts_and_the_slowest_tests(tmp_path: Path):
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    got = bench_tests._junit(report)
    assert (got["passed"], got["skipped"], got["failed"]) == (2, 1, 2)
    assert [s["test"] for s in got["slowest"]] == [
        "tests.unit.test_a::test_slow",
        "tests.lab.test_b::test_broken",
        "tests.lab.test_b::test_error",
    ]


def test_the_plan_runs_the_fast_layers_together_and_every_other_layer_alone():
    steps = bench_tests.plan(every=False)
    names = [n for n, _, _ in steps]
    assert names[:4] == ["ruff check", "ruff format --check", "lint-imports", "pyright"]
    fast = steps[4][1]
    assert "-n" in fast and all(d in fast for d in bench_tests.FAST)
    others = [cmd[-1] for _, cmd, _ in steps[5:]]
    assert "tests/lab" in others and "tests/unit" not in others
    assert all("no:xdist" in cmd for _, cmd, _ in steps[5:])


def test_the_table_totals_the_steps_and_names_the_slowest():
    run = {
        "ci": False,
        "load_before": 0.4,
        "measured": "2026-11-30",
        "machine": "2 cores",
        "rows": [
            {"step": "ruff check", "seconds": 0.5, "exit": 0},
            {
                "step": "fast layers (tests/unit)",
                "seconds": 40.0,
                "exit": 0,
                "passed": 500,
                "skipped": 1,
                "failed": 0,
                "slowest": [{"test": "tests.render.test_x::test_y", "s": 9.1}],
            },
        ],
    }
    lines = figures_tests.tests_table(run)
    assert "| fast layers (tests/unit) | 40.0 s | 500 | 1 | 0 | test_x::test_y 9.1 s |" in lines
    assert lines[-1].startswith("| **total** | 40.5 s |")
    assert "fast layers 40.0 s (500 passed)" in figures_tests.tests_summary({"default": run})
