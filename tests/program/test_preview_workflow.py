"""The preview workflow's steps on a fresh checkout, against the sandbox stack's files.

A fresh checkout's stack files hold no secret but what a stack commits encrypted; the
workflow's "Stack secrets" step (scripts/ci-stack-secrets.sh) gives the stack the rest
from the repository's secrets, then the preview runs the program. Here:

- under mocks (always): the committed Pulumi.sandbox.yaml plus what the step sets from
  the secrets the workflow passes makes the program build its whole graph; without the
  step the program stops, naming the missing secrets (what a fresh checkout did before);
- for real where the Pulumi toolchain is built: the step's script runs against a copy of
  the checkout's tracked files with a file backend and a throwaway passphrase; the stack
  file then carries the secrets encrypted (``secure:``), and the configuration the CLI
  decrypts from it builds the same graph under mocks. Where the sandbox libvirt is up
  with its base image, ``pulumi preview --stack sandbox`` runs for real too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from nginx_ha.config import SettingsError, stackfiles
from nginx_ha.config.preflight import load_private_key, public_line
from support import stacks
from support.mocks import run_program
from tests.program.test_ops_pulumi import pulumi_bin

ROOT = stacks.ROOT
STACK = "sandbox"
SANDBOX_NETNS = "nginx-ha-sandbox"
# The repository's secrets, as the workflow names them for the sandbox stack.
REPOSITORY_SECRETS = {
    "NGINX_HA_SANDBOX_SSH_PRIVATE_KEY": stacks.TEST_PRIVATE_KEY,
    "NGINX_HA_SANDBOX_SSH_HOST_KEY_SEED": stacks.TEST_HOST_KEY_SEED,
    "NGINX_HA_SANDBOX_TLS_TICKET_KEYS": stacks.TEST_TICKET_KEYS,
}
SECRET_REF = re.compile(
    r"^\$\{\{ secrets\[format\('([A-Z_]+)\{0\}([A-Z_]+)', matrix\.stack\)\] \}\}$"
)


def secrets_step() -> dict:
    wf = yaml.safe_load((ROOT / ".github/workflows/preview.yml").read_text())
    steps = wf["jobs"]["preview"]["steps"]
    return next(s for s in steps if s.get("run", "").strip() == "./scripts/ci-stack-secrets.sh")


def step_env(stack: str) -> dict[str, str]:
    """The secrets step's environment for ``stack``, its expressions evaluated against
    REPOSITORY_SECRETS (a secret that is not set is empty, as on GitHub)."""
    env = {}
    for var, expr in secrets_step()["env"].items():
        if expr == "${{ matrix.stack }}":
            env[var] = stack
            continue
        m = SECRET_REF.match(expr)
        assert m, f"{var}: {expr}"
        env[var] = REPOSITORY_SECRETS.get(f"{m.group(1)}{stack}{m.group(2)}".upper(), "")
    return env


def stand_in_tarball(tmp: Path) -> dict[str, str]:
    """keepalived.path/sha256 of a stand-in for the tarball `sandbox image` fetches
    (the program checks the file before any resource)."""
    tarball = tmp / "keepalived_2.2.7.orig.tar.gz"
    tarball.write_bytes(b"stand-in")
    return {"path": str(tarball), "sha256": hashlib.sha256(b"stand-in").hexdigest()}


def with_stand_in(raw: dict[str, str], tmp: Path) -> dict[str, str]:
    ka = json.loads(raw["nginx-ha:keepalived"])
    return raw | {"nginx-ha:keepalived": json.dumps(ka | stand_in_tarball(tmp))}


def script_sets(committed: dict, env: dict[str, str]) -> dict:
    """What scripts/ci-stack-secrets.sh adds to the committed config from ``env``."""
    out = dict(committed)
    out["nginx-ha:sshPrivateKey"] = env["NGINX_HA_SSH_PRIVATE_KEY"]
    out["nginx-ha:sshHostKeySeed"] = env["NGINX_HA_SSH_HOST_KEY_SEED"]
    if "nginx-ha:tls" in committed:  # the sandbox serves HTTPS (tls.selfSigned)
        out["nginx-ha:tlsTicketKeys"] = env["NGINX_HA_TLS_TICKET_KEYS"]
    ssh = dict(out.get("nginx-ha:ssh") or {})
    ssh.setdefault("publicKey", public_line(load_private_key(env["NGINX_HA_SSH_PRIVATE_KEY"])))
    out["nginx-ha:ssh"] = ssh
    return out


def assert_whole_graph(run) -> None:
    domains = run.of_type("libvirt:index/domain:Domain")
    assert sorted(d.name for d in domains) == sorted(
        f"{n}-domain" for n in ("nginx-master", "nginx-backup", "tomcat-primary", "tomcat-backup")
    )
    assert run.named("nginx-master-activate") and run.exports["vip"] == "192.168.159.110"


def test_the_step_gives_the_sandbox_stack_what_the_program_needs_under_mocks(tmp_path):
    env = step_env(STACK)
    assert env["STACK"] == STACK
    assert env["NGINX_HA_VRRP_AUTH_PASS"] == ""  # not set: the sandbox runs VRRP unauthenticated
    committed = stackfiles.read_config(STACK, ROOT)
    assert not any(k in committed for k in stacks.SECRET_KEYS), "the examples commit no secret"

    with pytest.raises(SettingsError) as err:
        run_program(with_stand_in(stackfiles.as_engine_config(committed), tmp_path), stack=STACK)
    missing = {p.key for p in err.value.problems}
    assert {"nginx-ha:sshPrivateKey", "nginx-ha:sshHostKeySeed"} <= missing
    assert "nginx-ha:tlsTicketKeys" in missing  # the sandbox serves HTTPS

    raw = with_stand_in(stackfiles.as_engine_config(script_sets(committed, env)), tmp_path)
    assert_whole_graph(run_program(raw, stack=STACK, secret_keys=stacks.SECRET_KEYS))


def fresh_checkout(dest: Path) -> Path:
    """The checkout's tracked files (a fresh clone's working tree) and its venv."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / "venv").symlink_to(ROOT / "venv")
    return dest


