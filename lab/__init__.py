"""The network-namespace lab: the rendered configs with real keepalived, nginx and
Tomcat on one host, and failover measured (``python -m lab --help``, docs/lab.md)."""
