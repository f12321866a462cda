"""The README's benchmark table: one row per bench, its command and the sentence its
saved figures give (``--rows`` prints the same); the test and LVS benches' rows once
they have saved theirs."""

from __future__ import annotations

from bench.figures_e2e import e2e_summary
from bench.figures_files import FIGURES, load
from bench.figures_lvs import lvs_summary
from bench.figures_parts import keepalived_summary, nginx_upstream_summary, program_summary
from bench.figures_rollout import rollout_summary
from bench.figures_tests import tests_summary


def bench_table() -> list[str]:
    rows = [
        ("venv/bin/python -m bench.program", program_summary(load("program"))),
        (
            "sudo venv/bin/python -m bench.keepalived_build",
            keepalived_summary(load("keepalived_build")),
        ),
        (
            "sudo venv/bin/python -m bench.nginx_upstream",
            nginx_upstream_summary(load("nginx_upstream")),
        ),
        (
            "sudo venv/bin/python bench/failover.py --runs 3",
            "the lab scenarios, tutorial vs ours vs fast adverts (the table above)",
        ),
        ("sudo venv/bin/python -m bench.rollout", rollout_summary(load("rollout"))),
        ("sudo venv/bin/python -m bench.e2e --pulumi", e2e_summary(load("e2e"))),
    ]
    if (FIGURES / "tests.json").exists():
        rows.append(("venv/bin/python -m bench.tests", tests_summary(load("tests"))))
    if (FIGURES / "lvs.json").exists():
        rows.append(("sudo venv/bin/python -m bench.lvs --runs 3", lvs_summary(load("lvs"))))
    return ["| command | measures |", "|---|---|"] + [f"| `{c}` | {m} |" for c, m in rows]
