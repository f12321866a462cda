"""The per-stack CA and server certificate of ``tls.selfSigned`` (lab and dev stacks),
derived from the stack's secret ``sshHostKeySeed`` (pure).

Like the nodes' SSH host keys (hostkeys.py), everything is derived, so it is known
before any resource, the same on every run (a re-run renders the same files: no
rollout), and the same on every load balancer: the CA's and the server's EC P-256 keys
come from HKDF-SHA256 over (project, stack) and the server names, the validity window
is fixed, the serial numbers are derived, and the signatures are deterministic ECDSA
(RFC 6979), so the certificates are byte-stable too. A change of ``serverNames`` is a
new server certificate from the same CA; a new seed is a new CA.

The CA's certificate is the stack output ``tlsCa``: clients (and the gates, the smoke
test, the lab's client) trust the stack through it.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SALT = b"nginx-ha self-signed tls v1"
# Fixed, so the certificates are byte-stable; a lab or dev stack's (the settings warn
# about it anywhere else). Clients of such a stack trust its CA explicitly.
NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
CA_NOT_AFTER = datetime.datetime(2036, 1, 1, tzinfo=datetime.UTC)
SERVER_NOT_AFTER = datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class SelfSigned:
    ca: str  # the CA's certificate (PEM): what clients trust
    chain: str  # the server certificate, then the CA's: nginx's ssl_certificate
    key: str  # the server's private key (PEM, PKCS#8): a secret


def _key(seed: str, *parts: str) -> ec.EllipticCurvePrivateKey:
    info = b"\0".join(p.encode() for p in parts)
    raw = HKDF(algorithm=hashes.SHA256(), length=48, salt=SALT, info=info).derive(seed.encode())
    # 384 bits reduced modulo the group order: uniform enough, never zero.
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    return ec.derive_private_key(int.from_bytes(raw) % (order - 1) + 1, ec.SECP256R1())


def _serial(*parts: str) -> int:
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:16]) >> 1 or 1  # positive, at most 127 bits


def _key_usage(ca: bool) -> x509.KeyUsage:
    """A CA signs certificates (and CRLs); a server's key signs its handshakes."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@cache
def self_signed(seed: str, project: str, stack: str, names: tuple[str, ...]) -> SelfSigned:
    """The stack's CA and a certificate for ``names`` (the first one is its subject)."""
    ca_key = _key(seed, "ca", project, stack)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nginx-ha"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"nginx-ha {project}-{stack} CA"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(_serial("ca", project, stack))
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    key = _key(seed, "server", project, stack, *names)
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(_serial("server", project, stack, *names))
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(SERVER_NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
        )
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SelfSigned(ca=_pem(ca), chain=_pem(server) + _pem(ca), key=key_pem)
