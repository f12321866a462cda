"""nginx-ha: two nginx load balancers sharing a keepalived VIP in front of Tomcat, on libvirt.

Layers (data flows one way; an import-linter contract keeps it so):
``nginx_ha.config`` → ``nginx_ha.topology`` → ``nginx_ha.render`` form the pure core (no
Pulumi, no network, no subprocess); ``nginx_ha.components`` are the Pulumi components.
"""
