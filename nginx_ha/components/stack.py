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

from dataclasses import dataclass

import pulumi
from pulumi_command import remote
from pydantic import SecretStr

from nginx_ha import render
from nginx_ha.components.firewall import ssh_firewall
from nginx_ha.components.keepalived import KeepalivedNode, KeepalivedNodeArgs
from nginx_ha.components.nginx import NginxNode
from nginx_ha.components.remote import NodeStepArgs, connection, wait_ready
from nginx_ha.components.smoke import smoke_test
from nginx_ha.components.tomcat import TomcatNode
from nginx_ha.components.vm import ClonedVm, ClonedVmArgs, HostResources
from nginx_ha.config import NS, Settings, SettingsError, validate
from nginx_ha.topology import Node, Topology, build_topology, vm_layout
from nginx_ha.topology.hostkeys import HostKey, host_key


@dataclass
class NginxHaStackArgs:
    """What an HA entry point needs: validated settings and its three secrets.

    ``ssh_private_key``, ``vrrp_auth_pass`` and ``ssh_host_key_seed`` may come from
    other resources (an Output is kept secret); unset, they are the settings' own
    (``sshPrivateKey``, ``vrrpAuthPass``, ``sshHostKeySeed`` of a stack's config)."""

    settings: Settings
    ssh_private_key: pulumi.Input[str] | None = None
    vrrp_auth_pass: pulumi.Input[str] | None = None
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
        vrrp_secret = args.vrrp_secret()
        topo = build_topology(args.settings, vrrp_secret=vrrp_secret is not None)
        self.topology = topo
        self.hosts = {host: HostResources(self, topo, host) for host in topo.hosts_used}
        private_key = args.private_key()
        seed = args.host_key_seed()

        self.vms: dict[str, ClonedVm] = {}
        self.ready: dict[str, pulumi.Resource] = {}
        self.connections: dict[str, remote.ConnectionArgs] = {}
        self.nginx: dict[str, NginxNode] = {}
        self.keepalived: dict[str, KeepalivedNode] = {}
        self.tomcat: dict[str, TomcatNode] = {}
        for node in topo.nodes:
            host = self.hosts[node.host]
            # The node's SSH host key: derived from the secret seed, installed by
            # cloud-init, pinned in the node's connection (topology/hostkeys.py).
            key: pulumi.Output[HostKey] = seed.apply(
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
                ),
                opts=pulumi.ResourceOptions(parent=self, providers=[host.provider]),
            )
            self.vms[node.name] = vm
            conn = connection(
                str(node.ip), topo.ssh.user, private_key, key.apply(lambda k: k.public_no_comment)
            )
            self.ready[node.name] = wait_ready(
                node.name,
                conn,
                node.instance_id,
                pulumi.ResourceOptions(parent=vm, depends_on=[vm.domain]),
            )
            self.connections[node.name] = conn
        layout = vm_layout(topo)

        # Every node component; the smoke test runs after all of them.
        self.node_steps: list[pulumi.Resource] = []
        child = pulumi.ResourceOptions(parent=self)
        for node in topo.nodes:
            args_ = NodeStepArgs(
                topo, node, layout, self.connections[node.name], self.ready[node.name]
            )
            # SSH from ssh.allowFrom only (no step with the default: anywhere).
            ssh_rule = ssh_firewall(node.name, args_, pulumi.ResourceOptions(parent=self))
            if ssh_rule is not None:
                self.node_steps.append(ssh_rule)
            if node.is_load_balancer:
                self.nginx[node.name] = NginxNode(node.name, args_, opts=child)
                self.keepalived[node.name] = KeepalivedNode(
                    node.name,
                    KeepalivedNodeArgs(**vars(args_), auth_secret=vrrp_secret),
                    opts=child,
                )
                self.node_steps += [self.nginx[node.name], self.keepalived[node.name]]
            else:
                self.tomcat[node.name] = TomcatNode(node.name, args_, opts=child)
                self.node_steps.append(self.tomcat[node.name])

        # sha256 of every rendered file per node, so a preview shows which files a
        # change touches (files carrying a secret are left out: node_files without
        # secrets does not render them).
        self.config_hashes = {
            n.name: {
                path: render.sha256(text)
                for path, text in render.node_files(topo, n, layout).items()
            }
            for n in topo.nodes
        }
        self.smoke_test = smoke_test(
            name,
            topo,
            self.connections,
            self.config_hashes,
            depends_on=self.node_steps,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.smoke = self.smoke_test.stdout

        self.vip = str(topo.vip)
        # Every VIP and the load balancer meant to hold it (active-active).
        self.vips = vip_outputs(topo)
        self.url = topo.vip_url
        self.nodes = {n.name: _node_output(n) for n in topo.nodes}
        self.register_outputs(
            {
                "vip": self.vip,
                "vips": self.vips,
                "url": self.url,
                "nodes": self.nodes,
                "smoke": self.smoke,
                "configHashes": self.config_hashes,
            }
        )


def vip_outputs(topo: Topology) -> list[dict[str, object]]:
    """[{vip, vrid, master}] in the order of nginx-ha:vips (one entry for nginx-ha:vip)."""
    return [{"vip": str(i.vip), "vrid": i.vrid, "master": i.master} for i in topo.instances]


def _node_output(node: Node) -> dict[str, object]:
    out: dict[str, object] = {
        "ip": str(node.ip),
        "mac": node.mac,
        "role": node.role,
        "host": node.host or "default",
        "domain": node.domain,
    }
    if node.priority is not None:
        out["priority"] = node.priority
    if node.port is not None:
        out["port"] = node.port
    return out
