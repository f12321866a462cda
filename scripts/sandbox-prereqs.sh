#!/usr/bin/env bash
# Machine prerequisites of the sandbox libvirt (python -m sandbox, docs/sandbox.md):
# Debian packages, and the libvirt-qemu system user that libvirt's QEMU driver resolves
# at start even when qemu.conf says otherwise (Debian creates it in
# libvirt-daemon-system, which the sandbox does not install: its maintainer scripts
# start a libvirtd with a default network in the root namespace where init scripts run).
# Idempotent; run as root.
set -euo pipefail

packages=(
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-utils dnsmasq-base iptables
  mmdebstrap e2fsprogs genisoimage openssh-client iproute2
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! getent passwd libvirt-qemu >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/libvirt \
    --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu
fi
