"""Rendering (pure): one function per produced file, plain values in, ``str`` out.

| module | files |
|---|---|
| ``templates`` | the one Jinja2 environment and the one loader of template files |
| ``cloudinit`` | user-data, meta-data, network-config |
| ``nginx`` | nginx.conf |
| ``keepalived`` | keepalived.conf, check, watcher and notify scripts, the secret file |
| ``tomcat`` | a backend's ROOT page |
| ``files`` | each file's mode and owner on the node |
| ``params`` | every script's parameters, and the header that sets them |
| ``artefacts`` | the pieces of a plan: artefacts, secret files, steps, a part's share |
| ``parts`` | what each part (nginx, keepalived, Tomcat) brings to a node |
| ``rollout`` | the activation's manifest and parameters, the handback |
| ``plan`` | one plan per node (``node_plan``, ``plans``): everything a node gets |

Templates get decided values from the topology; nothing here reads raw settings.
"""

from nginx_ha.render.cloudinit import (
    cloud_init_files,
    cloud_init_meta_data,
    cloud_init_network_config,
    cloud_init_user_data,
)
from nginx_ha.render.keepalived import (
    TRACK_FILE,
    check_nginx_script,
    check_restart_marker,
    keepalived_conf,
    lvs_fwmark,
    lvs_virtual_servers,
    nginx_watch_script,
    notify_script,
    vrrp_auth_file_text,
    vrrp_auth_path,
    vrrp_instances,
    vrrp_state_file,
    vrrp_state_script,
)
from nginx_ha.render.nginx import lvs_health_peers, nginx_conf, nginx_time
from nginx_ha.render.plan import NodePlan, node_plan, plans
from nginx_ha.render.templates import TEMPLATES, render_template, script, sha256, template_file
from nginx_ha.render.tomcat import tomcat_page, tomcat_page_path

__all__ = [
    "NodePlan",
    "TEMPLATES",
    "TRACK_FILE",
    "check_nginx_script",
    "check_restart_marker",
    "cloud_init_files",
    "cloud_init_meta_data",
    "cloud_init_network_config",
    "cloud_init_user_data",
    "keepalived_conf",
    "lvs_fwmark",
    "lvs_health_peers",
    "lvs_virtual_servers",
    "nginx_conf",
    "nginx_time",
    "nginx_watch_script",
    "node_plan",
    "notify_script",
    "plans",
    "render_template",
    "script",
    "sha256",
    "template_file",
    "tomcat_page",
    "tomcat_page_path",
    "vrrp_auth_file_text",
    "vrrp_auth_path",
    "vrrp_instances",
    "vrrp_state_file",
    "vrrp_state_script",
]
