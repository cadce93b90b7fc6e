"""Clients reaching the node through a real SOCKS5 / HTTP CONNECT proxy (pproxy in its own process, see
.socks_proxy), hiding their address: the node sees the proxy's.

The proxy's connections to the node leave from 127.0.0.2 while every client here runs at 127.0.0.1, so the node's
per-call log (``pyxmtp.node.rpc``, ``peer=``) tells exactly which calls came through the proxy. Loopback aliases
like 127.0.0.2 are Linux's; elsewhere these tests are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import stat
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyxmtp.client import ApiCallError, Client, Dm
from pyxmtp.client.api import NodeApi, ProxyCallError
from pyxmtp.client.transport import TransportConfigError, make_channel
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from pyxmtp.proto.identity.api.v1 import identity_pb2, identity_pb2_grpc
from pyxmtp.proto.identity.associations import association_pb2
from tests.node.procs import NodeProcess, free_port

from .conftest import new_client, streamed_texts, streams_open
from .socks_proxy import PROXY_SOURCE, SocksProxy, can_bind
from .test_failover import seeded_inbox

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not can_bind(PROXY_SOURCE), reason=f"no loopback address {PROXY_SOURCE} here"),
]

PASSWORD = "pr0xy-s3cret"
#: A node name no resolver knows; the proxy's process maps it to the node (as only Tor resolves .onion names).
HIDDEN_NAME = "node.pyxmtp.test"
ETHEREUM = association_pb2.IDENTIFIER_KIND_ETHEREUM


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[SocksProxy]:
    p = SocksProxy(tmp_path / "proxy.log", user="alice", password=PASSWORD, mapped={HIDDEN_NAME: "127.0.0.1"})
    p.wait_serving()
    yield p
    p.stop()


class Peers:
    """The peer address of every call the node answered since the last :meth:`take`."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG, logger="pyxmtp.node.rpc")
        self.caplog = caplog

    def take(self) -> list[str]:
        records = [r for r in self.caplog.records if r.name == "pyxmtp.node.rpc"]
        self.caplog.clear()
        return [r.getMessage().split(" peer=")[1].split()[0] for r in records]


async def test_a_client_through_socks5h_is_seen_at_the_proxys_address(
    node: Node, proxy: SocksProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Alice goes through the proxy, Bob directly: every call of Alice's (registering, starting a DM, sending,
    reading the reply) reaches the node from the proxy's address, every call of Bob's from his own."""
    peers = Peers(caplog)
    alice = await new_client(node, tmp_path / "alice.db", proxy=proxy.url("socks5h"))
    alice_peers = peers.take()
    bob = await new_client(node, tmp_path / "bob.db")
    bob_peers = peers.take()
    try:
        dm = await alice.conversations.create_dm(bob.inbox_id)
        await dm.send_text("hello through the proxy")
        alice_peers += peers.take()

        [joined] = await bob.conversations.sync()
        await joined.sync()
        assert joined.texts() == ["hello through the proxy"]
        await joined.send_text("hello back")
        bob_peers += peers.take()

        await dm.sync()
        assert dm.texts() == ["hello through the proxy", "hello back"]
        alice_peers += peers.take()
    finally:
        await alice.close()
        await bob.close()
    assert len(alice_peers) >= 8 and set(alice_peers) == {PROXY_SOURCE}, alice_peers
    assert len(bob_peers) >= 4 and set(bob_peers) == {"127.0.0.1"}, bob_peers


async def test_a_stream_through_the_proxy(node: Node, proxy: SocksProxy, tmp_path: Path) -> None:
    """Bob streams through the proxy (long-lived calls over the relay); Alice's messages reach him live."""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db", proxy=proxy.url("socks5h"))
    try:
        async with streamed_texts(bob) as got:
            await streams_open(node, 2)
            dm = await alice.conversations.create_dm(bob.inbox_id)
            for i in range(3):
                await dm.send_text(f"live {i}")
            assert [await asyncio.wait_for(got.get(), 30) for _ in range(3)] == ["live 0", "live 1", "live 2"]
    finally:
        await alice.close()
        await bob.close()


