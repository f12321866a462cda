"""Commands with a time limit, stopped whole as a terminal's Ctrl-C would stop them.

The end-to-end run (sandbox/e2e.py) runs every command, each ``pulumi`` call above
all, through :func:`bounded`: the command gets a process group of its own (Pulumi's
plugins and the program are in it), its output goes to a log as it comes, and when it
is still running at its limit, or the run is interrupted, the group gets SIGINT (Pulumi
cancels and releases its lock), again after a grace period, then SIGKILL. A timeout
raises :class:`CallTimeout`, whose message names the command and its limit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable

GRACE = 20.0  # seconds a process may take to end after each SIGINT


class CallTimeout(RuntimeError):
    """A command still running at its time limit (it was interrupted, then killed)."""


def bounded(
    argv: list[str],
    *,
    name: str,
    limit: float,
    cwd: os.PathLike | str,
    env: dict[str, str],
    log: os.PathLike | str | None = None,
    input: str | None = None,
    on_line: Callable[[str], None] | None = None,
    grace: float | None = None,
) -> subprocess.CompletedProcess:
    """Run ``argv`` in a process group of its own for at most ``limit`` seconds.

    Its output goes to ``log`` (stdout and stderr together, line by line as they come:
    ``tail -f`` works) or is captured (stdout and stderr apart); ``on_line`` sees each
    output line as it comes. At the limit, and on Ctrl-C (KeyboardInterrupt), the whole
    group is interrupted as a terminal's Ctrl-C would (SIGINT: Pulumi cancels and
    releases its lock), again after ``grace`` seconds, then killed; a timeout raises
    :class:`CallTimeout` naming ``name`` and the limit, an interrupt is re-raised."""
    grace = GRACE if grace is None else grace
    fh = open(log, "w") if log else None  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if fh else subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own group: stopped whole, plugins included
        )
        out: list[str] = []
        err: list[str] = []

        def read(stream, into: list[str]) -> None:
            for line in stream:
                into.append(line)
                if fh:
                    fh.write(line)
                    fh.flush()
                if on_line:
                    on_line(line)

        readers = [threading.Thread(target=read, args=(proc.stdout, out), daemon=True)]
        if proc.stderr is not None:
            readers.append(threading.Thread(target=read, args=(proc.stderr, err), daemon=True))
        for t in readers:
            t.start()
        if input is not None and proc.stdin is not None:
            try:
                proc.stdin.write(input)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            how = _stop_group(proc, grace)
            for t in readers:
                t.join(timeout=5)
            where = f" (output: {log})" if log else ""
            raise CallTimeout(
                f"{name}: still running at its time limit of {limit:.0f} s; {how}{where}"
            ) from None
        except KeyboardInterrupt:
            _stop_group(proc, grace)
            raise
        for t in readers:
            t.join(timeout=5)
        return subprocess.CompletedProcess(argv, rc, "".join(out), "".join(err))
    finally:
        if fh:
            fh.close()


def _stop_group(proc: subprocess.Popen, grace: float) -> str:
    """Interrupt ``proc``'s process group (SIGINT twice, as Ctrl-C), then kill it; what
    it took."""
    steps = [(signal.SIGINT, "interrupted"), (signal.SIGINT, "interrupted again")]
    said = []
    for sig, what in steps:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        said.append(what)
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        said.append("killed")
    # Whatever the group left behind (a plugin that ignored SIGINT) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return ", ".join(said) or "it had ended"
