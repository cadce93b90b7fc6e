"""Our client and real libxmtp clients (xmtp-bindings 0.1.8 = libxmtp 1.10.0) in the same conversations,
through a pyxmtp node: libxmtp invites our client to a DM, both sides send and read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import Client
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node, NodeConfig
from tests.interop.libxmtp import User, texts, until, v

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    node = await Node.start(
        NodeConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node", rate_limits=None)
    )
    yield node
    await node.stop(grace=0)


async def libxmtp_api(node: Node) -> Any:
    return await v.connect_to_backend(
        f"http://{node.address}", None, False, None, "pyxmtp-client-interop", None, None
    )


async def test_libxmtp_opens_a_dm_with_our_client_and_both_talk(node: Node, tmp_path: Path) -> None:
    v.FfiIdentifier.__hash__ = lambda s: hash((s.identifier, s.identifier_kind))  # bindings 0.1.8 defect
    api = await libxmtp_api(node)
    alice = await User.register(api)

    wallet = LocalWalletSigner.generate()
    bob = await Client.create(node.address, wallet, db_path=tmp_path / "bob.db")
    await bob.register(wallet)
    bob_identifier = v.FfiIdentifier(
        identifier=wallet.identifier.address, identifier_kind=v.FfiIdentifierKind.ETHEREUM
    )
    assert (await alice.client.can_message([bob_identifier]))[bob_identifier]
    assert await v.get_inbox_id_for_identifier(api, bob_identifier) == bob.inbox_id

    dm = await alice.client.conversations().find_or_create_dm(
        bob.inbox_id, v.FfiCreateDmOptions(message_disappearing_settings=None)
    )
    await dm.send_text("hi bob, from libxmtp")

    joined = await bob.sync_welcomes()
    assert len(joined) == 1
    bob_dm = joined[0]
    assert bob_dm.group_id == bytes(dm.id())
    assert bob_dm.dm_peer == alice.inbox_id
    await bob_dm.sync()
    assert bob_dm.texts() == ["hi bob, from libxmtp"]
    assert bob.dm_with(alice.inbox_id) is not None

    await bob_dm.send_text("hi alice, from pyxmtp")

    async def alice_got_it() -> bool:
        await dm.sync()
        return "hi alice, from pyxmtp" in await texts(dm)

    await until(alice_got_it, "libxmtp to read our reply")
    assert await texts(dm) == ["hi bob, from libxmtp", "hi alice, from pyxmtp"]
    messages = bob_dm.messages()
    assert [m.sender_inbox_id for m in messages] == [alice.inbox_id, bob.inbox_id]
    assert all(m.published for m in messages)
    await bob.close()
