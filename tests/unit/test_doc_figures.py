"""One source for the figures the README and docs quote (bench/docfigures.py): every
generated block matches docs/figures/*.json, and the docs speak of the repository only
(no issue numbers, no files outside it)."""

from __future__ import annotations

import re

from bench import docfigures as figures
from bench import figures_files, figures_table
from support.stacks import ROOT


def test_every_figures_block_is_generated_from_its_json():
    stale = []
    seen = set()
    for path in figures.DOCS:
        text = path.read_text()
        seen |= {m.group(2) for m in figures.BLOCK.finditer(text)}
        _, changed = figures.update(text)
        stale += [f"{path.relative_to(ROOT)}: {name}" for name in changed]
    assert stale == [], "run `venv/bin/python -m bench.docfigures --write`"
    assert seen == set(figures.BLOCKS), "every block is quoted somewhere, and only those"


def test_the_check_fails_on_a_hand_edited_figure():
    readme = (ROOT / "README.md").read_text()
    quoted = re.search(r"<!-- figures:e2e-total -->(.*?)<!--", readme)
    assert quoted, "the README quotes the end-to-end run's total"
    edited = readme.replace(quoted.group(1), "19 min 59 s (by hand)", 1)
    assert edited != readme
    _, changed = figures.update(edited)
    assert changed == ["e2e-total"]


def test_the_benchmark_rows_name_where_and_when_they_were_measured():
    for line in figures_table.bench_table()[2:]:
        if "bench/failover.py" in line:
            continue  # the HA table's own source
        assert re.search(r"\d{4}-\d{2}-\d{2}", line), line
    program = figures_files.load("program")
    sizes = [r["vms"] for r in program["rows"]]
    assert sizes == sorted(sizes)
    assert all(
        a["program_s"] <= b["program_s"]
        for a, b in zip(program["rows"], program["rows"][1:], strict=False)
    )


def test_the_readme_and_docs_speak_of_the_repository_only():
    bad = re.compile(r"\bissue\s+\d+|\(issue\b|issue's|LAB_NOTES|\.\./shared|(?<![.\w])/work/")
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in figures.DOCS
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if bad.search(line)
    ]
    assert found == []
