"""An nginx-ha entry point built from code: the settings are pydantic models written
here (not a stack's config), checked with nginx_ha.config.validate, and the two
secrets reach the stack as Pulumi Inputs (secret config values here; an Output of
another resource works the same).

nginx-ha is installed as a package (requirements.txt); see README.md.
"""

from ipaddress import IPv4Address, IPv4Network

import pulumi

from nginx_ha.components import NginxHaStack, NginxHaStackArgs
from nginx_ha.config import models, settings_warnings, validate

config = pulumi.Config()

settings = validate(
    models.Settings(
        stack=pulumi.get_stack(),
        network=models.Network(name="web", mode="nat", cidr=IPv4Network("10.77.0.0/24")),
        vip=IPv4Address("10.77.0.10"),
        ssh=models.Ssh(user="debian", public_key=config.require("sshPublicKey")),
        load_balancers=[
            models.LoadBalancer(name="edge-a", ip=IPv4Address("10.77.0.11"), priority=150),
            models.LoadBalancer(name="edge-b", ip=IPv4Address("10.77.0.12"), priority=100),
        ],
        backends=[
            models.Backend(name="app-1", ip=IPv4Address("10.77.0.21"), role="primary"),
            models.Backend(name="app-2", ip=IPv4Address("10.77.0.22"), role="backup"),
        ],
        vrrp=models.Vrrp(virtual_router_id=77),
        nginx=models.Nginx(max_fails=2, fail_timeout=5),
    ),
    vrrp_auth_pass_input=True,  # the VRRP secret comes as an Input, below
)
for warning in settings_warnings(settings):
    pulumi.log.warn(warning)

web = NginxHaStack(
    "web",
    NginxHaStackArgs(
        settings,
        # Secret Outputs: never in plain text in the state or the preview.
        ssh_private_key=config.require_secret("sshPrivateKey"),
        vrrp_auth_pass=config.require_secret("vrrpAuthPass"),
        # Each node's SSH host key is derived from it and pinned in every connection.
        ssh_host_key_seed=config.require_secret("sshHostKeySeed"),
    ),
)

pulumi.export("vip", web.vip)
pulumi.export("url", web.url)
pulumi.export("nodes", web.nodes)
pulumi.export("smoke", web.smoke)
