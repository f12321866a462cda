"""TLS rules (nginx-ha:tls, nginx-ha:tlsTicketKeys): where the certificate comes
from, its PEM, its chain's order and completeness, the names it covers, its key type,
the trust anchors, the session ticket keys, HTTPS with LVS.

Each holds whatever the clock says: the dates of the certificates and the private key
are checked before any resource by ``nginx_ha.config.preflight``, and a certificate
close to its end is a warning (``nginx_ha.config.warnings``). The tls.port rules live
with the other ports (``rules/ports.py``).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from pydantic import SecretStr

import nginx_ha.config.pem as pem
from nginx_ha.config.errors import Problem
from nginx_ha.config.models import Lvs, Tls
from nginx_ha.config.pins import TLS_TICKET_KEY_BYTES, TLS_TICKET_KEY_SLOTS
from nginx_ha.config.rules.base import config_key, rule

# Pseudo-sections: a program building the settings in code gives the TLS key or the
# ticket keys as Pulumi Inputs (validate(..., tls_key_input=True)); they count as set.
TLS_KEY_AS_INPUT = "tls_key_input"
TICKET_KEYS_AS_INPUT = "tls_ticket_keys_input"

TLS_KEY_HINT = "pulumi config set --secret --path tls.key < key.pem"
TICKET_KEYS_HINT = "openssl rand 80 | base64 -w0 | pulumi config set --secret tlsTicketKeys"
# nginx's ssl_session_ticket_key takes 80-byte files (AES-256; 48 bytes is AES-128)
# and every load balancer must hold the same ones, so a client resumes after a failover;
# each has one file slot (the newest first, then the one before it: a rotation).
TICKET_KEY_BYTES = TLS_TICKET_KEY_BYTES
MAX_TICKET_KEYS = TLS_TICKET_KEY_SLOTS
FULLCHAIN = (
    "use the fullchain.pem your ACME client writes, not cert.pem (a public CA's "
    "intermediate is always in it); for a certificate of an internal CA, give that "
    "CA in tls.ca"
)


@rule("tls")
def _source_rules(s: dict[str, Any]) -> Iterable[Problem]:
    """Exactly one source of the certificate: selfSigned, or certificate and key."""
    tls: Tls | None = s["tls"]
    if tls is None:
        return
    key_given = tls.key is not None or bool(s.get(TLS_KEY_AS_INPUT))
    if tls.self_signed:
        if tls.certificate is not None:
            yield Problem(
                config_key("tls.selfSigned"),
                "is true while tls.certificate is given: the certificate comes from one "
                "place; remove tls.certificate and tls.key (`pulumi config rm --path "
                "tls.certificate`), or set selfSigned false",
            )
        elif key_given:
            yield Problem(
                config_key("tls.key"),
                "has no use with tls.selfSigned true (the program makes the key and the "
                "certificate): remove it (`pulumi config rm --path tls.key`)",
            )
    elif tls.certificate is None:
        yield Problem(
            config_key("tls.certificate"),
            "required with nginx-ha:tls: the server certificate and its chain (PEM, "
            "`pulumi config set --path tls.certificate < fullchain.pem`) with its key in "
            "tls.key, or tls.selfSigned true on a lab or dev stack",
        )
    elif not key_given:
        yield Problem(
            config_key("tls.key"),
            "required with tls.certificate: its private key (PEM, unencrypted), a "
            f"secret set on standard input: `{TLS_KEY_HINT}`",
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(tls.server_names):
        if name.rstrip(".") in seen:
            yield Problem(
                config_key(f"tls.serverNames[{i}]"),
                f"'{name}' is listed already (tls.serverNames[{seen[name.rstrip('.')]}]): "
                "list each name once",
            )
        else:
            seen[name.rstrip(".")] = i


def chain_problem(certs: list[x509.Certificate], anchors: list[x509.Certificate]) -> str | None:
    """What is wrong with a chain's order or completeness (server first, then each
    issuer; the last issued by a certificate of the chain itself, an anchor, or, when
    no anchors are given, a root of the clients' stores); None if nothing is."""
    server = certs[0]
    if pem.is_ca(server):
        return (
            f"the first certificate ('{pem.subject(server)}') is a CA, not the server's: "
            "the order is wrong (or the server certificate is missing): put them server "
            "first, then each issuer"
        )
    for i, (cert, nxt) in enumerate(itertools.pairwise(certs)):
        if pem.issued_by(cert, nxt):
            continue
        later = next((j for j in range(i + 2, len(certs)) if pem.issued_by(cert, certs[j])), None)
        if later is not None:
            return (
                f"is out of order: certificate {i + 1} ('{pem.subject(cert)}') is issued by "
                f"certificate {later + 1} ('{pem.subject(certs[later])}'), not by the one "
                f"after it ('{pem.subject(nxt)}'): put them server first, then each issuer"
            )
        if cert.issuer == nxt.subject:
            return (
                f"certificate {i + 2} ('{pem.subject(nxt)}') bears the name of the issuer "
                f"of certificate {i + 1} but did not sign it (the signature does not verify "
                "with its key): it is another CA of that name; use the chain your CA "
                "issued with this certificate"
            )
        return (
            f"is missing its intermediate (the CA '{pem.issuer(cert)}' that issued "
            f"certificate {i + 1}, '{pem.subject(cert)}'): insert it right after that "
            f"certificate, before '{pem.subject(nxt)}'; {FULLCHAIN}"
        )
    last = certs[-1]
    if pem.issued_by(last, last) or any(pem.issued_by(last, a) for a in anchors):
        return None
    if not anchors and pem.is_ca(last):
        # An intermediate last: its issuer is a root, which clients (and the gate, with
        # the node's system store) hold; the pure rules do not read any store.
        return None
    if pem.is_ca(last):  # with anchors: the gate trusts tls.ca alone
        return (
            f"does not lead to a CA of tls.ca: its last certificate ('{pem.subject(last)}') "
            f"was issued by '{pem.issuer(last)}', which is neither in the chain nor in "
            "tls.ca: add that CA to tls.ca, or append its certificate and the ones up to "
            "a CA of tls.ca"
        )
    where = "the server certificate" if len(certs) == 1 else "the last certificate"
    return (
        f"is missing its intermediate (the CA '{pem.issuer(last)}' that issued "
        f"'{pem.subject(last)}'): append it after {where}; {FULLCHAIN}"
    )


