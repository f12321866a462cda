"""TLS stacks for the tests (nginx-ha:tls): the dev stack with ``selfSigned`` or with an
operator's certificate from a test CA of its own (support/certs.py), the secrets such
a stack has, its topology. EC keys only (fast); each certificate is made once per
process."""

from __future__ import annotations

import base64
import datetime
import functools
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from nginx_ha.config import parse_settings
from nginx_ha.topology import Topology, build_topology
from support import certs, stacks

NAMES = ["www.example.com", "*.example.com"]
# 80 bytes each: nginx's ssl_session_ticket_key (AES-256).
TICKET_KEY = base64.b64encode(bytes(range(80))).decode()
TICKET_KEY_NEW = base64.b64encode(bytes(range(100, 180))).decode()
TICKET_KEYS = f"{TICKET_KEY_NEW} {TICKET_KEY}"  # a rotation: the newest first
TLS_SECRET_KEYS = {"nginx-ha:tls", "nginx-ha:tlsTicketKeys"}
SECRET_KEYS = stacks.SECRET_KEYS | TLS_SECRET_KEYS
SELF_SIGNED: dict[str, Any] = {"serverNames": NAMES, "selfSigned": True}


@dataclass(frozen=True)
class Operator:
    """An operator's certificates from one internal CA: ``first`` and ``second`` (a
    renewal: another key), both issued by the CA directly (the gate trusts the CA
    through tls.ca); ``chained``, issued by an intermediate (the chain carries it,
    no tls.ca: the node's system store)."""

    ca: certs.TestCa
    first: certs.Issued
    second: certs.Issued
    chained: str  # PEM: the server certificate, then the intermediate
    chained_key: str


@functools.cache
def operator() -> Operator:
    ca = certs.TestCa()
    start = ca.now - datetime.timedelta(days=1)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = certs.make_cert(
        "nginx-ha test intermediate",
        inter_key,
        (ca.cert, ca.key),
        start=start,
        end=start + datetime.timedelta(days=900),
        ca=True,
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = certs.make_cert(
        NAMES[0],
        leaf_key,
        (inter, inter_key),
        start=start,
        end=start + datetime.timedelta(days=90),
        sans=tuple(NAMES),
    )
    return Operator(
        ca, ca.issue(NAMES), ca.issue(NAMES), certs.pem(leaf, inter), certs.key_pem(leaf_key)
    )


def operator_tls(issued: certs.Issued | None = None, **more: Any) -> dict[str, Any]:
    """nginx-ha:tls with the operator's certificate (``first`` unless told), its key
    and the CA as tls.ca."""
    op = operator()
    issued = issued or op.first
    return {
        "certificate": issued.certificate,
        "key": issued.key,
        "serverNames": NAMES,
        "ca": op.ca.pem,
        **more,
    }


def chained_tls(**more: Any) -> dict[str, Any]:
    """nginx-ha:tls with a chain through an intermediate and no tls.ca."""
    op = operator()
    return {"certificate": op.chained, "key": op.chained_key, "serverNames": NAMES, **more}


def raw(tls: dict[str, Any], ticket_keys: str = TICKET_KEY, **overrides: Any) -> dict[str, str]:
    """The dev stack's config with ``tls`` and ``tlsTicketKeys``."""
    return stacks.raw_config("dev", tls=tls, tlsTicketKeys=ticket_keys, **overrides)


def topology(tls: dict[str, Any], ticket_keys: str = TICKET_KEY, **overrides: Any) -> Topology:
    settings = parse_settings(raw(tls, ticket_keys, **overrides), secret_keys=SECRET_KEYS)
    return build_topology(settings)


def secrets(tls: dict[str, Any], ticket_keys: str = TICKET_KEY) -> dict[str, str]:
    """The secrets a node plan's secret files are made from, by config key."""
    out = {
        "sshHostKeySeed": stacks.TEST_HOST_KEY_SEED,
        "vrrpAuthPass": stacks.TEST_HMAC_KEY,
        "tlsTicketKeys": ticket_keys,
    }
    if "key" in tls:
        out["tls.key"] = tls["key"]
    return out


def certificates(pem_text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem_text.encode())
