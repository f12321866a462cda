"""The failover figures have one source, docs/failover-figures.json (written by
bench/failover.py --figures): the tables in README.md and docs/lab.md are exactly what
bench/figures.py renders from it, so a new measurement cannot leave one of them stale."""

from __future__ import annotations

import pytest

from bench import figures


def test_the_readme_and_the_lab_doc_show_the_figures_of_the_json_file():
    fig = figures.load()
    for name, path in figures.DOCS.items():
        got = figures.section(path.read_text(), name)
        assert got is not None, f"{path} has no failover-figures:{name} section"
        assert got == figures.RENDER[name](fig), (
            f"{path}'s figures differ from {figures.FIGURES}: run "
            "`sudo venv/bin/python bench/failover.py ... --figures docs/failover-figures.json "
            "--docs` (or figures.update_docs)"
        )


def test_the_figures_say_which_keepalived_ran_and_whether_vrrp_was_authenticated():
    fig = figures.load()
    assert fig["runs"] >= 3
    assert fig["keepalived"][0].isdigit()
    assert fig["vrrp_auth"]["ours"]
    text = figures.readme_table(fig)
    assert f"keepalived {fig['keepalived']}" in text
    assert "VRRP authentication" in text


def test_update_docs_rewrites_only_the_marked_section(tmp_path):
    fig = figures.load()
    doc = tmp_path / "doc.md"
    begin, end = figures.markers("lab")
    doc.write_text(f"before\n{begin}\nold figures\n{end}\nafter\n")
    assert figures.update_docs(fig, {"lab": doc}) == [doc]
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n")
    assert figures.section(text, "lab") == figures.lab_table(fig)
    assert figures.update_docs(fig, {"lab": doc}) == []  # nothing left to change
    doc.write_text("no markers\n")
    with pytest.raises(ValueError, match="no <!-- failover-figures:lab"):
        figures.update_docs(fig, {"lab": doc})
