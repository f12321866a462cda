"""nginx-ha: two nginx load balancers sharing a keepalived VIP, in front of Tomcat."""

import pulumi

from nginx_ha.components.engine import load_settings
from nginx_ha.components.stack import NginxHaStack, NginxHaStackArgs
from nginx_ha.config import settings_warnings

settings = load_settings()  # raises one error listing every bad key, before any resource
for warning in settings_warnings(settings):
    pulumi.log.warn(warning)
stack = NginxHaStack("nginx-ha", NginxHaStackArgs(settings))

pulumi.export("vip", stack.vip)
pulumi.export("vips", stack.vips)
pulumi.export("url", stack.url)
pulumi.export("nodes", stack.nodes)
pulumi.export("smoke", stack.smoke)
pulumi.export("configHashes", stack.config_hashes)
if stack.app is not None:
    pulumi.export("app", stack.app)  # nginx-ha:app: the release and each backend's version
if stack.tls_ca is not None:
    pulumi.export("tlsCa", stack.tls_ca)  # tls.selfSigned: what the stack's clients trust
