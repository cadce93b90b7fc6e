"""Consent as libxmtp 1.10 keeps it, checked against libxmtp itself (xmtp-bindings 0.1.8): our client (bob) and a
libxmtp client (carol) go through the same history, side by side, in the same roles; after each step both record
the same consent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import ConsentState, Conversation
from pyxmtp.node import Node
from tests.interop.libxmtp import User, list_conversations_options, v

from .conftest import new_client
from .test_libxmtp_interop import group_options, libxmtp_api, open_dm

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

STATES = {
    v.FfiConsentState.UNKNOWN: ConsentState.UNKNOWN,
    v.FfiConsentState.ALLOWED: ConsentState.ALLOWED,
    v.FfiConsentState.DENIED: ConsentState.DENIED,
}


def theirs(conversation: Any) -> ConsentState:
    return STATES[conversation.consent_state()]


async def carol_has(carol: User, group_id: bytes) -> Any:
    await carol.client.conversations().sync()
    conversation = carol.client.conversation(group_id)
    await conversation.sync()
    return conversation


async def bob_has(bob: Any, group_id: bytes) -> Conversation:
    await bob.conversations.sync()
    conversation = bob.conversations.get_conversation_by_id(group_id)
    assert conversation is not None
    await conversation.sync()
    return conversation


async def test_consent_defaults_match_libxmtps_for_the_same_history(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    carol = await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")

    # a group someone else made: no decision yet
    g1 = await alice.client.conversations().create_group([bob.inbox_id, carol.inbox_id], group_options("g1"))
    await g1.send_text("welcome both")
    gid = bytes(g1.id())
    ours, carols = await bob_has(bob, gid), await carol_has(carol, gid)
    assert ours.consent_state() == theirs(carols) == ConsentState.UNKNOWN

    # a DM from a stranger: unknown too
    dm_bob, dm_carol = await open_dm(alice, bob.inbox_id), await open_dm(alice, carol.inbox_id)
    await dm_bob.send_text("hi bob")
    await dm_carol.send_text("hi carol")
    our_dm, carols_dm = await bob_has(bob, bytes(dm_bob.id())), await carol_has(carol, bytes(dm_carol.id()))
    assert our_dm.consent_state() == theirs(carols_dm) == ConsentState.UNKNOWN

    # sending into a conversation allows it
    await ours.send_text("bob here")
    await carols.send_text("carol here")
    assert ours.consent_state() == theirs(carols) == ConsentState.ALLOWED
    assert our_dm.consent_state() == theirs(carols_dm) == ConsentState.UNKNOWN  # only that one

    # a group we make is allowed from the start
    ours_made = await bob.conversations.create_group([alice.inbox_id], name="bob's")
    carols_made = await carol.client.conversations().create_group([alice.inbox_id], group_options("carol's"))
    assert ours_made.consent_state() == theirs(carols_made) == ConsentState.ALLOWED

    # a decision is kept, and lists leave denied conversations out unless asked
    our_dm.update_consent_state(ConsentState.DENIED)
    carols_dm.update_consent_state(v.FfiConsentState.DENIED)
    assert our_dm.consent_state() == theirs(carols_dm) == ConsentState.DENIED
    listed = {c.group_id for c in bob.conversations.list()}
    assert listed == {gid, ours_made.group_id}
    carol_listed = {
        bytes(item.conversation().id())
        for item in carol.client.conversations().list(list_conversations_options())
    }
    assert carol_listed == {gid, bytes(carols_made.id())}
    assert {c.group_id for c in bob.conversations.list(consent_states=[ConsentState.DENIED])} == {
        our_dm.group_id
    }

    # a second DM with the same peer (dave, a pyxmtp client, makes duplicates) takes the first one's decision
    dave = await new_client(node, tmp_path / "dave.db")
    first = {who: await dave.conversations.new_dm(who) for who in (bob.inbox_id, carol.inbox_id)}
    for dm in first.values():
        await dm.send_text("first DM")
    ours_first, carols_first = (
        await bob_has(bob, first[bob.inbox_id].group_id),
        await carol_has(carol, first[carol.inbox_id].group_id),
    )
    ours_first.update_consent_state(ConsentState.DENIED)
    carols_first.update_consent_state(v.FfiConsentState.DENIED)
    second = {who: await dave.conversations.new_dm(who) for who in (bob.inbox_id, carol.inbox_id)}
    for dm in second.values():
        await dm.send_text("second DM")
    ours_second, carols_second = (
        await bob_has(bob, second[bob.inbox_id].group_id),
        await carol_has(carol, second[carol.inbox_id].group_id),
    )
    assert ours_second.consent_state() == theirs(carols_second) == ConsentState.DENIED
    await dave.close()

    # removed and added back: the decision is kept
    await g1.remove_members([bob.inbox_id, carol.inbox_id])
    await g1.add_members([bob.inbox_id, carol.inbox_id])
    await g1.send_text("back again")
    ours, carols = await bob_has(bob, gid), await carol_has(carol, gid)
    assert ours.is_active and carols.is_active()
    assert ours.consent_state() == theirs(carols) == ConsentState.ALLOWED
    await bob.close()
