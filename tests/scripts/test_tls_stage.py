"""The TLS files' stage steps as the program runs them on a node, for real (root):
stage_secret.sh with a ticket key base64 on stdin (decoded into a root-only 0600 file;
text that is not base64 stages nothing), stage.sh's x509 validator on a certificate
chain (junk refused), and nginx.conf's stage step validating the file with the real
`nginx -t` against the staged certificate, key and ticket keys (SUBST), whose targets
do not exist yet; a staged key of another certificate is refused by nginx itself.

Every step's text is the plan's own (``Step.text``: the preamble, the parameters, the
script). The node's folders are the test's scratch folder; the scripts run in a holder
(a network and private mount namespace) with /var/log/nginx a scratch folder too, so
not even nginx's default error log is written."""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nginx_ha import render
from nginx_ha.render.artefacts import Artefact, SecretFile, Step, stage_step
from nginx_ha.topology import Layout, Topology
from support import netns, nginx_validate
from tests import tls_stacks as ts

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="stages root-owned files: needs root"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in ("ip", "unshare", "nsenter", "openssl", "base64")),
        reason="needs iproute2, util-linux (unshare, nsenter), openssl and coreutils",
    ),
    pytest.mark.skipif(not nginx_validate.available(), reason="needs nginx (nginx-light)"),
]


@dataclasses.dataclass
class Node:
    holder: netns.Holder
    scratch: Path

    def run(self, step: Step, stdin: str | None = None):
        return self.holder.run("bash", "-c", step.text, input=stdin, timeout=60)


@pytest.fixture
def node() -> Iterator[Node]:
    scratch = Path(tempfile.mkdtemp(prefix="nginx-ha-tls-stage-", dir="/var/tmp"))
    (scratch / "var-log-nginx").mkdir()
    holder = netns.Holder(
        "nhtls-",
        mounts=[["mount", "--bind", str(scratch / "var-log-nginx"), "/var/log/nginx"]],
        lifetime=300,
    )
    try:
        yield Node(holder, scratch)
    finally:
        holder.close()
        shutil.rmtree(scratch, ignore_errors=True)


def layout_in(scratch: Path) -> Layout:
    """nginx's paths, the TLS folder, uploads and releases in the scratch folder."""
    return dataclasses.replace(
        nginx_validate.scratch_layout(scratch / "nginx"),
        tls_dir=str(scratch / "etc-nginx-tls"),  # the targets: never created here
        upload_dir=str(scratch / "upload"),
        release_dir=str(scratch / "releases"),
    )


def plan_of(topo: Topology, layout: Layout):
    return render.node_plan(topo, topo.master, layout)


def secret_slot(plan, role: str) -> SecretFile:
    return next(s for s in plan.secrets if s.role == role)


def upload(artefact: Artefact, layout: Layout) -> Path:
    """What the program's CopyToRemote leaves on the node."""
    path = Path(artefact.uploaded(layout))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(artefact.text)
    return path


def stage_file(node: Node, artefact: Artefact, layout: Layout):
    upload(artefact, layout)
    return node.run(stage_step(artefact, layout))


# ------------------------------------------------------------------ stage_secret.sh


def test_a_ticket_key_is_decoded_into_a_root_only_file(node):
    topo = ts.topology(ts.SELF_SIGNED, ts.TICKET_KEYS)
    plan = plan_of(topo, layout_in(node.scratch))
    slot = secret_slot(plan, "tls-ticket-key-0")
    assert slot.stage.params["DECODE"] == "base64"
    res = node.run(slot.stage, slot.text_of(ts.TICKET_KEYS))
    assert res.returncode == 0, res.stderr
    staged = Path(slot.staged)
    assert staged.read_bytes() == base64.b64decode(ts.TICKET_KEY_NEW)
    assert len(staged.read_bytes()) == 80
    st = staged.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 0, 0)
    folder = staged.parent.stat()
    assert (stat.S_IMODE(folder.st_mode), folder.st_uid) == (0o700, 0)
    assert f"staged {slot.staged} (0600)" in res.stdout
    assert not Path(slot.staged + ".new").exists()


def test_text_that_is_not_base64_stages_nothing(node):
    topo = ts.topology(ts.SELF_SIGNED, ts.TICKET_KEYS)
    plan = plan_of(topo, layout_in(node.scratch))
    slot = secret_slot(plan, "tls-ticket-key-1")
    bad = node.run(slot.stage, "this is not base64 at all!\n")
    assert bad.returncode != 0
    assert "is not base64: not staged" in bad.stderr
    assert not Path(slot.staged).exists() and not Path(slot.staged + ".new").exists()
    # Over a key staged before, the old one stays.
    good = node.run(slot.stage, slot.text_of(ts.TICKET_KEYS))
    assert good.returncode == 0, good.stderr
    assert node.run(slot.stage, "%%%\n").returncode != 0
    assert Path(slot.staged).read_bytes() == base64.b64decode(ts.TICKET_KEY)


