"""Device sync against libxmtp 1.10 (xmtp-bindings 0.1.8, its device-sync worker on) on our node: a pyxmtp and a
libxmtp installation of the same inbox share consent decisions through the inbox's sync groups, both ways."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import Client, ConsentState
from pyxmtp.client.consent import Consent, ConsentEntityType
from pyxmtp.client.device_sync import groups
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node, NodeConfig
from tests.interop.libxmtp import User, texts, until, v

from .conftest import new_client
from .test_libxmtp_interop import group_options, libxmtp_api

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

#: libxmtp's worker handles a synced message at once when notified, else at its 20 s tick
SLOW = 60.0


async def test_consent_set_on_either_side_reaches_the_other(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    key = os.urandom(32)
    ours = await Client.create(node.address, LocalWalletSigner(key), db_path=tmp_path / "ours.db")
    try:
        theirs = await User.register(api, key, device_sync=True)  # its worker makes a sync group and adds us
        assert theirs.inbox_id == ours.inbox_id

        async def in_their_sync_group() -> bool:
            await ours.device_sync.sync_all_device_sync_groups()
            return groups.primary(ours.conversations.hub) is not None

        await until(in_their_sync_group, "libxmtp's sync group to welcome us", SLOW)
        assert ours.conversations.list() == []  # kept out of lists

        # libxmtp -> pyxmtp
        stranger = "11" * 32
        await theirs.client.set_consent_states(
            [
                v.FfiConsent(
                    entity_type=v.FfiConsentEntityType.INBOX_ID,
                    state=v.FfiConsentState.DENIED,
                    entity=stranger,
                )
            ]
        )

        async def denied_here() -> bool:
            await ours.device_sync.sync_all_device_sync_groups()
            return (
                ours.preferences.get_consent_state(ConsentEntityType.INBOX, stranger) is ConsentState.DENIED
            )

        await until(denied_here, "libxmtp's consent change at pyxmtp", SLOW)

        # pyxmtp -> libxmtp
        friend = "22" * 32
        ours.preferences.set_consent_states([Consent(ConsentEntityType.INBOX, friend, ConsentState.ALLOWED)])
        await ours.device_sync.publish_preferences()

        async def allowed_there() -> bool:
            await theirs.client.sync_all_device_sync_groups()
            state: Any = await theirs.client.get_consent_state(v.FfiConsentEntityType.INBOX_ID, friend)
            return bool(state == v.FfiConsentState.ALLOWED)

        await until(allowed_there, "pyxmtp's consent change at libxmtp", SLOW)

        # and a change of a decision both hold goes through too (pyxmtp dates it now: newer than libxmtp's)
        ours.preferences.set_consent_states(
            [Consent(ConsentEntityType.INBOX, stranger, ConsentState.ALLOWED)]
        )
        await ours.device_sync.publish_preferences()

        async def changed_there() -> bool:
            await theirs.client.sync_all_device_sync_groups()
            state: Any = await theirs.client.get_consent_state(v.FfiConsentEntityType.INBOX_ID, stranger)
            return bool(state == v.FfiConsentState.ALLOWED)

        await until(changed_there, "pyxmtp's changed decision at libxmtp", SLOW)
    finally:
        await ours.close()


@pytest.fixture
async def hnode(tmp_path: Path) -> AsyncIterator[Node]:
    node = await Node.start(
        NodeConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "hnode", rate_limits=None, history_port=0)
    )
    yield node
    await node.stop(grace=0)


def history_url(node: Node) -> str:
    assert node.history is not None
    return f"http://127.0.0.1:{node.history.port}"


def our_texts(client: Client, group_id: bytes) -> list[str]:
    live = client.conversations.get_conversation_by_id(group_id)
    if live is not None:
        return [m.content for m in live.messages() if isinstance(m.content, str)]
    restored = client.conversations.get_restored_by_id(group_id)
    return [] if restored is None else restored.texts()


async def test_a_new_pyxmtp_installation_gets_libxmtps_history(hnode: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(hnode)
    key = os.urandom(32)
    theirs = await User.register(api, key, device_sync=True)
    bob = await new_client(hnode, tmp_path / "bob.db")
    ours: Client | None = None
    try:
        group = await theirs.client.conversations().create_group([bob.inbox_id], group_options("libxmtp's"))
        await group.send_text("from before pyxmtp existed")
        gid = bytes(group.id())
        ours = await Client.create(hnode.address, LocalWalletSigner(key), db_path=tmp_path / "ours.db")
        pin = await ours.device_sync.send_sync_request(history_url(hnode))
        new = ours

        async def history_here() -> bool:
            await theirs.client.sync_all_device_sync_groups()  # libxmtp joins our sync group, answers
            await new.device_sync.sync_all_device_sync_groups()
            return "from before pyxmtp existed" in our_texts(new, gid)

        await until(history_here, f"libxmtp's reply to sync request {pin} imported", SLOW)
        summary = new.device_sync.history.last_import
        assert summary is not None and summary.messages_imported >= 1
    finally:
        for client in (bob, ours):
            if client is not None:
                await client.close()


async def test_a_new_libxmtp_installation_gets_pyxmtps_history(hnode: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(hnode)
    key = os.urandom(32)
    ours = await Client.create(hnode.address, LocalWalletSigner(key), db_path=tmp_path / "ours.db")
    bob = await new_client(hnode, tmp_path / "bob.db")
    try:
        group = await ours.conversations.create_group([bob.inbox_id], name="pyxmtp's")
        await group.send_text("from before libxmtp existed")
        theirs = await User.register(api, key, device_sync=True)  # makes its sync group and adds us

        async def in_their_sync_group() -> bool:
            await ours.device_sync.sync_all_device_sync_groups()
            return groups.primary(ours.conversations.hub) is not None

        await until(in_their_sync_group, "libxmtp's sync group to welcome us", SLOW)
        await theirs.client.send_sync_request(
            v.FfiArchiveOptions(
                start_ns=None,
                end_ns=None,
                elements=[v.FfiBackupElementSelection.MESSAGES, v.FfiBackupElementSelection.CONSENT],
                exclude_disappearing_messages=False,
            ),
            history_url(hnode),
        )

        async def history_there() -> bool:
            await ours.device_sync.sync_all_device_sync_groups()  # sees the request, uploads, replies
            await theirs.client.sync_all_device_sync_groups()  # its worker imports the reply
            try:
                conversation = theirs.client.conversation(bytes.fromhex(group.id))
            except Exception:
                return False
            return "from before libxmtp existed" in await texts(conversation)

        await until(history_there, "pyxmtp's reply imported by libxmtp", SLOW)
    finally:
        await ours.close()
        await bob.close()
