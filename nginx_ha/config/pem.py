"""PEM read strictly (RFC 7468), for the TLS settings: the blocks of a text and
nothing else around them, certificates, a private key, and what they say (names,
issuers, key types). Pure: no file, no clock, no system trust store.

Every reader raises :class:`PemError` with what is wrong and where (the line); a
private key's text is never quoted, a certificate's only where it is not a block.

For rendering, :func:`server_chain` and :func:`trust_anchors` give a validated
``Tls``'s certificates (server first, then each issuer; the anchors of ``tls.ca``),
and :func:`to_pem` writes certificates back as clean PEM.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

from nginx_ha.config.models import Tls

BEGIN_RE = re.compile(r"-----BEGIN ([A-Z0-9]+(?: [A-Z0-9]+)*)-----")
END_RE = re.compile(r"-----END ([A-Z0-9]+(?: [A-Z0-9]+)*)-----")
# Private keys a certificate can be issued for (X25519, X448 and DH keys cannot sign).
CERTIFICATE_KEY_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    dsa.DSAPrivateKey,
)
MIN_RSA_BITS = 2048
# The curves browsers and nginx's clients accept for a certificate's key (the CA/B
# Forum's Baseline Requirements, 6.1.5: P-256, P-384, P-521; P-521 is gone from
# Chrome and BoringSSL, so it is refused here too).
EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}
GENERATE = (
    "generate a new key and certificate request with `openssl req -newkey rsa:2048 ...` "
    "or `openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 ...`"
)
ENCRYPTED = (
    "is encrypted with a passphrase, which nginx cannot ask for when it starts: store "
    "it decrypted (Pulumi encrypts the secret itself): `openssl pkey -in encrypted.pem "
    "-out key.pem`, then `pulumi config set --secret --path tls.key < key.pem`"
)


class PemError(ValueError):
    """Text that is not what a PEM setting must be: what is wrong, and where."""


@dataclass(frozen=True)
class Block:
    label: str  # CERTIFICATE, PRIVATE KEY, ...
    line: int  # the line of its BEGIN, from 1
    text: str  # BEGIN to END, each line stripped, with a final newline


def _shown(line: str) -> str:
    return repr(line if len(line) <= 40 else line[:37] + "...")


def blocks(text: str, *, secret: bool = False) -> list[Block]:
    """Every PEM block of ``text``, in order; PemError at the first text outside a
    block (named by its line; quoted unless ``secret``), an END that closes another
    label, a BEGIN inside a block, or a block never closed."""
    out: list[Block] = []
    label, start, body = "", 0, []  # the open block, if any
    for n, raw in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        line = raw.strip()
        if not label:
            if not line:
                continue
            m = BEGIN_RE.fullmatch(line)
            if m is None:
                what = f"{len(line)} characters" if secret else _shown(line)
                raise PemError(
                    f"line {n} holds text outside a PEM block ({what}): only -----BEGIN "
                    "...----- to -----END ...----- blocks and blank lines may be there; "
                    "remove it (`openssl x509` and `openssl pkey` print the bare PEM)"
                )
            label, start, body = m.group(1), n, [line]
            continue
        body.append(line)
        end = END_RE.fullmatch(line)
        if end is not None:
            if end.group(1) != label:
                raise PemError(
                    f"line {n}: -----END {end.group(1)}----- closes the {label} block "
                    f"begun on line {start}; the PEM is cut or pasted together wrongly"
                )
            out.append(Block(label, start, "\n".join(body) + "\n"))
            label = ""
        elif BEGIN_RE.fullmatch(line):
            raise PemError(
                f"line {n} begins a block inside the {label} block begun on line "
                f"{start}, which has no -----END {label}----- line before it"
            )
    if label:
        raise PemError(f"the {label} block begun on line {start} has no -----END {label}----- line")
    return out


def certificates(text: str) -> list[x509.Certificate]:
    """The certificates of a PEM text of CERTIFICATE blocks only (at least one);
    PemError naming the first block or text that is not one (a private key pasted
    in among them is named as such)."""
    found = blocks(text)
    if not found:
        raise PemError("holds no certificate: give PEM -----BEGIN CERTIFICATE----- blocks")
    out = []
    for b in found:
        if b.label.endswith("PRIVATE KEY"):
            raise PemError(
                f"line {b.line} begins a -----BEGIN {b.label}----- block: a private key "
                "does not belong in a certificate setting, which is plain config; remove "
                "it, and since it was stored in plain text, make a new key (the key goes "
                "in the secret tls.key: `pulumi config set --secret --path tls.key < key.pem`)"
            )
        if b.label != "CERTIFICATE":
            raise PemError(
                f"line {b.line} begins a -----BEGIN {b.label}----- block, not a "
                "CERTIFICATE: only certificates belong here; remove it"
            )
        try:
            out.append(x509.load_pem_x509_certificate(b.text.encode()))
        except ValueError as e:
            raise PemError(
                f"the certificate begun on line {b.line} is not a readable X.509 certificate ({e})"
            ) from None
    return out


def private_key(text: str) -> PrivateKeyTypes:
    """The one unencrypted private key of a PEM text, nothing else around it;
    PemError otherwise (never quoting the text)."""
    found = blocks(text, secret=True)
    keys = [b for b in found if b.label.endswith("PRIVATE KEY")]
    for b in found:
        if b not in keys:
            where = (
                "the certificate and its chain go in tls.certificate"
                if b.label == "CERTIFICATE"
                else "`openssl pkey -in key.pem` prints it alone"
            )
            raise PemError(
                f"line {b.line} begins a -----BEGIN {b.label}----- block: tls.key takes the "
                f"private key alone ({where})"
            )
    if not keys:
        raise PemError("holds no private key: give its PEM (-----BEGIN PRIVATE KEY-----)")
    if len(keys) > 1:
        lines = ", ".join(str(b.line) for b in keys)
        raise PemError(
            f"holds {len(keys)} private keys (lines {lines}): give the one key of tls.certificate"
        )
    b = keys[0]
    if b.label == "ENCRYPTED PRIVATE KEY" or "ENCRYPTED" in b.text.split("\n", 2)[1]:
        raise PemError(ENCRYPTED)
    try:
        return serialization.load_pem_private_key(b.text.encode(), password=None)
    except TypeError:
        raise PemError(ENCRYPTED) from None
    except (ValueError, UnsupportedAlgorithm):
        # (cryptography's message is not passed on: nothing of a secret is shown)
        raise PemError(
            f"the {b.label} block begun on line {b.line} is not a readable private key: "
            "give the key file as `openssl pkey -in KEY` prints it"
        ) from None


# ------------------------------------------------------------------ what they say


def subject(cert: x509.Certificate) -> str:
    """The certificate's subject as text ('CN=www.example.com,O=Example')."""
    return cert.subject.rfc4514_string() or f"(no subject; serial {cert.serial_number:x})"