def name_problems(tls: Tls, server: x509.Certificate) -> Iterable[Problem]:
    """Every serverNames entry the server certificate does not cover."""
    sans = pem.dns_names(server)
    if not sans:
        yield Problem(
            config_key("tls.certificate"),
            f"the server certificate ('{pem.subject(server)}') has no subjectAltName DNS "
            "names, and clients match only those (not the CN: RFC 6125): get one that "
            "lists tls.serverNames in its subjectAltName",
        )
        return
    for i, name in enumerate(tls.server_names):
        if any(pem.covers(san, name) for san in sans):
            continue
        cn = " (its CN names it, but clients read only the subjectAltName)"
        yield Problem(
            config_key(f"tls.serverNames[{i}]"),
            f"'{name}' is not covered by tls.certificate, which covers "
            f"{', '.join(sans)}{cn if name.rstrip('.') in pem.common_names(server) else ''}: "
            "get a certificate that names it (a wildcard *.example.com covers one label, "
            "www.example.com, not example.com nor a.b.example.com), or remove it from "
            "serverNames",
        )


@rule("tls")
def _certificate_rules(s: dict[str, Any]) -> Iterable[Problem]:
    tls: Tls | None = s["tls"]
    if tls is None:
        return
    anchors: list[x509.Certificate] | None = []
    if tls.ca is not None:
        try:
            anchors = pem.certificates(tls.ca)
        except pem.PemError as e:
            anchors = None  # unreadable: the chain's end is not judged against it
            yield Problem(config_key("tls.ca"), str(e))
        for i, ca in enumerate(anchors or []):
            if not pem.is_ca(ca):
                anchors = None  # wrong: the chain's end is not judged against it
                yield Problem(
                    config_key("tls.ca"),
                    f"certificate {i + 1} ('{pem.subject(ca)}') is not a CA (basicConstraints "
                    "ca=false or absent): tls.ca holds the CAs the chain is verified with, "
                    "not the server certificate",
                )
    if tls.certificate is None:
        return
    try:
        certs = pem.certificates(tls.certificate)
    except pem.PemError as e:
        yield Problem(config_key("tls.certificate"), str(e))
        return
    key_problem = pem.key_policy(certs[0].public_key())
    if key_problem is not None:
        yield Problem(config_key("tls.certificate"), f"the server certificate's key {key_problem}")
    if anchors is not None:
        problem = chain_problem(certs, anchors)
        if problem is not None:
            yield Problem(config_key("tls.certificate"), problem)
    if not pem.is_ca(certs[0]):
        yield from name_problems(tls, certs[0])


