"""Checks of what the settings point at on the operator's machine, and of what
depends on the clock, run before any resource (``components/engine.py``): the SSH
private key (parsed, and matched against ``ssh.publicKey``), the local files the
program uploads (``keepalived.path``: present, a regular file, its SHA-256 the one
given; ``app.war``: the same, and a web application), the TLS private key (strict PEM, unencrypted, its type, matching the
certificate) and the certificates' dates.

Kept out of :func:`nginx_ha.config.parse_settings`: the offline render command reads
stack files on machines that hold neither the keys nor the tarball, the lab runs
without them, and ``status`` still shows a stack whose certificate has expired.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import nginx_ha.config.pem as pem
from nginx_ha.config.app import war_facts
from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Settings
from nginx_ha.config.pins import NS

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def load_private_key(text: str) -> PrivateKey:
    """An SSH private key as the command provider reads it (OpenSSH or PEM, not
    encrypted); ValueError with what is wrong otherwise."""
    data = text.strip().encode() + b"\n"
    if text.lstrip().startswith(("ssh-", "ecdsa-", "sk-")):
        raise ValueError(
            "is a public key (one 'ssh-... AAAA...' line); sshPrivateKey takes the "
            "private key file itself (-----BEGIN OPENSSH PRIVATE KEY-----)"
        )
    loaders = (
        (b"-----BEGIN OPENSSH PRIVATE KEY-----", serialization.load_ssh_private_key),
        (b"-----BEGIN ", serialization.load_pem_private_key),
    )
    for marker, loader in loaders:
        if not data.startswith(marker):
            continue
        try:
            key = loader(data, password=None)
        except TypeError:
            raise ValueError(
                "is encrypted with a passphrase, which the remote steps cannot ask for: "
                "store an unencrypted copy (Pulumi encrypts the secret itself), e.g. "
                "`ssh-keygen -p -N '' -f COPY`"
            ) from None
        except (ValueError, UnsupportedAlgorithm) as e:
            raise ValueError(f"is not a readable SSH private key ({e})") from None
        if not isinstance(
            key, (ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)
        ):
            raise ValueError("is not an ed25519, RSA or ECDSA private key")
        return key
    raise ValueError(
        "is not an SSH private key: it must start with -----BEGIN OPENSSH PRIVATE KEY----- "
        "(ssh-keygen's file) or a PEM header"
    )


def public_line(key: PrivateKey) -> str:
    """'type base64' of the key's public half (OpenSSH form, no comment)."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def private_key_problems(settings: Settings) -> list[Problem]:
    if settings.ssh_private_key is None:
        return []
    key_name = f"{NS}:sshPrivateKey"
    try:
        key = load_private_key(settings.ssh_private_key.get_secret_value())
    except ValueError as e:
        return [Problem(key_name, str(e))]
    mine = public_line(key)
    given = " ".join(settings.ssh.public_key.split()[:2])
    if mine != given:
        return [
            Problem(
                key_name,
                f"does not match nginx-ha:ssh.publicKey (its public half is "
                f"{mine[:40]}..., ssh.publicKey is {given[:40]}...): the VMs would "
                "authorize one key and the remote steps log in with another; set both "
                "from one key pair (`ssh-keygen -y -f KEY` prints the public half)",
            )
        ]
    return []


def local_file_problems(settings: Settings) -> list[Problem]:
    ka = settings.keepalived
    if ka.path is None:
        return []
    key = f"{NS}:keepalived.path"
    path = Path(ka.path)
    if not path.exists():
        return [Problem(key, f"{ka.path} does not exist on this machine (the program uploads it)")]
    if not path.is_file():
        return [Problem(key, f"{ka.path} is not a regular file")]
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        return [Problem(key, f"{ka.path} cannot be read ({e.strerror})")]
    if ka.sha256 is not None and digest != ka.sha256:
        return [
            Problem(
                f"{NS}:keepalived.sha256",
                f"{ka.path} has SHA-256 {digest}, not {ka.sha256}: the file is not the "
                "tarball the stack pins (the VMs would refuse it after the base image, "
                "network and volumes exist)",
            )
        ]
    return []


