"""HTTPS at the VIP (nginx-ha:tls) on a load balancer: the files nginx serves TLS from,
what nginx.conf's TLS server gets, and what the activation's gate asks over TLS.

The certificate chain, its key and the session ticket keys are the same on every load
balancer. The key and the ticket keys are secrets: they travel on stdin into root-only
files (``SecretFile``), never in a rendered file, a command line or plain state. With
``selfSigned`` the chain, the key and the CA the gate trusts are derived from
``sshHostKeySeed`` (topology/selfsigned.py), so they come the same way; the operator's
own chain (and ``tls.ca``) is plain text, staged like any file.

The profile is Mozilla's "intermediate" (TLS 1.2 and 1.3, ECDHE with AEAD ciphers only,
the client's preference): "modern" is TLS 1.3 only and locks out clients that cannot
do it yet (older Java, embedded and API clients). Its DHE suites are left out: they
need a dhparam file and add nothing for a client that can do TLS 1.2 (every one offers
ECDHE). Session tickets are on, with keys every load balancer shares, so a client that
resumes after the VIP moved needs no full handshake; a ticket is good for
``SESSION_TIMEOUT`` (the key protects the sessions it encrypted until it is rotated
away: rotate ``tlsTicketKeys`` regularly, docs/tls.md).
"""

from __future__ import annotations

import posixpath
from typing import Literal

import nginx_ha.render.files as files
from nginx_ha.render.artefacts import Artefact, SecretFile, staged_secret
from nginx_ha.topology import Layout, Topology
from nginx_ha.topology.plans import TlsPlan
from nginx_ha.topology.selfsigned import self_signed

PROTOCOLS = "TLSv1.2 TLSv1.3"
# Mozilla's intermediate profile (ssl-config.mozilla.org, v5.7) without its DHE suites;
# TLS 1.3's suites are OpenSSL's defaults (all three are AEAD).
CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
SESSION_CACHE = "shared:nginx_ha_tls:10m"  # about 40000 sessions, per node
SESSION_TIMEOUT = "4h"
HSTS_MAX_AGE = 63072000  # two years, as Mozilla's generator writes it


def certificate_path(layout: Layout) -> str:
    return posixpath.join(layout.tls_dir, "server.crt")


def key_path(layout: Layout) -> str:
    return posixpath.join(layout.tls_dir, "server.key")


def ticket_key_paths(tls: TlsPlan, layout: Layout) -> list[str]:
    return [posixpath.join(layout.tls_dir, f"ticket-{i}.key") for i in range(tls.ticket_key_slots)]


def trust_path(tls: TlsPlan, layout: Layout) -> str:
    """The trust anchors the gate verifies the served chain with: the stack's CA
    (selfSigned), the operator's (``tls.ca``), else the node's system store."""
    if tls.self_signed or tls.ca:
        return posixpath.join(layout.tls_dir, "trust.pem")
    return layout.system_trust


def ticket_key(value: str, slot: int) -> str:
    """The base64 text of the key in ``slot`` (the newest first; slots past the keys
    given repeat the oldest, which decrypts as it would anyway)."""
    keys = value.split()
    return keys[min(slot, len(keys) - 1)]


def tls_files(topo: Topology, layout: Layout) -> tuple[list[Artefact], list[SecretFile]]:
    """The files nginx serves TLS from, and the gate's trust anchors (none without
    ``tls``)."""
    tls = topo.tls
    if tls is None:
        return [], []
    names = tls.server_names
    project, stack = topo.project, topo.stack

    def secret(
        role: str, key: str, target: str, mode: str, text_of, decode: Literal["", "base64"] = ""
    ) -> SecretFile:
        staged = staged_secret(layout, target)
        return SecretFile(
            role, "nginx", key, target, staged, mode, "nginx-reload", text_of, decode=decode
        )

    plain: list[Artefact] = []
    secrets: list[SecretFile] = []
    cert, key, trust = certificate_path(layout), key_path(layout), trust_path(tls, layout)
    if tls.self_signed:
        secrets += [
            secret(
                "tls-certificate",
                "sshHostKeySeed",
                cert,
                files.CONFIG,
                lambda seed: self_signed(seed, project, stack, names).chain,
            ),
            secret(
                "tls-key",
                "sshHostKeySeed",
                key,
                files.SECRET,
                lambda seed: self_signed(seed, project, stack, names).key,
            ),
            secret(
                "tls-trust",
                "sshHostKeySeed",
                trust,
                files.CONFIG,
                lambda seed: self_signed(seed, project, stack, names).ca,
            ),
        ]
    else:
        assert tls.certificate is not None
        plain.append(
            Artefact(
                "tls-certificate",
                "nginx",
                "file",
                cert,
                _pem_text(tls.certificate),
                files.CONFIG,
                "x509",
                "nginx-reload",
            )
        )
        secrets.append(secret("tls-key", "tls.key", key, files.SECRET, _pem_text))
        if tls.ca:
            plain.append(
                Artefact(
                    "tls-trust",
                    "nginx",
                    "file",
                    trust,
                    _pem_text(tls.ca),
                    files.CONFIG,
                    "x509",
                    "none",
                )
            )
    for slot, path in enumerate(ticket_key_paths(tls, layout)):
        secrets.append(
            secret(
                f"tls-ticket-key-{slot}",
                "tlsTicketKeys",
                path,
                files.SECRET,
                lambda value, slot=slot: ticket_key(value, slot),
                decode="base64",
            )
        )
    return plain, secrets


def _pem_text(text: str) -> str:
    return text.strip() + "\n"


def nginx_tls(topo: Topology, layout: Layout) -> dict[str, object] | None:
    """What nginx.conf's TLS server gets (None without ``tls``)."""
    tls = topo.tls
    if tls is None:
        return None
    return {
        "port": tls.port,
        "port_suffix": tls.port_suffix,
        "server_names": list(tls.server_names),
        "redirect": tls.redirect_http,
        "hsts": f"max-age={HSTS_MAX_AGE}" if tls.hsts else None,
        "certificate": certificate_path(layout),
        "key": key_path(layout),
        "ticket_keys": ticket_key_paths(tls, layout),
        "protocols": PROTOCOLS,
        "ciphers": CIPHERS,
        "session_cache": SESSION_CACHE,
        "session_timeout": SESSION_TIMEOUT,
    }


def gate_params(topo: Topology, layout: Layout) -> dict[str, str]:
    """What the gate of a load balancer asks over TLS besides its plain request: each
    server name through this node's own nginx, the chain verified with the trust
    anchors and the name against the certificate; and whether the plain port
    redirects. Empty without ``tls``."""
    tls = topo.tls
    if tls is None:
        return {}
    return {
        "GATE_PLAIN": "redirect" if tls.redirect_http else "serve",
        "GATE_TLS_NAMES": " ".join(tls.gate_names),
        "GATE_TLS_PORT": str(tls.port),
        "GATE_TLS_CA": trust_path(tls, layout),
    }