def test_a_key_without_decode_is_staged_as_it_came(node):
    tls = ts.operator_tls()
    plan = plan_of(ts.topology(tls), layout_in(node.scratch))
    slot = secret_slot(plan, "tls-key")
    assert "DECODE" not in slot.stage.params
    res = node.run(slot.stage, slot.text_of(tls["key"]))
    assert res.returncode == 0, res.stderr
    assert Path(slot.staged).read_text() == tls["key"].strip() + "\n"
    assert stat.S_IMODE(Path(slot.staged).stat().st_mode) == 0o600


# ------------------------------------------------------------------ stage.sh x509


def cert_artefact(plan) -> Artefact:
    return plan.part("nginx").artefact("tls-certificate")


def test_a_certificate_chain_is_staged(node):
    layout = layout_in(node.scratch)
    plan = plan_of(ts.topology(ts.chained_tls()), layout)
    cert = cert_artefact(plan)
    res = stage_file(node, cert, layout)
    assert res.returncode == 0, res.stderr
    assert "x509: ok" in res.stdout
    assert Path(cert.staged(layout)).read_text() == cert.text
    assert len(ts.certificates(cert.text)) == 2  # the server's, then the intermediate


@pytest.mark.parametrize(
    "junk",
    [
        "not a certificate\n",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    ],
    ids=["text", "a broken block"],
)
def test_junk_is_not_staged_as_a_certificate(node, junk):
    layout = layout_in(node.scratch)
    cert = cert_artefact(plan_of(ts.topology(ts.chained_tls()), layout))
    cert = dataclasses.replace(cert, text=junk)
    res = stage_file(node, cert, layout)
    assert res.returncode != 0
    assert "server.crt failed validation (x509): not staged" in res.stderr
    assert not Path(cert.staged(layout)).exists()


# ------------------------------------------------------------------ nginx.conf


def stage_tls_files(node: Node, plan, layout: Layout, secrets: dict[str, str]) -> None:
    """Every TLS file of the plan staged by its own step, as before nginx.conf's."""
    for slot in plan.secrets:
        if slot.part == "nginx":
            res = node.run(slot.stage, slot.text_of(secrets[slot.key]))
            assert res.returncode == 0, (slot.role, res.stderr)
    for a in plan.part("nginx").artefacts:
        if a.role.startswith("tls-"):
            res = stage_file(node, a, layout)
            assert res.returncode == 0, (a.role, res.stderr)


@pytest.mark.parametrize("source", ["selfSigned", "operator"])
def test_nginx_conf_is_validated_against_the_staged_tls_files(node, source):
    tls = ts.SELF_SIGNED if source == "selfSigned" else ts.operator_tls()
    layout = layout_in(node.scratch)
    plan = plan_of(ts.topology(tls, ts.TICKET_KEYS), layout)
    stage_tls_files(node, plan, layout, ts.secrets(tls, ts.TICKET_KEYS))
    conf = plan.part("nginx").artefact("nginx-conf")
    assert "SUBST" in conf.validate
    res = stage_file(node, conf, layout)
    assert res.returncode == 0, res.stderr
    assert "nginx: ok" in res.stdout
    assert Path(conf.staged(layout)).read_text() == conf.text  # the file, not the copy
    assert not Path(layout.tls_dir).exists()  # nothing read from the targets


def test_nginx_conf_is_refused_when_the_staged_key_is_not_the_certificates(node):
    tls = ts.operator_tls()
    layout = layout_in(node.scratch)
    plan = plan_of(ts.topology(tls), layout)
    # The key of the CA's other certificate (a renewal half done).
    stage_tls_files(node, plan, layout, ts.secrets(tls) | {"tls.key": ts.operator().second.key})
    conf = plan.part("nginx").artefact("nginx-conf")
    res = stage_file(node, conf, layout)
    assert res.returncode != 0
    assert "key values mismatch" in res.stderr
    assert "nginx.conf failed validation (nginx): not staged" in res.stderr
    assert not Path(conf.staged(layout)).exists()


def test_a_renewal_checks_the_new_certificate_with_the_staged_key(node):
    layout = layout_in(node.scratch)
    before_tls = ts.operator_tls()
    before = plan_of(ts.topology(before_tls), layout)
    stage_tls_files(node, before, layout, ts.secrets(before_tls))
    conf = before.part("nginx").artefact("nginx-conf")
    assert stage_file(node, conf, layout).returncode == 0
    # The renewal half done: the new chain staged, the key still the old one.
    after = plan_of(ts.topology(ts.operator_tls(ts.operator().second)), layout)
    cert = after.part("nginx").artefact("tls-certificate")
    assert stage_file(node, cert, layout).returncode == 0
    new_conf = after.part("nginx").artefact("nginx-conf")
    assert new_conf.text == conf.text  # the same file: its upload does not run again
    step = stage_step(new_conf, layout)
    assert step.command != stage_step(conf, layout).command  # ... its stage step does
    res = node.run(step)
    assert res.returncode != 0, res.stdout
    assert "key values mismatch" in res.stderr
