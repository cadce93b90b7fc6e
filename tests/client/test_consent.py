"""Consent between pyxmtp clients: what the client records by itself (creating, joining, sending, optimistic
sends, publishing), decisions kept across restarts, per-inbox consent through ``client.preferences``."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyxmtp.client import Client, Consent, ConsentEntityType, ConsentState
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

from .conftest import new_client

pytestmark = pytest.mark.timeout(120)


async def test_what_the_client_records_by_itself(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    assert dm.consent_state() is ConsentState.ALLOWED  # we made it
    await dm.send_text("hello")
    [bobs] = await bob.conversations.sync()
    assert bobs.consent_state() is ConsentState.UNKNOWN  # someone else's: undecided
    await bobs.send_text("queued", optimistic=True)
    assert bobs.consent_state() is ConsentState.UNKNOWN  # only stored
    await bobs.publish_messages()
    assert bobs.consent_state() is ConsentState.ALLOWED  # published: as good as a send

    group = await alice.conversations.create_group([bob.inbox_id])
    [bobs_group] = await bob.conversations.sync()
    assert bobs_group.consent_state() is ConsentState.UNKNOWN
    await bobs_group.send_text("in")
    assert bobs_group.consent_state() is ConsentState.ALLOWED
    bobs_group.update_consent_state(ConsentState.DENIED)
    await bob.close()

    # kept in the database
    bob = await Client.create(node.address, LocalWalletSigner.generate(), db_path=tmp_path / "bob.db")
    assert bob.preferences.get_consent_state(ConsentEntityType.CONVERSATION, group.id) is ConsentState.DENIED
    assert (
        bob.preferences.get_consent_state(ConsentEntityType.CONVERSATION, group.id.upper())
        is ConsentState.DENIED
    )
    assert [c.id for c in bob.conversations.list()] == [dm.id]
    for c in (alice, bob):
        await c.close()


async def test_inbox_consent_shows_on_members(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    carol = await new_client(node, tmp_path / "carol.db")
    group = await alice.conversations.create_group([bob.inbox_id, carol.inbox_id])
    changed = alice.preferences.set_consent_states(
        [
            Consent(ConsentEntityType.INBOX, bob.inbox_id, ConsentState.ALLOWED),
            Consent(ConsentEntityType.INBOX, carol.inbox_id, ConsentState.DENIED),
        ]
    )
    assert len(changed) == 2
    assert (
        alice.preferences.set_consent_states(
            [Consent(ConsentEntityType.INBOX, bob.inbox_id, ConsentState.ALLOWED)]
        )
        == []
    )
    states = {m.inbox_id: m.consent_state for m in await group.members()}
    assert states == {
        alice.inbox_id: ConsentState.UNKNOWN,
        bob.inbox_id: ConsentState.ALLOWED,
        carol.inbox_id: ConsentState.DENIED,
    }
    # an inbox's decision is not a conversation's
    assert group.consent_state() is ConsentState.ALLOWED
    assert alice.preferences.get_consent_state(ConsentEntityType.INBOX, carol.inbox_id) is ConsentState.DENIED
    for c in (alice, bob, carol):
        await c.close()