async def test_socks5h_leaves_the_name_to_the_proxy(
    node: Node, proxy: SocksProxy, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With socks5h:// the node's name is resolved by the proxy only (no DNS query leaves from here): a name only
    the proxy knows works, and this process never looked it up. With socks5:// we resolve it ourselves, which
    fails here, as a typed error saying so."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        looked_up.append(str(host))
        if host == HIDDEN_NAME:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    peers = Peers(caplog)
    address = f"{HIDDEN_NAME}:{node.port}"
    async with NodeApi(address, proxy=proxy.url("socks5h"), timeout=10) as api:
        assert await api.get_inbox_ids([("0x" + "11" * 20, ETHEREUM)]) == {"0x" + "11" * 20: None}
    assert HIDDEN_NAME not in looked_up
    assert peers.take() == [PROXY_SOURCE]

    async with NodeApi(address, proxy=proxy.url("socks5"), timeout=10) as api:
        with pytest.raises(ProxyCallError) as caught:
            await api.get_inbox_ids([("0x" + "11" * 20, ETHEREUM)])
    assert HIDDEN_NAME in looked_up
    assert f"cannot resolve {HIDDEN_NAME} here" in caught.value.reason
    assert peers.take() == []


async def test_an_http_connect_proxy(
    node: Node, proxy: SocksProxy, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """http:// is gRPC's own CONNECT support: calls reach the node from the proxy's address; a dead proxy or
    refused credentials are typed errors without the password."""
    for name in ("no_grpc_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    peers = Peers(caplog)
    async with NodeApi(f"localhost:{node.port}", proxy=proxy.url("http"), timeout=10) as api:
        for _ in range(10):
            await api.get_inbox_ids([("0x" + "22" * 20, ETHEREUM)])
    assert peers.take() == [PROXY_SOURCE] * 10

    dead = f"http://alice:{PASSWORD}@127.0.0.1:{free_port()}"
    for url, why in ((dead, "Connection refused"), (proxy.url("http", password="wrong"), "407")):
        async with NodeApi(node.address, proxy=url, timeout=10) as api:
            with pytest.raises(ProxyCallError) as caught:
                await api.get_inbox_ids([("0x" + "22" * 20, ETHEREUM)])
        assert why in caught.value.reason and caught.value.proxy.startswith("http://***@127.0.0.1:")
        assert PASSWORD not in _shown(caught.value)
    assert peers.take() == []


async def test_an_http_connect_proxy_is_refused_where_grpc_would_go_around_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("no_grpc_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "localhost")
    with pytest.raises(TransportConfigError, match="no_proxy is set"):
        make_channel("localhost:5556", proxy="http://127.0.0.1:8080")
    monkeypatch.delenv("no_proxy")
    with pytest.raises(TransportConfigError, match="one node address"):
        make_channel(["127.0.0.1:1", "127.0.0.1:2"], proxy="http://127.0.0.1:8080")


def _shown(exc: BaseException) -> str:
    """Everything a caller could print of ``exc``: message, repr, attributes and the whole chained traceback."""
    return "\n".join([str(exc), repr(exc), repr(vars(exc)), *traceback.format_exception(exc)])


async def test_an_unreachable_proxy_is_a_typed_error_without_its_password(
    node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dead = free_port()  # nothing listens there
    wallet = LocalWalletSigner.generate()
    client = await Client.create(
        node.address,
        wallet,
        db_path=tmp_path / "c.db",
        proxy=f"socks5h://alice:{PASSWORD}@127.0.0.1:{dead}",
        register=False,
    )
    try:
        with pytest.raises(ProxyCallError) as caught:
            await client.register(wallet)
    finally:
        await client.close()
    error = caught.value
    assert isinstance(error, ApiCallError)  # callers that handle "the node is away" handle this too
    assert error.proxy == f"socks5h://***@127.0.0.1:{dead}"
    assert error.reason.startswith("the proxy is unreachable")
    assert f"127.0.0.1:{dead}" in str(error) and node.address in str(error)
    assert PASSWORD not in _shown(error)
    assert PASSWORD not in caplog.text


async def test_wrong_proxy_credentials_are_a_typed_error_without_the_password(
    node: Node, proxy: SocksProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pyxmtp")
    wrong = "not-the-" + PASSWORD
    async with NodeApi(node.address, proxy=proxy.url("socks5h", password=wrong), timeout=10) as api:
        with pytest.raises(ProxyCallError) as caught:
            await api.get_inbox_ids([("0x" + "33" * 20, ETHEREUM)])
    assert caught.value.reason.startswith("the proxy refused")
    assert wrong not in _shown(caught.value) and PASSWORD not in _shown(caught.value)
    assert wrong not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        f"socks4://alice:{PASSWORD}@127.0.0.1:9050",
        f"socks5h://alice:{PASSWORD}@127.0.0.1",  # no port
        f"socks5h://alice:{PASSWORD}@127.0.0.1:9050/path",
        f"socks5h://alice:{PASSWORD}@127.0.0.1:99999",
        "socks5h://alice@127.0.0.1:9050",  # a user without password
        "socks5h://alice:p\u00e4ss@127.0.0.1:9050",  # SOCKS5 credentials are ASCII here
        f"alice:{PASSWORD}@127.0.0.1:9050",  # no scheme
        "",
    ],
)
async def test_unusable_proxy_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(TransportConfigError) as caught:
        make_channel("127.0.0.1:5556", proxy=url)
    assert PASSWORD not in _shown(caught.value) and "p\u00e4ss" not in str(caught.value)


async def test_a_proxy_url_given_as_node_address_is_not_echoed() -> None:
    with pytest.raises(TransportConfigError) as caught:
        make_channel(f"socks5h://alice:{PASSWORD}@127.0.0.1:9050")
    assert PASSWORD not in _shown(caught.value)


async def test_the_relay_is_owner_only_and_closes_with_the_channel(node: Node, proxy: SocksProxy) -> None:
    """The channel's relay listens on a Unix socket in a directory only this user can enter; closing the channel
    removes it."""
    transport = make_channel(node.address, proxy=proxy.url())
    try:
        stub = identity_pb2_grpc.IdentityApiStub(transport.channel)
        await stub.GetInboxIds(identity_pb2.GetInboxIdsRequest(), timeout=10)
        target = transport.relay_target
        assert target is not None and target.startswith("unix:")
        path = Path(target.removeprefix("unix:"))
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        await transport.close()
    assert not path.exists() and not path.parent.exists()


def test_a_proxied_channel_needs_the_running_loop() -> None:
    with pytest.raises(TransportConfigError, match="running asyncio event loop"):
        make_channel("127.0.0.1:5556", proxy="socks5h://127.0.0.1:9050")


async def test_several_node_addresses_through_the_proxy_skip_a_dead_one(
    node: Node, proxy: SocksProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """The relay tries the addresses in turn: with the first one dead, every call still reaches the live node
    (through the proxy)."""
    peers = Peers(caplog)
    addresses = [f"127.0.0.1:{free_port()}", node.address, f"127.0.0.1:{free_port()}"]
    async with NodeApi(addresses, proxy=proxy.url(), timeout=10) as api:
        for _ in range(5):
            await api.get_inbox_ids([("0x" + "55" * 20, ETHEREUM)])
    assert peers.take() == [PROXY_SOURCE] * 5


async def test_no_node_address_reachable_through_the_proxy(proxy: SocksProxy) -> None:
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    async with NodeApi(dead, proxy=proxy.url(), timeout=10) as api:
        with pytest.raises(ProxyCallError) as caught:
            await api.get_inbox_ids([("0x" + "66" * 20, ETHEREUM)])
    # a proxy that reports the failure (Tor, Dante) is "refused"; pproxy says it connected, then closes
    assert caught.value.reason.startswith(("the proxy refused", "the connection through the proxy closed"))
    assert caught.value.address in dead
    assert caught.value.proxy == f"socks5h://***@127.0.0.1:{proxy.port}"


@pytest.mark.slow
async def test_through_the_proxy_a_dead_node_is_replaced_by_the_other(
    proxy: SocksProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two nodes behind the proxy: the one serving the channel is killed (-9); the next calls reconnect through
    the proxy to the other one and succeed."""
    nodes = [NodeProcess(tmp_path / "a"), NodeProcess(tmp_path / "b")]
    try:
        for n in nodes:
            n.wait_listening()
        wallet, inbox = await seeded_inbox(nodes[1].address)  # only B knows it: the answer tells who served
        async with NodeApi([n.address for n in nodes], proxy=proxy.url(), timeout=10) as api:
            served_by_b = (await api.get_inbox_ids([(wallet, ETHEREUM)]))[wallet] == inbox
            nodes[1 if served_by_b else 0].kill()
            for _ in range(5):
                answer = (await api.get_inbox_ids([(wallet, ETHEREUM)]))[wallet]
                assert answer == (None if served_by_b else inbox)
    finally:
        for n in nodes:
            n.kill()


async def test_the_cli_reaches_the_node_through_the_proxy(
    node: Node, proxy: SocksProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`pyxmtp client --proxy socks5h://…` (real processes): every call of that home's comes from the proxy's
    address, and the password is on no output; `$PYXMTP_PROXY` does the same."""
    from .test_cli import cli, fields  # the CLI test helpers: real `pyxmtp client` processes

    peers = Peers(caplog)
    url = proxy.url("socks5h")
    alice = fields((await cli(node, tmp_path / "alice", "init", "--proxy", url))[1])
    bob = await new_client(node, tmp_path / "bob.db")
    peers.take()
    code, out, err = await cli(
        node, tmp_path / "alice", "send", bob.inbox_id, "via the proxy", "--proxy", url
    )
    assert code == 0 and PASSWORD not in out + err
    _, out, err = await cli(node, tmp_path / "alice", "list", env={"PYXMTP_PROXY": url})
    assert PASSWORD not in out + err
    alice_peers = peers.take()
    assert len(alice_peers) >= 4 and set(alice_peers) == {PROXY_SOURCE}, alice_peers
    [dm] = await bob.conversations.sync()
    await dm.sync()
    assert isinstance(dm, Dm)
    assert dm.texts() == ["via the proxy"] and dm.peer_inbox_id == alice["inbox_id"]
    await bob.close()
