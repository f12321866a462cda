"""NginxHaStack: the whole topology as resources, and what the stack exports.

Another Pulumi program builds one from code::

    from nginx_ha.components import NginxHaStack, NginxHaStackArgs
    from nginx_ha.config import models, validate

    settings = validate(
        models.Settings(stack=pulumi.get_stack(), vip="10.0.0.10", ...),
        vrrp_auth_pass_input=True,  # the VRRP secret comes as an Input, below
    )
    args = NginxHaStackArgs(settings, ssh_private_key=key, vrrp_auth_pass=vrrp_key)
    NginxHaStack("web", args)

(``examples/from-code`` is a whole program). This project's own ``__main__.py`` maps the
stack's config to the same args.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import remote
from pydantic import SecretStr

import nginx_ha.components.remote as remote_steps
from nginx_ha import render
from nginx_ha.components.firewall import ssh_firewall
from nginx_ha.components.keepalived import KeepalivedNode
from nginx_ha.components.nginx import NginxNode
from nginx_ha.components.remote import NodeStepArgs, connection
from nginx_ha.components.smoke import smoke_test
from nginx_ha.components.tomcat import TomcatNode, app_output
from nginx_ha.components.vm import ClonedVm, ClonedVmArgs, HostResources
from nginx_ha.config import NS, Settings, SettingsError, validate
from nginx_ha.config.capabilities import Version
from nginx_ha.render.plan import NodePlan, rollout_digest, stack_ca
from nginx_ha.topology import Layout, Node, Topology, build_topology, vm_layout
from nginx_ha.topology.hostkeys import HostKey, host_key


@dataclass
class NginxHaStackArgs:
    """What an HA entry point needs: validated settings and its three secrets.

    ``ssh_private_key``, ``vrrp_auth_pass``, ``ssh_host_key_seed``, ``tls_key`` and
    ``tls_ticket_keys`` may come from other resources (an Output is kept secret);
    unset, they are the settings' own (``sshPrivateKey``, ``vrrpAuthPass``,
    ``sshHostKeySeed``, ``tls.key``, ``tlsTicketKeys`` of a stack's config)."""

    settings: Settings
    ssh_private_key: pulumi.Input[str] | None = None
    vrrp_auth_pass: pulumi.Input[str] | None = None
    tls_key: pulumi.Input[str] | None = None
    tls_ticket_keys: pulumi.Input[str] | None = None
    # Where files live on each node (by node name); unset: a VM's layout. The lab's
    # rollout replay runs the program's steps against its own per-node paths.
    layouts: Mapping[str, Layout] | None = None
    # The keepalived the nodes run where it is not the one the stack builds (the lab
    # runs the one installed on its host): decides what is rendered.
    keepalived_version: Version | None = None
    keepalived_ipvs: bool | None = None

    def layout_of(self, topo: Topology, node: Node) -> Layout:
        if self.layouts and node.name in self.layouts:
            return self.layouts[node.name]
        return vm_layout(topo)

    ssh_host_key_seed: pulumi.Input[str] | None = None

    def host_key_seed(self) -> pulumi.Output[str]:
        if self.ssh_host_key_seed is not None:
            return pulumi.Output.secret(self.ssh_host_key_seed)
        if self.settings.ssh_host_key_seed is None:
            raise ValueError(
                "NginxHaStackArgs: no SSH host key seed (ssh_host_key_seed, or the "
                "settings' sshHostKeySeed): each node's host key is derived from it"
            )
        return pulumi.Output.secret(self.settings.ssh_host_key_seed.get_secret_value())

    def private_key(self) -> pulumi.Output[str]:
        if self.ssh_private_key is not None:
            return pulumi.Output.secret(self.ssh_private_key)
        if self.settings.ssh_private_key is None:
            raise ValueError(
                "NginxHaStackArgs: no SSH private key (ssh_private_key, or the settings' "
                "sshPrivateKey) for the remote steps"
            )
        return pulumi.Output.secret(self.settings.ssh_private_key.get_secret_value())

    def vrrp_secret(self) -> pulumi.Output[str] | None:
        if self.vrrp_auth_pass is not None:
            # Known only now: checked as the settings' own would be (length, characters
            # for the VRRP version and keepalived); a bad one fails the update.
            return pulumi.Output.secret(self.vrrp_auth_pass).apply(self._checked_vrrp_secret)
        if self.settings.vrrp_auth_pass is None:
            return None
        return pulumi.Output.secret(self.settings.vrrp_auth_pass.get_secret_value())

    def secrets(self) -> dict[str, pulumi.Output[str]]:
        """Every secret the nodes' files are made from, by config key (secret Outputs);
        a node's plan names the one each secret file needs."""
        s = self.settings
        out: dict[str, pulumi.Output[str]] = {"sshHostKeySeed": self.host_key_seed()}
        vrrp = self.vrrp_secret()
        if vrrp is not None:
            out["vrrpAuthPass"] = vrrp
        for key, given, own in (
            ("tls.key", self.tls_key, s.tls.key if s.tls else None),
            ("tlsTicketKeys", self.tls_ticket_keys, s.tls_ticket_keys),
        ):
            if given is not None:
                out[key] = pulumi.Output.secret(given)
            elif own is not None:
                out[key] = pulumi.Output.secret(own.get_secret_value())
        return out

    def _checked_vrrp_secret(self, value: str) -> str:
        try:
            validate(self.settings.model_copy(update={"vrrp_auth_pass": SecretStr(value)}))
        except SettingsError as err:
            problems = [p.message for p in err.problems if p.key == f"{NS}:vrrpAuthPass"]
            if problems:
                raise ValueError(
                    "NginxHaStackArgs.vrrp_auth_pass: " + "; ".join(problems)
                ) from None
        return value


