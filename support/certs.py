"""Certificates and keys for tests and benches, made with ``cryptography``: private keys
of each kind, certificates (CAs and leaves, any dates and names), their PEM, and a CA
of a bench's own that signs server certificates (an operator's certificate from an
internal CA, as nginx-ha:tls takes it). Nothing here is trusted anywhere but where a
test or bench passes the CA itself (``tls.ca``, a client's ``--cafile``)."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

CURVES = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}


@functools.cache
def private(kind: str, n: int = 0) -> Any:
    """A private key: ``rsa1024``, ``rsa2048``, ``p256``, ``p384``, ``p521`` or
    ``ed25519``; ``n`` another one of the kind. Cached: RSA keys take a while."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind in CURVES:
        return ec.generate_private_key(CURVES[kind]())
    assert kind == "ed25519", kind
    return ed25519.Ed25519PrivateKey.generate()


def make_cert(
    cn: str,
    key: Any,
    issuer: tuple[x509.Certificate, Any] | None = None,
    *,
    start: datetime.datetime,
    end: datetime.datetime,
    ca: bool = False,
    sans: tuple[str, ...] = (),
    constraints: bool = True,
) -> x509.Certificate:
    """A certificate for ``key``, self-signed or issued by (certificate, its key);
    basicConstraints (unless ``constraints`` is false) and subjectAltName DNS names."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, signer = (name, key) if issuer is None else (issuer[0].subject, issuer[1])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=None), critical=True
        )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm)


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def key_pem(key: Any, *, password: bytes | None = None, traditional: bool = False) -> str:
    """A private key's PEM: PKCS#8 or OpenSSL's traditional form, encrypted if a
    password is given."""
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if traditional
        else serialization.PrivateFormat.PKCS8
    )
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc).decode()


@dataclass(frozen=True)
class Issued:
    certificate: str  # PEM: the server certificate, then the chain (tls.certificate)
    key: str  # PEM, unencrypted (tls.key)
    private_key: Any  # the same key, to issue another certificate with it


class TestCa:
    """A CA that signs server certificates (valid from a day ago)."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str = "nginx-ha test CA", now: datetime.datetime | None = None):
        self.now = now or datetime.datetime.now(datetime.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        start = self.now - datetime.timedelta(days=1)
        self.cert = make_cert(
            name, self.key, start=start, end=start + datetime.timedelta(days=3650), ca=True
        )

    @property
    def pem(self) -> str:
        return pem(self.cert)

    def issue(self, names: list[str], *, key: Any = None, days: int = 90) -> Issued:
        """A server certificate for ``names`` (the first one its subject) with a new EC
        key unless one is given; its chain is the certificate alone (the CA is the
        trust anchor)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        start = self.now - datetime.timedelta(days=1)
        cert = make_cert(
            names[0],
            key,
            (self.cert, self.key),
            start=start,
            end=start + datetime.timedelta(days=days),
            sans=tuple(names),
        )
        return Issued(pem(cert), key_pem(key), key)
