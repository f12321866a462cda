"""A private libvirt for machines without a hypervisor set up.

libvirtd and virtlogd run inside a network namespace of the project's own
(``nginx-ha-sandbox``) and a private mount namespace, with every file they make under
the checkout's ``.run/sandbox/``; QEMU domains of type ``qemu`` (software emulation);
a Debian 12 base image built from Debian's packages. ``python -m sandbox up|down|
status|image|smoke|uri``; ``Pulumi.sandbox.yaml`` targets it. See docs/sandbox.md.
"""
