"""Each file's mode and owner on the node: one table by what the file is.

Every artefact of a node's plan takes its mode from here (render/parts.py); the lab and
the offline render write files with the plan's modes; stage.sh and activate.sh install
them with the plan's mode and owner.
"""

from __future__ import annotations

OWNER = "root"  # every file the program installs (its group: the same name)
CONFIG = "0644"  # configuration files and pages, readable by the daemons' users
SCRIPT = "0755"  # scripts keepalived, the watcher or the activation runs
UNIT = "0644"  # systemd units
SECRET = "0600"  # noqa: S105 - a mode: a secret's root-only file
STEP = "0755"  # the offline render's copy of a step the program runs on the node
# The offline render's user-data: it holds the node's private SSH host key.
USER_DATA_MODE = "0600"

# Where the offline render (and configHashes) puts what the program runs on a node
# rather than keeps there: not a path on the node.
STEPS_DIR = "/steps"
