"""Certificates for tests and benches: a CA of their own and server certificates it
signs (an operator's certificate from an internal CA, as nginx-ha:tls takes it), made
with ``cryptography``. Nothing here is trusted anywhere but where a test or bench
passes the CA itself (``tls.ca``, a client's ``--cafile``)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Issued:
    certificate: str  # PEM: the server certificate, then the chain (tls.certificate)
    key: str  # PEM, unencrypted (tls.key)
    private_key: Key  # the same key, to issue another certificate with it


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: Key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCa:
    """A CA (and optionally an intermediate under it) that signs server certificates."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str = "nginx-ha test CA", now: datetime.datetime | None = None):
        self.now = now or datetime.datetime.now(datetime.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(days=1))
            .not_valid_after(self.now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return pem(self.cert)

    def issue(
        self,
        names: list[str],
        *,
        key: Key | None = None,
        days: int = 90,
        not_before: datetime.datetime | None = None,
    ) -> Issued:
        """A server certificate for ``names`` (the first one its subject), valid from
        ``not_before`` (default a day ago) for ``days``, with a new EC key unless one
        is given; the chain: the certificate alone (the CA is the trust anchor)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        start = not_before or self.now - datetime.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
            .sign(self.key, hashes.SHA256())
        )
        return Issued(pem(cert), key_pem(key), key)
