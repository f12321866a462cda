"""One source for the figures the README and docs quote: ``docs/figures/<name>.json``.

Each benchmark writes its results there (``--save``) and prints the README's rows from
them (``--rows``, without measuring again). The README and docs hold each quoted
figure between markers, generated from those files::

    <!-- figures:bench-table -->
    ...rows rendered from docs/figures/*.json...
    <!-- /figures:bench-table -->

    venv/bin/python -m bench.docfigures --check    # exit 1 when a block is out of date
    venv/bin/python -m bench.docfigures --write    # rewrite the blocks from the JSON files

tests/unit/test_doc_figures.py runs the check, so a figure changes only through its file.

| file | written by | blocks |
|---|---|---|
| program.json | ``python -m bench.program --save`` | bench-table |
| keepalived_build.json | ``sudo python -m bench.keepalived_build --save`` | bench-table, keepalived-build |
| nginx_upstream.json | ``sudo python -m bench.nginx_upstream --save`` | bench-table, nginx-upstream |
| e2e.json | ``sudo python -m bench.e2e --pulumi --save`` | bench-table, e2e-total, e2e-phases |
| rollout.json | ``sudo python -m bench.rollout --save`` | bench-table, rollout |
| tests.json | ``python -m bench.tests [--all] --save`` | bench-table, test-time |
| lvs.json | ``sudo python -m bench.lvs --runs 3 --save`` | bench-table, lvs, lvs-summary, lvs-expire |
| lvs-kernel-default.json | ``sudo python -m bench.lvs --runs 3 --expire-nodest-conn 0 --save`` | lvs-expire |
| failover.json | ``sudo python bench/failover.py --figures docs/figures/failover.json [--merge] --docs`` | failover-readme, failover-lab |
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from bench.figures_e2e import e2e_phases, e2e_total
from bench.figures_failover import failover_https_table, failover_lab_table, failover_readme_table
from bench.figures_files import FIGURES, ROOT, load
from bench.figures_lvs import lvs_block, lvs_expire_table, lvs_summary
from bench.figures_parts import keepalived_build_line, nginx_upstream_table
from bench.figures_rollout import APP_CHANGES, activations_line, rollout_table
from bench.figures_table import bench_table
from bench.figures_tests import tests_block

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- figures:([a-z0-9-]+) -->)(.*?)(<!-- /figures:\2 -->)", re.S)

# Each block by its name in the docs; its lines come from its area's module
# (bench/figures_<area>.py), the figure files through bench/figures_files.py.
BLOCKS: dict[str, Callable[[], list[str]]] = {
    "bench-table": bench_table,
    "e2e-total": e2e_total,
    "e2e-phases": e2e_phases,
    "nginx-upstream": nginx_upstream_table,
    "keepalived-build": keepalived_build_line,
    "rollout": rollout_table,
    "rollout-app": lambda: rollout_table(APP_CHANGES),
    "rollout-app-activations": lambda: activations_line(APP_CHANGES),
    "failover-readme": lambda: failover_readme_table(load("failover")).splitlines(),
    "failover-lab": lambda: failover_lab_table(load("failover")).splitlines(),
    "failover-https": lambda: failover_https_table(load("failover")).splitlines(),
}
# Blocks of benches whose figures exist only once the bench has saved them.
for _name, _file, _block in (
    ("test-time", "tests", tests_block),
    ("lvs", "lvs", lvs_block),
    ("lvs-summary", "lvs", lambda: [lvs_summary(load("lvs"))]),
):
    if (FIGURES / f"{_file}.json").exists():
        BLOCKS[_name] = _block
if (FIGURES / "lvs.json").exists() and (FIGURES / "lvs-kernel-default.json").exists():
    BLOCKS["lvs-expire"] = lambda: lvs_expire_table(load("lvs"), load("lvs-kernel-default"))
INLINE = {"e2e-total", "keepalived-build", "lvs-summary"}


def render_block(name: str) -> str:
    lines = BLOCKS[name]()
    if name in INLINE:
        return lines[0]
    return "\n" + "\n".join(lines) + "\n"


def update(text: str) -> tuple[str, list[str]]:
    """``text`` with every block rewritten; the names of the blocks that changed."""
    changed: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in BLOCKS:
            raise KeyError(f"unknown figures block {name!r}")
        new = render_block(name)
        if new != m.group(3):
            changed.append(name)
        return m.group(1) + new + m.group(4)

    return BLOCK.sub(sub, text), changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.docfigures", description=__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", action="store_true", help="exit 1 when a block is out of date")
    g.add_argument("--write", action="store_true", help="rewrite the blocks")
    args = p.parse_args(argv)
    stale = []
    for path in DOCS:
        text = path.read_text()
        new, changed = update(text)
        if changed:
            stale += [f"{path.relative_to(ROOT)}: {name}" for name in changed]
            if args.write:
                path.write_text(new)
    for line in stale:
        print(("rewrote " if args.write else "out of date: ") + line, file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
