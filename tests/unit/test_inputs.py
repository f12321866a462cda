"""Inputs as a careless or hostile operator writes them (issue 14): every class of bad
value is refused before any resource, naming its key. The README's reliability
section counts these rows (``python -m tests.unit.test_inputs`` prints the counts)."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from nginx_ha.config import SettingsError, parse_settings
from nginx_ha.config.preflight import preflight
from support import stacks

LBS = [
    {"name": "nginx-master", "ip": "192.168.159.129", "priority": 150},
    {"name": "nginx-backup", "ip": "192.168.159.130", "priority": 100},
]
BACKENDS = [
    {"name": "tomcat-primary", "ip": "192.168.159.131", "role": "primary"},
    {"name": "tomcat-backup", "ip": "192.168.159.132", "role": "backup"},
]
SSH = {"user": "debian", "publicKey": stacks.TEST_PUBLIC_KEY}


def lb(i: int, **changes) -> list[dict]:
    out = copy.deepcopy(LBS)
    out[i].update(changes)
    return out


def be(i: int, **changes) -> list[dict]:
    out = copy.deepcopy(BACKENDS)
    out[i].update(changes)
    return out


NOTIFY = {"emailTo": ["ops@example.com"], "smtpServer": "smtp.example.com:25"}

# (class, what, overrides, key named, fragment of the message)
ROWS: list[tuple[str, str, dict, str, str]] = [
    # -- text that escapes its context
    ("escape", "e-mail with a newline and a vrrp_script block",
     {"notify": dict(NOTIFY, emailTo=['ops@example.com\nvrrp_script evil {\n script "/bin/sh"\n}'])},
     "nginx-ha:notify.emailTo[0]", "control character"),
    ("escape", "e-mail with a brace on one line", {"notify": dict(NOTIFY, emailTo=["a@b.com } x {"])},
     "nginx-ha:notify.emailTo[0]", "not an e-mail address"),
    ("escape", "sender with a comment character", {"notify": dict(NOTIFY, emailFrom="ka#x@example.com")},
     "nginx-ha:notify.emailFrom", "not an e-mail address"),
    ("escape", "SMTP server with a space", {"notify": dict(NOTIFY, smtpServer="smtp.example.com 25; x")},
     "nginx-ha:notify.smtpServer", "SMTP server"),
    ("escape", "health path with a ';'", {"nginx": {"healthPath": "/h;return 200"}},
     "nginx-ha:nginx.healthPath", "absolute URL path"),
    ("escape", "health path with a brace", {"nginx": {"healthPath": "/h{"}},
     "nginx-ha:nginx.healthPath", "absolute URL path"),
    ("escape", "public key with a newline and a second key",
     {"ssh": dict(SSH, publicKey=stacks.TEST_PUBLIC_KEY + "\nssh-ed25519 AAAAevil x")},
     "nginx-ha:ssh.publicKey", "control character"),
    ("escape", "interface with a space", {"vrrp": {"interface": "eth0 x"}},
     "nginx-ha:vrrp.interface", "Linux interface name"),
    ("escape", "image URL with a quote", {"image": {"url": 'https://example.com/a".qcow2'}},
     "nginx-ha:image.url", "must be a URL"),
    ("escape", "kernel cmdline with a newline",
     {"vm": {"cmdline": "root=/dev/vda\nquiet"}}, "nginx-ha:vm.cmdline", "control character"),
    ("escape", "git URL with a space", {"keepalived": {"git": "https://example.com/k.git --upload-pack=x", "commit": "a" * 40}},
     "nginx-ha:keepalived.git", "must be a URL"),
    ("escape", "hmac key with a newline", {"vrrpAuthPass": "0123456789abcdef0123456789abcdef\nx"},
     "nginx-ha:vrrpAuthPass", "control character"),
    # -- almost-valid strings (a trailing newline passed re.match(...$))
    ("almost", "node name with a trailing newline", {"loadBalancers": lb(0, name="nginx-master\n")},
     "nginx-ha:loadBalancers[0].name", "control character"),
    ("almost", "MAC with a trailing newline", {"loadBalancers": lb(0, mac="52:54:00:12:34:56\n")},
     "nginx-ha:loadBalancers[0].mac", "control character"),
    ("almost", "user with a trailing newline", {"ssh": dict(SSH, user="debian\n")},
     "nginx-ha:ssh.user", "control character"),
    ("almost", "commit with a trailing newline",
     {"keepalived": {"git": "https://example.com/k.git", "commit": "a" * 40 + "\n"}},
     "nginx-ha:keepalived.commit", "control character"),
    ("almost", "sha256 with a trailing newline",
     {"keepalived": {"url": "https://example.com/k.tgz", "sha256": "a" * 64 + "\n"}},
     "nginx-ha:keepalived.sha256", "control character"),
    ("almost", "version with a trailing newline", {"keepalived": {"version": "2.4.3\n"}},
     "nginx-ha:keepalived.version", "control character"),
    ("almost", "name ending with '-'", {"backends": be(0, name="tomcat-")},
     "nginx-ha:backends[0].name", "not ending with '-'"),
    ("almost", "host key seed too short", {"sshHostKeySeed": "short"},
     "nginx-ha:sshHostKeySeed", "32 to 512"),
    ("almost", "VIP with a trailing newline", {"vip": "192.168.159.110\n"},
     "nginx-ha:vip", "control character"),
    # -- values that mean something else
    ("meaning", "boolean as a priority", {"loadBalancers": lb(0, priority=True)},
     "nginx-ha:loadBalancers[0].priority", "boolean"),
    ("meaning", "boolean as a router id", {"vrrp": {"virtualRouterId": True}},
     "nginx-ha:vrrp.virtualRouterId", "boolean"),
    ("meaning", "boolean as seconds", {"vrrp": {"advertInterval": True}},
     "nginx-ha:vrrp.advertInterval", "boolean"),
    ("meaning", "number as an address", {"loadBalancers": lb(1, ip=3232276354)},
     "nginx-ha:loadBalancers[1].ip", "as text"),
    ("meaning", "number as the VIP", {"vips": [3232276334]}, "nginx-ha:vips[0]", ""),
    ("meaning", "'yes' as a boolean", {"vrrp": {"preempt": "yes"}},
     "nginx-ha:vrrp.preempt", "true or false"),
    ("meaning", "1 as a boolean", {"nginx": {"retryNonIdempotent": 1}},
     "nginx-ha:nginx.retryNonIdempotent", "true or false"),
    ("meaning", "text as a port", {"nginx": {"port": "80"}}, "nginx-ha:nginx.port", "integer"),
    ("meaning", "NaN as seconds", {"nginx": {"readTimeout": float("nan")}},
     "nginx-ha:nginx.readTimeout", "finite"),
    ("meaning", "positive check weight", {"vrrp": {"check": {"weight": 60}}},
     "nginx-ha:vrrp.check.weight", "RAISE the priority"),
    ("meaning", "nginx on the SSH port", {"nginx": {"port": 22}}, "nginx-ha:nginx.port", "SSH port"),
    ("meaning", "Tomcat on the SSH port", {"backends": be(1, port=22)},
     "nginx-ha:backends[1].port", "SSH port"),
    ("meaning", "LVS on the SSH port", {"lvs": {"enabled": True, "port": 22}},
     "nginx-ha:lvs.port", "SSH port"),
    ("meaning", "Tomcat on its shutdown port", {"backends": be(0, port=8005)},
     "nginx-ha:backends[0].port", "shutdown port"),
    ("meaning", "e-mail settings without recipients", {"notify": {"smtpServer": "smtp.example.com"}},
     "nginx-ha:notify.emailTo", "nobody is notified"),
    # -- names and addresses the host refuses
    ("host", "interface name over 15 characters", {"vrrp": {"interface": "enp1s0-very-long"}},
     "nginx-ha:vrrp.interface", "1 to 15"),
    ("host", "bridge name over 15 characters",
     {"network": {"mode": "bridge", "bridge": "br-production-01"}}, "nginx-ha:network.bridge", "1 to 15"),
    ("host", "bridge name '..'", {"network": {"mode": "bridge", "bridge": ".."}},
     "nginx-ha:network.bridge", "Linux interface name"),
    ("host", "libvirt URI that is a bare host name", {"libvirt:uri": "hv1.example.com"},
     "libvirt:uri", "libvirt URI"),
    ("host", "libvirt URI with ssh but no host", {"libvirt:uri": "qemu+ssh:///system"},
     "libvirt:uri", "needs a host"),
    ("host", "libvirt URI with another path", {"libvirt:uri": "qemu:///root"},
     "libvirt:uri", "/system or /session"),
    ("host", "libvirt URI of another driver", {"libvirt:uri": "xen:///system"},
     "libvirt:uri", "driver is qemu"),
    ("host", "host URI that is not a URI", {"hosts": {"hv1": "hv1"}},
     "nginx-ha:hosts.hv1", "libvirt URI"),
    ("host", "image URL that is not a URL", {"image": {"url": "debian-12.qcow2"}},
     "nginx-ha:image.url", "must be a URL"),
    ("host", "image URL with credentials", {"image": {"url": "https://u:p@example.com/a.qcow2"}},
     "nginx-ha:image.url", "credentials"),
    ("host", "network name with a slash", {"network": {"name": "lan/x"}},
     "nginx-ha:network.name", "hostname label"),
    ("host", "volume name with a slash", {"image": {"volume": "../base.qcow2"}},
     "nginx-ha:image.volume", "no '/'"),
    ("host", "kernel path with '..'", {"vm": {"kernel": "/boot/../etc/shadow"}},
     "nginx-ha:vm.kernel", "absolute path"),
    ("host", "relative kernel path", {"vm": {"kernel": "vmlinuz"}}, "nginx-ha:vm.kernel", "absolute path"),
    ("host", "absurd memory", {"vm": {"memoryMiB": 10**9}}, "nginx-ha:vm.memoryMiB", "less than or equal"),
    ("host", "absurd disk", {"vm": {"diskGiB": 10**7}}, "nginx-ha:vm.diskGiB", "less than or equal"),
    ("host", "too many vCPUs", {"vm": {"vcpus": 4096}}, "nginx-ha:vm.vcpus", "less than or equal"),
    ("host", "SMTP port out of range", {"notify": dict(NOTIFY, smtpServer="smtp.example.com:99999")},
     "nginx-ha:notify.smtpServer", "port 1-65535"),
    ("host", "SSH source that is not a network", {"ssh": dict(SSH, allowFrom=["10.0.0.1/33"])},
     "nginx-ha:ssh.allowFrom", "not an IPv4"),
]  # fmt: skip


def raw_with(overrides: dict) -> dict:
    raw = stacks.raw_config("dev", **{k: v for k, v in overrides.items() if ":" not in k})
    for k, v in overrides.items():
        if ":" in k:
            raw[k] = v if isinstance(v, str) else json.dumps(v)
    return raw


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [r[2:] for r in ROWS],
    ids=[f"{r[0]}: {r[1]}" for r in ROWS],
)
def test_a_bad_input_is_refused_naming_its_key(overrides, key, fragment):
    raw = raw_with(overrides)
    with pytest.raises(SettingsError) as err:
        parse_settings(raw, secret_keys=stacks.SECRET_KEYS)
    problems = {}
    for p in err.value.problems:
        problems.setdefault(p.key, []).append(p.message)
    assert key in problems, str(err.value)
    assert any(fragment in m for m in problems[key]), str(err.value)


def test_an_unquoted_mac_is_text_as_the_engine_reads_it(tmp_path):
    from nginx_ha.config import stackfiles

    (tmp_path / "Pulumi.mac.yaml").write_text(
        "config:\n  nginx-ha:loadBalancers:\n    - name: a\n      mac: 52:54:00:12:34:56\n"
    )
    cfg = stackfiles.read_config("mac", tmp_path)
    assert cfg["nginx-ha:loadBalancers"][0]["mac"] == "52:54:00:12:34:56"


# -- late failures: checked before any resource (engine.load_settings runs preflight)


def _preflight(**overrides) -> dict[str, str]:
    settings = parse_settings(raw_with(overrides), secret_keys=stacks.SECRET_KEYS)
    return {p.key: p.message for p in preflight(settings)}


PUBLIC_OTHER = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJTW6pNM6q0Cz0DeUMx3h1e79JYkfe1APi2nnMwMY3k0 other"
)
LATE: list[tuple[str, dict, str, str]] = [
    ("private key that is not a key", {"sshPrivateKey": "hello"},
     "nginx-ha:sshPrivateKey", "is not an SSH private key"),
    ("private key that is the public key", {"sshPrivateKey": stacks.TEST_PUBLIC_KEY},
     "nginx-ha:sshPrivateKey", "is a public key"),
    ("private key with a broken body",
     {"sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"},
     "nginx-ha:sshPrivateKey", "not a readable SSH private key"),
    ("private key of another pair", {"ssh": dict(SSH, publicKey=PUBLIC_OTHER)},
     "nginx-ha:sshPrivateKey", "does not match nginx-ha:ssh.publicKey"),
    ("keepalived tarball that does not exist",
     {"keepalived": {"version": "2.2.7", "path": "/nonexistent/k.tgz", "sha256": "0" * 64},
      "vrrp": {"allowUnauthenticated": True, "check": {"interval": 1, "timeout": 1}}, "vrrpAuthPass": None},
     "nginx-ha:keepalived.path", "does not exist"),
    ("keepalived tarball that is a folder",
     {"keepalived": {"version": "2.2.7", "path": "/tmp", "sha256": "0" * 64},
      "vrrp": {"allowUnauthenticated": True, "check": {"interval": 1, "timeout": 1}}, "vrrpAuthPass": None},
     "nginx-ha:keepalived.path", "not a regular file"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"), [r[1:] for r in LATE], ids=[r[0] for r in LATE]
)
def test_a_late_failure_is_caught_before_any_resource(overrides, key, fragment):
    problems = _preflight(**overrides)
    assert key in problems and fragment in problems[key], problems


def test_an_encrypted_private_key_is_refused(tmp_path):
    import subprocess

    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass-phrase", "-f", str(tmp_path / "k")],
        check=True,
    )
    pub = (tmp_path / "k.pub").read_text().strip()
    problems = _preflight(sshPrivateKey=(tmp_path / "k").read_text(), ssh=dict(SSH, publicKey=pub))
    assert "encrypted with a passphrase" in problems["nginx-ha:sshPrivateKey"]


def test_a_tarball_whose_checksum_differs_is_refused(tmp_path):
    tarball = tmp_path / "k.tgz"
    tarball.write_bytes(b"tarball")
    ka = {"version": "2.2.7", "path": str(tarball), "sha256": "0" * 64}
    vrrp = {"allowUnauthenticated": True, "check": {"interval": 1, "timeout": 1}}
    problems = _preflight(keepalived=ka, vrrp=vrrp, vrrpAuthPass=None)
    assert "not the tarball the stack pins" in problems["nginx-ha:keepalived.sha256"]
    ka["sha256"] = hashlib.sha256(b"tarball").hexdigest()
    assert _preflight(keepalived=ka, vrrp=vrrp, vrrpAuthPass=None) == {}


def test_the_test_stacks_pass_preflight():
    assert _preflight() == {}


def test_secret_hints_read_the_secret_from_stdin():
    with pytest.raises(SettingsError) as err:
        parse_settings(raw_with({"vrrpAuthPass": None, "sshHostKeySeed": None}), secret_keys=set())
    text = str(err.value)
    assert "| pulumi config set --secret vrrpAuthPass" in text
    assert "| pulumi config set --secret sshHostKeySeed" in text
    assert '"$(' not in text and "$(openssl" not in text


def counts() -> dict[str, int]:
    out: dict[str, int] = {}
    for r in ROWS:
        out[r[0]] = out.get(r[0], 0) + 1
    out["late"] = len(LATE) + 2
    return out


if __name__ == "__main__":
    print(counts())


def test_no_doc_or_script_sets_a_secret_on_the_command_line():
    """`pulumi config set --secret KEY VALUE` puts VALUE in shell history and the process
    list: every doc, script and example reads a secret from standard input instead."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = [root / "README.md", *root.glob("docs/*.md"), *root.glob("scripts/*.sh")]
    files += [*root.glob("examples/**/*.md"), *root.glob("nginx_ha/**/*.py")]
    bad = []
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            # (--path KEY: a structured key, e.g. tls.key)
            m = re.search(
                r"config set\b[^|<]*--secret\s+(?:--path\s+)?([\w.:\[\]][\w.:\[\]-]*)\s+(\S+)",
                line,
            )
            # A value after the key: text, a quote or a substitution (not a comment,
            # a redirection, the end of a quoted hint or "...").
            if m and re.match(r"[\w'$]|\"\$", m.group(2)):
                bad.append(f"{f.relative_to(root)}:{n}: {line.strip()}")
    assert not bad, bad
