"""The kernel command line is handed to the libvirt provider in the form it reads back
(terraform-provider-libvirt 0.8 ``splitKernelCmdLine``), else every `up` after the
first replaces the domains (seen in the first real `pulumi up`, docs/e2e.md)."""

from __future__ import annotations

from nginx_ha.components.vm import kernel_cmdlines


def provider_join(maps: list[dict[str, str]]) -> str:
    """What the provider writes into the domain XML (keys in order, "_" bare)."""
    words = []
    for m in maps:
        for k, v in m.items():
            words.append(v if k == "_" else f"{k}={v}")
    return " ".join(words)


def test_sandbox_cmdline_matches_what_the_provider_reads_back():
    # Read back from a domain the provider made, as stored in the stack's state.
    read_back = [{"console": "ttyS0", "net.ifnames": "1", "root": "/dev/vda"}, {"_": "rw"}]
    assert kernel_cmdlines("root=/dev/vda rw console=ttyS0 net.ifnames=1") == read_back


def test_repeated_keys_start_a_new_map_and_round_trip():
    line = "console=tty0 console=ttyS0 quiet root=/dev/vda1 splash"
    maps = kernel_cmdlines(line)
    assert maps == [
        {"console": "tty0"},
        {"console": "ttyS0", "root": "/dev/vda1"},
        {"_": "quiet splash"},
    ]
    assert kernel_cmdlines(provider_join(maps)) == maps


def test_values_keep_their_own_equals_signs():
    assert kernel_cmdlines("a=b=c") == [{"a": "b=c"}]
