"""The client CLI's node-address option: one address or several, comma-separated."""

from __future__ import annotations

import pytest

from pyxmtp.cli.client.options import NodeAddress, UsageError, parse_nodes


def test_several_node_addresses_are_one_comma_separated_target() -> None:
    assert parse_nodes("127.0.0.1:5556") == NodeAddress("127.0.0.1:5556", tls=False)
    assert parse_nodes("http://a:1, http://b:2,") == NodeAddress("a:1,b:2", tls=False)
    assert parse_nodes("https://a,https://[::1]:8443") == NodeAddress("a:443,[::1]:8443", tls=True)


@pytest.mark.parametrize("text", ["", " , ", "http://a:1,https://b:2", "a:1,b", "a:1,ftp://b:2"])
def test_unusable_node_lists_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_nodes(text)
