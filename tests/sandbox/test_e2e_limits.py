"""The end-to-end run's time limits and request loop, without QEMU.

Every `pulumi` call of the end-to-end run (sandbox/e2e.py, its driver
sandbox/e2e_driver.py) has a time limit: a call still running at its
limit is interrupted (its whole process group: SIGINT as Ctrl-C, then SIGKILL), the run
stops with a message naming the call and the limit, and cleans up as on Ctrl-C
(destroy, sandbox down). A fake `pulumi` that sleeps stands in for a hung one: it is put
where the run looks first (``<root>/.toolchain/bin``), and the sandbox's daemons are
replaced by stand-ins, so this needs neither root, libvirt nor a VM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import sandbox.bounded as bounded_mod
import sandbox.daemons as daemons_mod
import sandbox.e2e as e2e
import sandbox.e2e_driver as driver
from sandbox.bounded import CallTimeout, bounded

pytestmark = pytest.mark.pure  # no daemon, no namespace: runs by default (tests/conftest.py)

# A stand-in for pulumi: records each call, hangs on `up` and `preview` (with a child of
# its own, so the whole group must be stopped), answers the rest at once.
FAKE_PULUMI = """#!/usr/bin/env bash
echo "$*" >>"$FAKE_LOG"
case $1 in
  up | preview)
    {ignore_int}
    sleep 300 &
    echo $! >"$FAKE_CHILD"
    wait
    ;;
  stack) echo '{{}}' ;;
