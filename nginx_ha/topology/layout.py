"""Where things live on a node: one layout for VMs, and the lab's per-node one."""

from __future__ import annotations

from dataclasses import dataclass

from nginx_ha.config.pins import DEFAULT_INTERFACE


@dataclass(frozen=True)
class Layout:
    """Where things live on a node, for the renderers and the remote steps.

    VMs use the defaults; the network-namespace lab passes its own (per-node paths
    under its run folder, its interface name, its way to restart nginx), so one set of
    templates serves both. What runs there (the keepalived version and whether it has
    IPVS) is the topology's decision, not the layout's. Fields only ever get added,
    with a default.
    """

    interface: str = DEFAULT_INTERFACE
    # The keepalived that runs here; empty: the build the topology names, under
    # keepalived_builds (the lab names the binary it runs).
    keepalived_bin: str = ""
    keepalived_conf: str = "/etc/keepalived/keepalived.conf"
    check_script: str = "/etc/keepalived/check_nginx.sh"
    notify_script: str = "/etc/keepalived/notify.sh"
    auth_key_file: str = "/etc/keepalived/vrrp-auth.key"
    script_user: str = "root"
    nginx_bin: str = "/usr/sbin/nginx"
    nginx_conf: str = "/etc/nginx/nginx.conf"
    nginx_pid: str = "/run/nginx.pid"
    nginx_log_dir: str = "/var/log/nginx"
    nginx_mime_types: str = "/etc/nginx/mime.types"
    # How the health check restarts nginx once (the lab starts it in its namespace).
    nginx_restart: str = "systemctl restart nginx"
    tomcat_webapps: str = "/var/lib/tomcat10/webapps"
    # nginx: the user workers run as (Debian www-data, RHEL family nginx), the folder
    # for request-body and proxy temp files (the lab gives each node its own), and the
    # ROOT page Tomcat serves (under tomcat_webapps).
    nginx_user: str = "www-data"
    nginx_temp_dir: str = "/var/lib/nginx"
    tomcat_page: str = "ROOT/index.html"
    # The user's application (nginx-ha:app): Tomcat's CATALINA_BASE (its context
    # descriptors under conf/Catalina/localhost, its bin/setenv.sh), and where each
    # release of the WAR is unpacked (app_dir/releases/<release>/), read-only.
    tomcat_base: str = "/var/lib/tomcat10"
    app_dir: str = "/var/lib/nginx-ha/app"
    # keepalived: the VRRPv2 PASS fragment (a root-only 0600 file that keepalived.conf
    # includes, so the password is not in keepalived.conf), and the folder of the health
    # check's restart marker and the notify script's state file.
    auth_pass_file: str = "/etc/keepalived/vrrp-auth-pass.conf"  # noqa: S105 - a path
    keepalived_state_dir: str = "/run/nginx-ha"
    # The fast health path (docs/keepalived.md): the watcher script, and the file it
    # writes (0 healthy, 1 down) that keepalived tracks (track_file); its folder must
    # exist before keepalived starts.
    watch_script: str = "/etc/keepalived/nginx_watch.sh"
    health_file: str = "/run/nginx-ha/nginx-health"
    # Rollouts (docs/operations.md, "Changing a serving stack"): uploads land in
    # upload_dir; each validated copy waits in release_dir/<digest>/ until the node's
    # activation swaps it in (the previous file is kept beside the target for rollback).
    upload_dir: str = "/var/tmp/nginx-ha"
    release_dir: str = "/var/lib/nginx-ha/releases"
    # Per VRRP instance, two files keepalived tracks: DRAIN/<instance> (weight 0: 1 puts
    # the instance in FAULT, which hands its VIP to the peer at once with a priority-0
    # advert) and DRAIN/hold-<instance> (1 lowers its priority below every peer's, so it
    # stays BACKUP until the peer hands the VIP back: the rollout's handback).
    drain_dir: str = "/run/nginx-ha/drain"
    # keepalived's live state per VRRP instance, written on every transition by
    # vrrp_state_script (the gates, `status` and the lab read it; nginx serves the
    # summary to the other load balancers).
    vrrp_state_dir: str = "/run/nginx-ha/vrrp"
    vrrp_state_script: str = "/etc/keepalived/vrrp_state.sh"
    # keepalived builds, one folder per build id; the unit's ExecStart names one, so
    # switching (or rolling back) the unit switches the binary. keepalived_links are
    # the active build's binary on PATH: root's (/usr/local/sbin) and every user's
    # (/usr/local/bin; Debian's PATH for users, also over SSH, has no sbin folder).
    keepalived_builds: str = "/opt/nginx-ha/keepalived"
    keepalived_link: str = "/usr/local/sbin/keepalived"
    keepalived_user_link: str = "/usr/local/bin/keepalived"
    keepalived_pid: str = "/run/keepalived.pid"
    keepalived_unit: str = "/etc/systemd/system/keepalived.service"
    watch_unit: str = "/etc/systemd/system/nginx-ha-watch.service"
    # Without systemd as PID 1 (the lab, containers): commands that (re)start a
    # daemon; empty: the defaults of activate.sh (see there).
    keepalived_start: str = ""
    watch_start: str = ""
    tomcat_restart: str = ""
    # TLS (nginx-ha:tls): the certificate chain, its key and the session ticket keys
    # nginx serves from (root-only folder but the chain), and the trust anchors the
    # gate verifies the chain with when the stack gives none (the system's store).
    tls_dir: str = "/etc/nginx/tls"
    system_trust: str = "/etc/ssl/certs/ca-certificates.crt"
    # LVS real server (nginx-ha:lvs; templates/scripts/lvs_realserver.sh): its sysctls,
    # its nftables rule set and the unit that applies both at boot.
    lvs_sysctl_file: str = "/etc/sysctl.d/90-nginx-ha-lvs.conf"
    lvs_nft_file: str = "/etc/nginx-ha/lvs.nft"
    lvs_unit: str = "/etc/systemd/system/nginx-ha-lvs.service"
    # What a rollout manages on this node besides its files: the host firewall's rule
    # sets, and Tomcat's connector port (the lab leaves both to the lab).
    manage_firewall: bool = True
    manage_tomcat_port: bool = True
