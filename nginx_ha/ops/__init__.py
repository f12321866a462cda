"""Operator commands around a deployed stack (``python -m nginx_ha ...``).

| module | what |
|---|---|
| ``env`` | the environment every Pulumi call gets: the project's backend, passphrase, CLI |
| ``stackinfo`` | a stack's outputs and config through Pulumi's Automation API |
| ``ssh`` | commands on a node over SSH with its pinned host key (never trust on first use) |
| ``status`` | ``status``: the live VRRP view of a stack, per node and VIP |
| ``events`` | the engine's events as step starts and ends (``nginx_ha.view.progress`` shows them) |
| ``run`` | ``up``, ``preview``, ``destroy`` through the Automation API, with progress |
| ``render`` | ``render``: every file of a stack, offline (``nginx_ha.render`` renders them) |

The pure parts (what a node reports and how it is shown) are in
``nginx_ha.view.status``; nothing here renders a file.
"""