esac
exit 0
"""


def fake_pulumi(bin_dir: Path, *, ignore_int: bool = False) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "pulumi"
    path.write_text(FAKE_PULUMI.format(ignore_int="trap '' INT" if ignore_int else ""))
    path.chmod(0o755)
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (reaped by init soon).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    fake_pulumi(tmp_path / "bin")
    return {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "calls"),
        "FAKE_CHILD": str(tmp_path / "child"),
    }


# ------------------------------------------------------------------ bounded()


def test_a_hung_call_is_stopped_at_its_limit_with_a_message_naming_it(tmp_path, env):
    t = time.monotonic()
    with pytest.raises(CallTimeout) as err:
        bounded(
            ["pulumi", "up", "--stack", "sandbox"],
            name="pulumi up --stack sandbox",
            limit=1,
            cwd=tmp_path,
            env=env,
            log=tmp_path / "up.log",
            grace=2,
        )
    took = time.monotonic() - t
    assert took < 10, took
    msg = str(err.value)
    assert msg.startswith("pulumi up --stack sandbox: still running at its time limit of 1 s")
    assert "interrupted" in msg and str(tmp_path / "up.log") in msg
    # The whole group went, the command's own child too.
    assert wait_gone(int((tmp_path / "child").read_text()))


def test_a_call_that_ignores_ctrl_c_is_killed(tmp_path, env):
    fake_pulumi(tmp_path / "bin", ignore_int=True)
    with pytest.raises(CallTimeout, match=r"interrupted, interrupted again, killed"):
        bounded(["pulumi", "up"], name="pulumi up", limit=0.5, cwd=tmp_path, env=env, grace=0.5)
    assert wait_gone(int((tmp_path / "child").read_text()))


def test_a_call_within_its_limit_returns_its_output_and_code(tmp_path, env):
    p = bounded(["pulumi", "stack", "output"], name="x", limit=10, cwd=tmp_path, env=env)
    assert p.returncode == 0 and p.stdout.strip() == "{}"
    p = bounded(
        ["sh", "-c", "echo out; echo err >&2; exit 3"], name="x", limit=10, cwd=tmp_path, env=env
    )
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    seen: list[str] = []
    p = bounded(
        ["sh", "-c", "echo a; echo b >&2"],
        name="x",
        limit=10,
        cwd=tmp_path,
        env=env,
        log=tmp_path / "log",
        on_line=seen.append,
    )
    assert sorted(seen) == ["a\n", "b\n"] and sorted((tmp_path / "log").read_text().split()) == [
        "a",
        "b",
    ]


def test_e2e_pulumi_calls_are_bounded_by_their_subcommands_limit(tmp_path, env, monkeypatch):
    monkeypatch.setattr(driver, "WORK", tmp_path / "work")
    monkeypatch.setattr(driver, "PROJECT", tmp_path)
    monkeypatch.setattr(bounded_mod, "GRACE", 2.0)
    (tmp_path / "work").mkdir()
    run = e2e.E2E(out=lambda m: None, limits={"preview": 1})
    run.netns = None
    run.env = env
    t = time.monotonic()
    # An `up` after a config change has a limit of its own ("up-change").
    run.limits.update({"up": 3600, "up-change": 1})
    with pytest.raises(CallTimeout, match=r"^pulumi up --stack sandbox: .*time limit of 1 s"):
        run.pulumi("up", "--yes", limit="up-change")
    with pytest.raises(CallTimeout, match=r"^pulumi preview --stack sandbox: .*time limit of 1 s"):
        run.pulumi("preview", "--expect-no-changes")
    assert time.monotonic() - t < 20


# ------------------------------------------------------------------ the whole run


@pytest.fixture
def session(tmp_path, monkeypatch):
    """sandbox.e2e.main with a hanging fake pulumi and stand-in sandbox daemons; what
    the run did is in the returned record."""
    root = tmp_path / "root"
    fake_pulumi(root / ".toolchain" / "bin")
    # `up` and `destroy` go through `venv/bin/python -m nginx_ha` (the Automation API):
    # the same stand-in, called with "-m nginx_ha" first.
    fake = fake_pulumi(root / "venv" / "bin")
    fake.rename(root / "venv" / "bin" / "python")
    (root / "venv" / "bin" / "python").write_text(
        FAKE_PULUMI.format(ignore_int="").replace("case $1 in", 'case "$3" in')
    )
    record: dict = {"down": 0}
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls"))
    monkeypatch.setenv("FAKE_CHILD", str(tmp_path / "child"))
    monkeypatch.setattr(driver, "ROOT", root)
    monkeypatch.setattr(driver, "WORK", root / ".run" / "e2e")
    monkeypatch.setattr(driver, "PROJECT", root / ".run" / "e2e" / "project")
    monkeypatch.setattr(driver, "NETNS", None)
    monkeypatch.setattr(bounded_mod, "GRACE", 2.0)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(daemons_mod, "status", lambda paths: {"up": False})

    def down(paths, out=print):
        record["down"] += 1

    monkeypatch.setattr(daemons_mod, "down", down)
    monkeypatch.setattr(e2e.E2E, "prepare", lambda self: self.project.mkdir(parents=True))
    monkeypatch.setattr(e2e.E2E, "sandbox_up", lambda self: None)

    def bootstrap(self):
        self.stack_made = True

    monkeypatch.setattr(e2e.E2E, "bootstrap", bootstrap)

    def calls() -> list[str]:
        path = tmp_path / "calls"
        return path.read_text().splitlines() if path.exists() else []

    record["calls"] = calls
    record["child"] = tmp_path / "child"
    record["summary"] = lambda: json.loads((driver.WORK / "summary.json").read_text())
    return record


def test_a_hung_up_stops_the_run_and_cleans_up_as_on_ctrl_c(session, capsys):
    t = time.monotonic()
    rc = e2e.main(["--limit", "up=1"])
    assert time.monotonic() - t < 30
    assert rc == 1
    summary = session["summary"]()
    assert summary["ok"] is False
    assert (
        "pulumi up --stack sandbox (python -m nginx_ha up): still running at its time limit of 1 s"
        in summary["error"]
    )
    calls = session["calls"]()
    # up at Pulumi's default parallelism, then the cleanup's destroy, then sandbox down.
    assert calls[0].startswith("-m nginx_ha up --stack sandbox --yes")
    assert "--parallel" not in calls[0]
    assert calls[1].startswith("destroy --yes --skip-preview --stack sandbox")
    assert session["down"] == 1
    assert wait_gone(int(session["child"].read_text()))
    assert "time limit of 1 s" in capsys.readouterr().out


def test_ctrl_c_during_up_cleans_up_the_same_way(session):
    def interrupt():
        while not session["child"].exists():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    rc = e2e.main([])
    assert rc == 130
    assert session["summary"]()["error"].startswith("interrupted")
    calls = session["calls"]()
    assert calls[0].startswith("-m nginx_ha up ") and calls[1].startswith("destroy ")
    assert session["down"] == 1
    assert wait_gone(int(session["child"].read_text()))


def test_parallelism_is_opt_in(session):
    e2e.main(["--limit", "up=1", "--parallel", "4"])
    assert "--parallel=4" in session["calls"]()[0]


def test_limit_option_names_a_known_call():
    with pytest.raises(SystemExit):
        e2e.main(["--limit", "upp=3"])
    assert e2e._limit("destroy=30") == ("destroy", 30.0)


def test_one_ctrl_c_delivered_twice_is_one_interrupt():
    handler = e2e._Interrupts(window=2.0)
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)
    handler(signal.SIGINT, None)  # scripts/e2e.sh's copy of the same Ctrl-C
    handler.last = time.monotonic() - 3
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)


def test_e2e_sh_runs_python_with_sigint_ignored_so_the_run_takes_it_itself():
    # bash ignores SIGINT in background jobs of a script: the reason main() installs
    # its own handler instead of relying on Python's default.
    out = subprocess.run(
        [
            "bash",
            "-c",
            "python3 -c 'import signal; print(signal.getsignal(signal.SIGINT))' & wait",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out in ("1", "Handlers.SIG_IGN")