class NginxHaStack(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:NginxHaStack"

    def __init__(
        self, name: str, args: NginxHaStackArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(self.TYPE, name, None, opts)
        self.args = args
        self.secrets = args.secrets()
        topo = build_topology(
            args.settings,
            keepalived_version=args.keepalived_version,
            keepalived_ipvs=args.keepalived_ipvs,
            vrrp_secret="vrrpAuthPass" in self.secrets,
        )
        self.topology = topo
        # Every node's plan, once: what each component stages, the activations, the
        # hashes and the smoke test's triggers all come from it (render/plan.py).
        self.plans = render.plans(topo, lambda n: args.layout_of(topo, n))
        self.hosts = {host: HostResources(self, topo, host) for host in topo.hosts_used}
        self.private_key = args.private_key()
        self.seed = self.secrets["sshHostKeySeed"]

        self.vms: dict[str, ClonedVm] = {}
        self.ready: dict[str, pulumi.Resource] = {}
        self.connections: dict[str, remote.ConnectionArgs] = {}
        self.nginx: dict[str, NginxNode] = {}
        self.keepalived: dict[str, KeepalivedNode] = {}
        self.tomcat: dict[str, TomcatNode] = {}
        self.activations: dict[str, remote.Command] = {}
        # Node by node in rollout order; only the dependencies order what runs:
        # - stage (VM, packages, builds, staged files): every node at once;
        # - activate: one node at a time, each after the previous node's gate
        #   (templates/scripts/activate.sh): a failed gate rolls the node back and
        #   stops `pulumi up` before the next node is touched;
        # - on a serving stack (nginx-ha:serving) a node's VM is also created or
        #   replaced only after the previous node's gate.
        previous: list[pulumi.Resource] = []
        for node in topo.rollout:
            plan = self.plans[node.name]
            vm, conn, ready = self._vm(plan, after=previous if topo.serving else ())
            staged, secrets = self._stage(plan, conn, ready)
            self.activations[node.name] = remote_steps.activation(
                plan,
                conn,
                # A new VM is a new node to activate; a new VRRP secret needs one too.
                triggers=[node.instance_id, *secrets],
                opts=pulumi.ResourceOptions(parent=vm, depends_on=[ready, *staged, *previous]),
            )
            previous = [self.activations[node.name]]
        self.handbacks = self._handbacks(previous)
        # What the rollout ends with: the last handback (or activation).
        self.rollout_end: list[pulumi.Resource] = [*previous]
        if self.handbacks:
            self.rollout_end = [list(self.handbacks.values())[-1]]
        self.node_steps: list[pulumi.Resource] = [
            *self.activations.values(),
            *self.handbacks.values(),
        ]

        # sha256 of every file and step each node gets, so a preview shows which ones a
        # change touches (files carrying a secret are left out).
        self.config_hashes = {n: plan.hashes() for n, plan in self.plans.items()}
        self.smoke_test = smoke_test(
            name,
            topo,
            self.plans,
            self.connections,
            self.secrets,
            depends_on=self.node_steps,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.smoke = self.smoke_test.stdout

        self.vip = str(topo.vip)
        # Every VIP and the load balancer meant to hold it (active-active).
        self.vips = vip_outputs(topo)
        self.url = topo.vip_url
        self.nodes = {n.name: _node_output(n) for n in topo.nodes}
        # nginx-ha:app: the application and the version each backend unpacked.
        self.app = app_output(topo, self.tomcat)
        # tls.selfSigned: the stack's CA certificate, what its clients trust (public).
        self.tls_ca: pulumi.Output[str] | None = None
        if topo.tls is not None and topo.tls.self_signed:
            self.tls_ca = pulumi.Output.unsecret(self.seed.apply(lambda s: stack_ca(topo, s)))
        self.register_outputs(
            {
                "vip": self.vip,
                "vips": self.vips,
                "url": self.url,
                "nodes": self.nodes,
                "smoke": self.smoke,
                "configHashes": self.config_hashes,
                **({"tlsCa": self.tls_ca} if self.tls_ca is not None else {}),
                **({"app": self.app} if self.app is not None else {}),
            }
        )

    def _vm(
        self, plan: NodePlan, after: Sequence[pulumi.Resource]
    ) -> tuple[ClonedVm, remote.ConnectionArgs, pulumi.Resource]:
        """The node's VM, its SSH connection (host key pinned) and its wait-ready step."""
        topo, node = self.topology, plan.node
        host = self.hosts[node.host]
        # The node's SSH host key: derived from the secret seed, installed by
        # cloud-init, pinned in the node's connection (topology/hostkeys.py).
        key: pulumi.Output[HostKey] = self.seed.apply(
            lambda s, n=node.name: host_key(s, topo.project, topo.stack, n)
        )
        user_data = pulumi.Output.secret(
            key.apply(lambda k, n=node: render.cloud_init_user_data(topo, n, k))
        )
        vm = ClonedVm(
            node.name,
            ClonedVmArgs(
                node=node,
                base_volume_id=host.base_volume_id,
                base_volume_name=host.base_volume_name,
                pool=host.pool,
                network_id=host.network_id,
                bridge=host.bridge,
                user_data=user_data,
                meta_data=render.cloud_init_meta_data(topo, node),
                network_config=render.cloud_init_network_config(topo, node),
                after=after,
                libvirt_after=host.writes,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers=[host.provider]),
        )
        host.writes = [vm.domain]
        self.vms[node.name] = vm
        conn = connection(
            str(node.ip), topo.ssh.user, self.private_key, key.apply(lambda k: k.public_no_comment)
        )
        ready = remote_steps.wait_ready(
            plan, conn, pulumi.ResourceOptions(parent=vm, depends_on=[vm.domain])
        )
        self.ready[node.name], self.connections[node.name] = ready, conn
        return vm, conn, ready

    def _stage(
        self, plan: NodePlan, conn: remote.ConnectionArgs, ready: pulumi.Resource
    ) -> tuple[list[pulumi.Resource], list[pulumi.Input[str]]]:
        """The stage phase of every part of the node, each part by its component; the
        steps the activation waits for, and the digests of the secrets it applies."""
        name = plan.name
        step_args = NodeStepArgs(self.topology, plan, conn, ready, self.secrets)
        child = pulumi.ResourceOptions(parent=self)
        # SSH from ssh.allowFrom only (no step with the default: anywhere).
        ssh_rule = ssh_firewall(name, step_args, child)
        staged: list[pulumi.Resource] = []
        secrets: list[pulumi.Input[str]] = []
        for part in plan.parts:
            if part.name == "nginx":
                self.nginx[name] = NginxNode(name, step_args, opts=child)
                staged += self.nginx[name].steps
                secrets += self.nginx[name].secret_digests
            elif part.name == "keepalived":
                ka = KeepalivedNode(name, step_args, opts=child)
                self.keepalived[name] = ka
                staged += ka.steps
                secrets += ka.secret_digests
            elif part.name == "tomcat":
                self.tomcat[name] = TomcatNode(name, step_args, opts=child)
                staged += self.tomcat[name].steps
            else:
                raise ValueError(f"{name}: no component stages the part {part.name!r}")
        if ssh_rule is not None:
            staged.append(ssh_rule)
        return staged, secrets

    def _handbacks(self, previous: list[pulumi.Resource]) -> dict[str, remote.Command]:
        """After the last activation, each VRRP node in rollout order hands the VIPs it
        holds for another node back to it, gracefully (templates/scripts/handback.sh).
        It runs whenever an activation may have run."""
        digest = rollout_digest(self.topology, self.plans)
        handbacks: dict[str, remote.Command] = {}
        for node in self.topology.rollout:
            plan = self.plans[node.name]
            if plan.handback is None:
                continue
            handbacks[node.name] = remote_steps.handback(
                plan,
                self.connections[node.name],
                digest,
                pulumi.ResourceOptions(parent=self.vms[node.name], depends_on=previous),
            )
            previous = [handbacks[node.name]]
        return handbacks


def vip_outputs(topo: Topology) -> list[dict[str, object]]:
    """[{vip, vrid, master}] in the order of nginx-ha:vips (one entry for nginx-ha:vip)."""
    return [{"vip": str(i.vip), "vrid": i.vrid, "master": i.master} for i in topo.instances]


def _node_output(node: Node) -> dict[str, object]:
    out: dict[str, object] = {
        "ip": str(node.ip),
        "mac": node.mac,
        "kind": node.kind.name,
        "role": node.role,
        "host": node.host or "default",
        "domain": node.domain,
    }
    if node.priority is not None:
        out["priority"] = node.priority
    if node.port is not None:
        out["port"] = node.port
    return out