def issuer(cert: x509.Certificate) -> str:
    return cert.issuer.rfc4514_string() or "(no issuer name)"


def is_ca(cert: x509.Certificate) -> bool:
    """basicConstraints says CA (absent: not a CA)."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def issued_by(cert: x509.Certificate, parent: x509.Certificate) -> bool:
    """``parent`` issued ``cert``: its name is the issuer's, and its key verifies the
    signature."""
    try:
        cert.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def dns_names(cert: x509.Certificate) -> list[str]:
    """The subjectAltName DNS names (clients match these, not the CN: RFC 6125 6.4.4)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]


def common_names(cert: x509.Certificate) -> list[str]:
    return [
        str(a.value).lower() for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    ]


def covers(dns_name: str, server_name: str) -> bool:
    """A certificate's DNS name covers a server name (RFC 6125 6.4.3): equal, or a
    wildcard ``*.example.com`` standing for exactly one leftmost label (``www``, not
    ``a.b`` nor nothing). A wildcard server name is covered by the same wildcard only."""
    pattern, name = dns_name.lower().rstrip("."), server_name.lower().rstrip(".")
    if name.startswith("*.") or not pattern.startswith("*."):
        return pattern == name
    suffix = pattern[1:]  # ".example.com"
    label = name.removesuffix(suffix)
    return name.endswith(suffix) and bool(label) and "." not in label


def describe_key(key: CertificatePublicKeyTypes) -> str:
    """'RSA 2048-bit', 'EC P-256', 'Ed25519', ..."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}-bit"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {EC_CURVES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}-bit"
    return type(key).__name__


def fingerprint(key: CertificatePublicKeyTypes) -> str:
    """The SHA-256 of a public key's SubjectPublicKeyInfo, its first 16 hex digits (a
    public key's, so it may be shown)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def key_policy(key: CertificatePublicKeyTypes) -> str | None:
    """What is wrong with a certificate's key for the clients of a web server (RSA of
    at least 2048 bits, or EC P-256 or P-384), and what to make instead; None if fine."""
    kind = describe_key(key)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size >= MIN_RSA_BITS:
            return None
        return f"is {kind}: clients refuse RSA under {MIN_RSA_BITS} bits; {GENERATE}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name in EC_CURVES:
            return None
        return f"is {kind}: clients take EC certificates on P-256 or P-384 only; {GENERATE}"
    return f"is {kind}, which browsers do not accept in a web server's certificate; {GENERATE}"


def to_pem(certs: list[x509.Certificate]) -> str:
    """Certificates as clean PEM, in the order given."""
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def server_chain(tls: Tls) -> list[x509.Certificate]:
    """A validated ``tls.certificate``: the server certificate, then each issuer
    (empty with selfSigned). PemError if it was never validated and is not PEM."""
    return certificates(tls.certificate) if tls.certificate else []


def trust_anchors(tls: Tls) -> list[x509.Certificate]:
    """``tls.ca``'s certificates (empty: unset, the node's system store)."""
    return certificates(tls.ca) if tls.ca else []
