"""Checks many cloud-init files in one process with cloud-init's own code (run by the
system Python, which has Debian's cloud-init): user-data against cloud-init's schema
(strict), network-config through its network-state parser and ENI renderer. Prints a
JSON list of the files that failed, with why. Usage: python3 cloud_init_check.py FILE...
"""

import json
import sys

import yaml
from cloudinit.config.schema import get_schema, validate_cloudconfig_schema
from cloudinit.net import eni
from cloudinit.net.network_state import parse_net_config_data


def main(paths):
    schema = get_schema()
    bad = []
    for path in paths:
        with open(path) as f:
            text = f.read()
        try:
            doc = yaml.safe_load(text)
            if path.endswith("user-data"):
                if not text.startswith("#cloud-config\n"):
                    raise ValueError("no #cloud-config first line")
                validate_cloudconfig_schema(doc, schema, strict=True)
            elif path.endswith("network-config"):
                eni.Renderer()._render_interfaces(parse_net_config_data(doc))
            elif not isinstance(doc, dict):
                raise ValueError("not a mapping")
        except Exception as e:  # noqa: BLE001 - every failure is reported, by file
            bad.append(f"{path}: {type(e).__name__}: {e}")
    print(json.dumps(bad))


if __name__ == "__main__":
    main(sys.argv[1:])