def ticket_keys(value: str) -> list[bytes]:
    """The session ticket keys of ``tlsTicketKeys``, newest first; ValueError with what
    is wrong (never showing a key)."""
    tokens = value.split()
    how = f"`{TICKET_KEYS_HINT}` makes one"
    if not tokens:
        raise ValueError(f"is empty: give one or more base64 80-byte keys; {how}")
    if len(tokens) > MAX_TICKET_KEYS:
        raise ValueError(
            f"holds {len(tokens)} keys; keep at most {MAX_TICKET_KEYS}: the newest first, "
            "then the one before it (it still decrypts the tickets it issued); drop the oldest"
        )
    out: list[bytes] = []
    for n, token in enumerate(tokens, 1):
        try:
            key = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                f"key {n} of {len(tokens)} is not base64 (A-Z, a-z, 0-9, +, / and = padding); {how}"
            ) from None
        if len(key) != TICKET_KEY_BYTES:
            raise ValueError(
                f"key {n} of {len(tokens)} is {len(key)} bytes once decoded; nginx's "
                f"ssl_session_ticket_key takes {TICKET_KEY_BYTES}-byte keys here (AES-256); "
                f"{how}"
            )
        if key in out:
            raise ValueError(
                f"key {n} of {len(tokens)} repeats key {out.index(key) + 1}: list each key "
                f"once (a new one first, {how})"
            )
        out.append(key)
    return out


@rule("tls", "tls_ticket_keys")
def _ticket_key_rules(s: dict[str, Any]) -> Iterable[Problem]:
    keys: SecretStr | None = s["tls_ticket_keys"]
    if keys is None:
        if s["tls"] is not None and not s.get(TICKET_KEYS_AS_INPUT):
            yield Problem(
                config_key("tlsTicketKeys"),
                "required with nginx-ha:tls: the session ticket keys every load balancer "
                f"shares, a secret set on standard input: `{TICKET_KEYS_HINT}` "
                "(scripts/bootstrap.sh generates it)",
            )
        return
    try:
        ticket_keys(keys.get_secret_value())
    except ValueError as e:
        yield Problem(config_key("tlsTicketKeys"), str(e))


@rule("tls", "lvs")
def _lvs_rule(s: dict[str, Any]) -> Iterable[Problem]:
    lvs: Lvs = s["lvs"]
    if s["tls"] is not None and lvs.enabled:
        yield Problem(
            config_key("tls"),
            "HTTPS behind the LVS director is not supported yet: turn one of them off "
            "(remove nginx-ha:tls, or set lvs.enabled false); the LVS layer marks one port "
            "per VIP, nginx.port",
        )