def test_the_step_for_real_on_a_fresh_checkout(tmp_path):
    bin_dir = pulumi_bin()
    if bin_dir is None:
        pytest.skip(
            "no Pulumi toolchain: build it with scripts/pulumi-toolchain.sh or name its "
            "folder in NGINX_HA_PULUMI_BIN (the mocks test above runs the same config)"
        )
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the fresh checkout is made of the tracked files")
    checkout = fresh_checkout(tmp_path / "checkout")
    (tmp_path / "state").mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "throwaway-test-passphrase",
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        **step_env(STACK),
    }
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    step = subprocess.run(
        ["./scripts/ci-stack-secrets.sh"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert step.returncode == 0, step.stdout + step.stderr
    print(step.stdout)
    assert "vrrpAuthPass: not needed (vrrp.allowUnauthenticated)" in step.stdout
    stack_file = yaml.safe_load((checkout / f"Pulumi.{STACK}.yaml").read_text())
    assert stack_file["encryptionsalt"]
    for key in ("nginx-ha:sshPrivateKey", "nginx-ha:sshHostKeySeed", "nginx-ha:tlsTicketKeys"):
        assert set(stack_file["config"][key]) == {"secure"}
    text = (checkout / f"Pulumi.{STACK}.yaml").read_text()
    assert stacks.TEST_HOST_KEY_SEED not in text and "PRIVATE KEY" not in text

    shown = subprocess.run(
        ["pulumi", "config", "--stack", STACK, "--show-secrets", "--json"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    config = json.loads(shown.stdout)
    raw = {k: v["value"] for k, v in config.items()}
    secret = {k for k, v in config.items() if v["secret"]}
    assert secret == {"nginx-ha:sshPrivateKey", "nginx-ha:sshHostKeySeed", "nginx-ha:tlsTicketKeys"}
    assert_whole_graph(run_program(with_stand_in(raw, tmp_path), stack=STACK, secret_keys=secret))

    sandbox_up = (
        Path("/run/nginx-ha-sandbox/libvirt-sock").exists()
        and Path("/run/nginx-ha-sandbox/images/keepalived_2.2.7.orig.tar.gz").exists()
    )
    if not sandbox_up or os.geteuid() != 0:
        print("the real `pulumi preview` needs the sandbox libvirt up with its image: not here")
        return
    preview = subprocess.run(
        ["ip", "netns", "exec", SANDBOX_NETNS, "pulumi", "preview", "--stack", STACK],
        cwd=checkout,
        env=env | {"PULUMI_SKIP_UPDATE_CHECK": "true"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert preview.returncode == 0, preview.stdout[-3000:] + preview.stderr[-2000:]
