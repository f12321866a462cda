"""The Pulumi components (the shell around the pure core): VMs, remote steps, the stack.

``NginxHaStack(name, NginxHaStackArgs(settings, ...), opts)`` builds a whole HA entry
point; ``nginx_ha.components.engine.load_settings`` reads a stack's config for it.
"""

from nginx_ha.components.stack import NginxHaStack, NginxHaStackArgs

__all__ = ["NginxHaStack", "NginxHaStackArgs"]