def app_problems(settings: Settings) -> list[Problem]:
    """The WAR of nginx-ha:app.war: present, a regular file, readable, a zip with a
    WEB-INF/ folder, and its SHA-256 the one app.sha256 pins (when given)."""
    app = settings.app
    if app is None or app.war is None:
        return []
    try:
        facts = war_facts(app.war)
    except ValueError as e:
        return [Problem(f"{NS}:app.war", str(e))]
    if app.sha256 is not None and facts.sha256 != app.sha256:
        return [
            Problem(
                f"{NS}:app.sha256",
                f"{app.war} has SHA-256 {facts.sha256}, not {app.sha256}: the file is not "
                "the build the stack pins; set app.sha256 to the new one, or remove it (the "
                "program computes and pins it)",
            )
        ]
    return []


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def tls_problems(settings: Settings, now: datetime | None = None) -> list[Problem]:
    """The TLS private key (strict PEM, unencrypted, RSA of 2048 bits or more, the
    certificate's own) and every certificate of the chain valid at ``now`` (default:
    the clock, UTC). Nothing of the key is ever shown."""
    tls = settings.tls
    if tls is None or tls.certificate is None:
        return []
    now = now or datetime.now(UTC)
    cert_key, key_key = f"{NS}:tls.certificate", f"{NS}:tls.key"
    try:
        chain = pem.server_chain(tls)
    except pem.PemError as e:  # refused when parsed; settings built past validate()
        return [Problem(cert_key, str(e))]
    out: list[Problem] = []
    for n, cert in enumerate(chain, 1):
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        dates = f"valid from {_when(start)} to {_when(end)}"
        if now < start:
            out.append(
                Problem(
                    cert_key,
                    f"certificate {n} ('{pem.subject(cert)}') is not valid yet ({dates}; "
                    f"now is {_when(now)}): wait until then, or check this machine's clock "
                    "and the dates your CA gave it",
                )
            )
        elif now > end:
            out.append(
                Problem(
                    cert_key,
                    f"certificate {n} ('{pem.subject(cert)}') has expired ({dates}; now is "
                    f"{_when(now)}): renew it (your ACME client's renew, or a new one from "
                    "your CA) and set tls.certificate again",
                )
            )
    if tls.key is None:
        return out  # given as a Pulumi Input (validate(..., tls_key_input=True))
    try:
        key = pem.private_key(tls.key.get_secret_value())
    except pem.PemError as e:
        return [*out, Problem(key_key, str(e))]
    if not isinstance(key, pem.CERTIFICATE_KEY_TYPES):
        return [*out, Problem(key_key, "is not an RSA or EC private key")]
    mine, theirs = key.public_key(), chain[0].public_key()
    policy = pem.key_policy(mine)
    if policy is not None:
        out.append(Problem(key_key, policy))
    elif pem.fingerprint(mine) != pem.fingerprint(theirs):
        out.append(
            Problem(
                key_key,
                f"does not match tls.certificate: this key's public half is "
                f"{pem.describe_key(mine)} {pem.fingerprint(mine)}, the certificate's key is "
                f"{pem.describe_key(theirs)} {pem.fingerprint(theirs)}: give the key the "
                "certificate was issued for (`openssl pkey -pubout -in key.pem` and "
                "`openssl x509 -noout -pubkey -in cert.pem` print the same)",
            )
        )
    return out


def preflight(settings: Settings, *, now: datetime | None = None) -> list[Problem]:
    """Every problem of what the settings point at on this machine, and of the
    certificates' dates at ``now`` (default: the clock, UTC)."""
    return (
        private_key_problems(settings)
        + local_file_problems(settings)
        + app_problems(settings)
        + tls_problems(settings, now)
    )
