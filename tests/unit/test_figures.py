"""The failover figures: one source, docs/figures/failover.json (written by
bench/failover.py --figures), rendered into README.md and docs/lab.md by
bench/docfigures.py (the blocks: bench/figures_failover.py) like every other quoted figure
(tests/unit/test_doc_figures.py checks that no block is stale); here, that the blocks
exist and say how they were measured."""

from __future__ import annotations

from bench import docfigures, figures_failover, figures_files

ROOT = figures_files.ROOT


def test_the_readme_and_the_lab_doc_carry_the_failover_blocks():
    assert "<!-- figures:failover-readme -->" in (ROOT / "README.md").read_text()
    assert "<!-- figures:failover-lab -->" in (ROOT / "docs/lab.md").read_text()


def test_the_figures_say_which_keepalived_ran_and_whether_vrrp_was_authenticated():
    fig = figures_files.load("failover")
    assert fig["runs"] >= 3
    assert fig["keepalived"][0].isdigit()
    assert fig["vrrp_auth"]["ours"]
    text = figures_failover.failover_readme_table(fig)
    assert f"keepalived {fig['keepalived']}" in text
    assert "VRRP authentication" in text
    assert "docs/figures/failover.json" in fig["command"]


def test_every_scenario_of_ours_is_in_the_readme_table():
    fig = figures_files.load("failover")
    text = docfigures.render_block("failover-readme")
    for row in fig["rows"]:
        if row["profile"] == "ours":
            assert f"| {row['title']} |" in text
