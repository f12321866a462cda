"""``ast.parse`` for the tests that read the project's own source, safe from a CPython
3.11 fault: a garbage collection during a parse can run a finalizer that parses too (an
asyncio Future a program test left failed and unretrieved logs its traceback, whose
caret formatting calls ``ast.parse``), and the outer parse then raises ``SystemError:
AST constructor recursion depth mismatch`` (the depth is kept in state both share).
Which test meets such a Future depends on how xdist spreads the files, so the fault
came and went; with the collector paused for the parse it cannot happen."""

from __future__ import annotations

import ast
import gc


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source, filename)
    finally:
        if enabled:
            gc.enable()
