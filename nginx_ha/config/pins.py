"""Source pins and defaults written once: the project's name, the base image, the
keepalived release built by default and how it is verified, limits the settings enforce.
"""

from __future__ import annotations

PROJECT = "nginx-ha"
NS = PROJECT  # config namespace of the project's own keys

DEFAULT_IMAGE_URL = (
    "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"
)

# The default keepalived is pinned by its git tag and commit id, not by a tarball hash:
# keepalived.org publishes only an MD5 for keepalived-2.4.3.tar.gz
# (5a5c30d3275c380c8cf1a2df67ebbc3c, www/docs/download.md), and no distribution recipe
# we could read pins 2.4.3 (Alpine's aports ship 2.3.4, OpenWrt 2.3.3, Buildroot 2.2.8).
# The tag v2.4.3 is commit 53701f5648fb457fce5c3417fd309f286fbd1335 (upstream's
# release commit "keepalived-2.4.3"); the install script clones the tag and refuses
# any other commit. See docs/keepalived.md "Source pin".
DEFAULT_KEEPALIVED_VERSION = "2.4.3"
DEFAULT_KEEPALIVED_GIT = "https://github.com/acassen/keepalived.git"
DEFAULT_KEEPALIVED_COMMIT = "53701f5648fb457fce5c3417fd309f286fbd1335"
# The release tarball, for stacks that set keepalived.url with a sha256 of their own.
DEFAULT_KEEPALIVED_URL = "https://www.keepalived.org/software/keepalived-2.4.3.tar.gz"
DEFAULT_KEEPALIVED_SHA256 = ""  # none published by a source we trust; see above

# The NIC name cloud-init gives a VM (matched by MAC): vrrp.interface's default and
# the interface keepalived.conf names.
DEFAULT_INTERFACE = "enp1s0"

MIN_MEMORY_MIB = 512
MIN_DISK_GIB = 3
# Upper bounds a libvirt host accepts and the program was meant for: 1 TiB of memory,
# QEMU's q35 limit of 255 vCPUs without an IOMMU (kept to 64 here), 16 TiB of disk.
MAX_MEMORY_MIB = 1024 * 1024
MAX_VCPUS = 64
MAX_DISK_GIB = 16 * 1024

# TLS session ticket keys: nginx's ssl_session_ticket_key files on every load balancer,
# the newest key first (it encrypts new tickets; the next only decrypts: a rotation
# keeps the previous key for the tickets it issued). nginx-ha:tlsTicketKeys gives at
# most this many.
TLS_TICKET_KEY_SLOTS = 2
TLS_TICKET_KEY_BYTES = 80
# A served certificate this close to its end is a warning (preview, `status`).
TLS_EXPIRY_WARNING_DAYS = 21
