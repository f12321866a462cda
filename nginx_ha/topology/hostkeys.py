"""SSH host keys known before the first connection (pure).

Each node's ed25519 host key is derived from the stack's secret ``sshHostKeySeed``
with HKDF-SHA256 over (project, stack, node name): unique per node, stable across
runs (a re-run renders the same user-data, so nothing is replaced), and known to the
program before the VM exists. cloud-init installs it (``ssh_keys``, with
``ssh_deletekeys`` and no generated types), and every remote connection pins its
public half (``remote.ConnectionArgs(host_key=...)``), so whoever else answers at a
node's address is refused before a command or a secret is sent.

The private key is written in OpenSSH's own format by hand: ``cryptography`` fills
the format's two check integers with random bytes, which would change the user-data
(and replace the VM) on every run. Here they are derived too.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_TYPE = b"ssh-ed25519"
SALT = b"nginx-ha ssh host key v1"
MIN_SEED_BYTES = 32
# The stand-in seed of the offline render without --with-secrets: its keys are public
# knowledge, so they are only ever shown, never deployed.
PLACEHOLDER_SEED = "placeholder-host-key-seed-not-a-secret-0000"  # noqa: S105
# Where cloud-init installs the public half on the node (ssh_keys: ed25519_public).
PUBLIC_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key.pub"


@dataclass(frozen=True)
class HostKey:
    private_openssh: str  # the file /etc/ssh/ssh_host_ed25519_key
    public: str  # "ssh-ed25519 AAAA... comment": the .pub file, known_hosts, host_key=

    @property
    def public_no_comment(self) -> str:
        return " ".join(self.public.split()[:2])


def _string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def derive_seed(seed: str, project: str, stack: str, node: str) -> bytes:
    """32 bytes for one node's key: HKDF-SHA256(seed, salt, info=project/stack/node)."""
    info = b"\0".join(x.encode() for x in (project, stack, node))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=info).derive(seed.encode())


def openssh_private_key(raw: bytes, comment: str) -> str:
    """The OpenSSH private key file (PROTOCOL.key, unencrypted) of an ed25519 seed,
    byte-stable: its check integers come from the public key."""
    pub = (
        Ed25519PrivateKey.from_private_bytes(raw)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    pub_blob = _string(KEY_TYPE) + _string(pub)
    check = hashlib.sha256(b"checkint" + pub).digest()[:4]
    private = (
        check
        + check
        + _string(KEY_TYPE)
        + _string(pub)
        + _string(raw + pub)
        + _string(comment.encode())
    )
    private += bytes(range(1, 1 + (-len(private) % 8)))  # padding 1, 2, 3, ... to 8
    blob = (
        b"openssh-key-v1\0"
        + _string(b"none")
        + _string(b"none")
        + _string(b"")
        + struct.pack(">I", 1)
        + _string(pub_blob)
        + _string(private)
    )
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "\n".join(lines)
        + "\n-----END OPENSSH PRIVATE KEY-----\n"
    )


def host_key(seed: str, project: str, stack: str, node: str) -> HostKey:
    """The host key of ``node`` in ``stack``."""
    if len(seed.encode()) < MIN_SEED_BYTES:
        raise ValueError(f"the host key seed needs at least {MIN_SEED_BYTES} bytes")
    raw = derive_seed(seed, project, stack, node)
    comment = f"{project}-{stack}-{node}"
    pub = (
        Ed25519PrivateKey.from_private_bytes(raw)
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return HostKey(openssh_private_key(raw, comment), f"{pub} {comment}")
