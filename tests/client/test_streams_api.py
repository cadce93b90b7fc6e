"""Streams as objects: async iterators with ``close()`` that also work as ``async with``; every stream of
node-sdk 6.0 (all messages, all group / DM messages, one conversation's, new conversations, groups, DMs), with
their conversation-type and consent filters."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyxmtp.client import (
    ApiCallError,
    ConsentState,
    ConsumerBusy,
    Conversation,
    DecodedMessage,
    EnrichedReply,
    Group,
    Stream,
)
from pyxmtp.conversations.content import Reaction, Reply, encode_content
from pyxmtp.node import Node, NodeConfig

from .conftest import eventually, new_client

pytestmark = pytest.mark.timeout(120)
WAIT = 30


async def next_text(stream: Stream[DecodedMessage]) -> str:
    """The next text the stream hands out (other content, such as transcript entries, passed)."""
    while True:
        message = await asyncio.wait_for(anext(stream), WAIT)
        if isinstance(message.content, str):
            return str(message.content)


async def test_all_messages_filtered_by_type_and_consent(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    group = await alice.conversations.create_group([bob.inbox_id], name="g")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await group.send_text("waiting in the group")  # not yet processed by bob: streamed
    async with (
        bob.conversations.stream_all_messages() as every,
        bob.conversations.stream_all_group_messages() as groups,
        bob.conversations.stream_all_dm_messages() as dms,
    ):
        for stream in (every, groups, dms):
            await stream.wait_ready()
        assert await next_text(every) == "waiting in the group"
        assert await next_text(groups) == "waiting in the group"
        await dm.send_text("in the dm")
        assert await next_text(every) == "in the dm"
        assert await next_text(dms) == "in the dm"
        bobs_dm = bob.conversations.get_dm_by_inbox_id(alice.inbox_id)
        assert bobs_dm is not None
        bobs_dm.update_consent_state(ConsentState.DENIED)  # applies at once
        await dm.send_text("denied")
        await group.send_text("still allowed")
        assert await next_text(every) == "still allowed"
        assert await next_text(groups) == "still allowed"
        bobs_dm.update_consent_state(ConsentState.ALLOWED)
        await dm.send_text("allowed again")
        assert await next_text(every) == "allowed again"
        assert await next_text(dms) == "allowed again"  # "denied" was passed over
    assert every.is_closed
    async with bob.conversations.stream_all_messages(consent_states=[ConsentState.DENIED]) as denied_only:
        await denied_only.wait_ready()
        bobs_dm.update_consent_state(ConsentState.DENIED)
        await group.send_text("not for this one")
        await dm.send_text("for this one")
        assert await next_text(denied_only) == "for this one"
    for c in (alice, bob):
        await c.close()


async def test_close_ends_a_reader_waiting_in_another_task(node: Node, tmp_path: Path) -> None:
    bob = await new_client(node, tmp_path / "bob.db")
    stream = bob.conversations.stream_all_messages()
    got: list[DecodedMessage] = []

    async def read() -> None:
        async for message in stream:
            got.append(message)

    reader = asyncio.create_task(read())
    await stream.wait_ready()
    await stream.close()
    await asyncio.wait_for(reader, WAIT)  # the loop ended, no error
    assert got == [] and stream.is_closed
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    await stream.close()  # closing twice is fine
    await bob.close()


async def test_one_conversations_messages(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    one = await alice.conversations.create_group([bob.inbox_id], name="one")
    other = await alice.conversations.create_group([bob.inbox_id], name="other")
    joined = {c.id: c for c in await bob.conversations.sync()}
    async with joined[one.id].stream() as stream:
        await stream.wait_ready()
        await other.send_text("elsewhere")
        await one.send_text("here")
        assert await next_text(stream) == "here"
        await joined[one.id].send_text("our own too")
        assert await next_text(stream) == "our own too"
    for c in (alice, bob):
        await c.close()


async def test_new_conversations_joined_and_created(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    carol = await new_client(node, tmp_path / "carol.db")
    async with (
        bob.conversations.stream() as everything,
        bob.conversations.stream_groups() as groups,
        bob.conversations.stream_dms() as dms,
    ):
        for stream in (everything, groups, dms):
            await stream.wait_ready()
        dm = await alice.conversations.create_dm(bob.inbox_id)
        joined = await asyncio.wait_for(anext(everything), WAIT)
        assert joined.id == dm.id and (await asyncio.wait_for(anext(dms), WAIT)).id == dm.id
        made = await bob.conversations.create_group([carol.inbox_id], name="bob's own")
        created = await asyncio.wait_for(anext(everything), WAIT)  # created here: streamed too
        assert created == made and isinstance(created, Group)
        assert await asyncio.wait_for(anext(groups), WAIT) == made
    for c in (alice, bob, carol):
        await c.close()


async def test_a_group_created_while_streaming_all_messages_is_followed(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    async with bob.conversations.stream_all_messages() as stream:
        await stream.wait_ready()
        made: Conversation = await bob.conversations.create_group(
            [alice.inbox_id], name="made while streaming"
        )
        [alices] = await alice.conversations.sync()
        await alices.send_text("into bob's new group")
        assert await next_text(stream) == "into bob's new group"
        assert made.texts() == ["into bob's new group"]
    for c in (alice, bob):
        await c.close()


async def test_a_stream_without_reconnect_fails_when_the_node_goes(tmp_path: Path) -> None:
    node = await Node.start(
        NodeConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "node", rate_limits=None)
    )
    bob = await new_client(node, tmp_path / "bob.db")
    stream = bob.conversations.stream_all_messages(reconnect=False)
    await stream.wait_ready()
    await node.stop(grace=0)
    with pytest.raises(ApiCallError):
        await asyncio.wait_for(anext(stream), WAIT)
    with pytest.raises(StopAsyncIteration):  # then it is over
        await anext(stream)
    await bob.close()


async def test_a_streamed_reply_and_reaction_equal_the_listed_ones(node: Node, tmp_path: Path) -> None:
    """A stream hands out each message as ``messages()`` lists it: a reply with the message it answers, a
    reaction with its reference (both read from the content when the message is stored)."""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    group = await alice.conversations.create_group([bob.inbox_id], name="g")
    [bobs] = await bob.conversations.sync()
    async with bob.conversations.stream_all_messages() as every, bobs.stream() as one:
        for stream in (every, one):
            await stream.wait_ready()
        first = await group.send_text("first")
        answer = await group.send_reply(Reply(first.hex(), encode_content("an answer")))
        reaction = await group.send_reaction(Reaction(first.hex(), "added", "+1", "unicode"))
        for stream in (every, one):
            streamed = [await asyncio.wait_for(anext(stream), WAIT) for _ in range(3)]
            assert [m.message_id for m in streamed] == [first, answer, reaction]
            reply, reacted = streamed[1], streamed[2]
            assert isinstance(reply.content, EnrichedReply) and reply.content.in_reply_to is not None
            assert reply.content.in_reply_to.message_id == first
            assert reply == bob.conversations.get_message_by_id(answer)
            assert reply == bobs.messages()[-1]
            assert reacted == bob.conversations.get_message_by_id(reaction)
            assert reacted == bobs.messages(content_types=["reaction"])[-1]
    for c in (alice, bob):
        await c.close()


async def test_a_named_consumer_gets_what_an_earlier_stream_stored_but_never_handed_over(
    node: Node, tmp_path: Path
) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    group = await alice.conversations.create_group([bob.inbox_id], name="g")
    await group.send_text("before the consumer's first stream")
    [bobs] = await bob.conversations.sync()
    await bobs.sync()
    async with bob.conversations.stream_all_messages(consumer="bot") as first:
        await first.wait_ready()  # a new consumer starts from the present
        for i in range(5):
            await group.send_text(f"text {i}")
        assert await next_text(first) == "text 0"
        assert await next_text(first) == "text 1"  # done with text 0; text 1 handed out, not done with
        await eventually(lambda: bobs.texts()[-1] == "text 4", "all stored by the stream")
    async with bob.conversations.stream_all_messages() as plain:  # a plain stream: only what comes next
        await plain.wait_ready()
        await group.send_text("live")
        assert await next_text(plain) == "live"
    with pytest.raises(ValueError, match="consumer"):
        bob.conversations.stream_all_messages(consumer="a/b")
    async with bob.conversations.stream_all_messages(consumer="bot") as second:
        await second.wait_ready()
        for expected in ("text 1", "text 2", "text 3", "text 4", "live"):
            assert await next_text(second) == expected
        await group.send_text("after")
        assert await next_text(second) == "after"
        second.acknowledge()  # done with it: the next stream does not hand it out again
    other = await alice.conversations.create_group([bob.inbox_id], name="joined while no stream ran")
    await other.send_text("in a conversation joined meanwhile")
    await bob.conversations.sync_all()
    async with bob.conversations.stream_all_messages(consumer="bot") as third:
        await third.wait_ready()
        assert await next_text(third) == "in a conversation joined meanwhile"
        await group.send_text("the end")
        assert await next_text(third) == "the end"
    for c in (alice, bob):
        await c.close()


async def test_a_second_live_stream_for_a_consumer_name_is_refused(node: Node, tmp_path: Path) -> None:
    """One stream at a time per consumer name: a second one while the first is live is misuse
    (:class:`ConsumerBusy`, a ValueError); another name, a plain stream, or the same name once the first one
    ended are fine."""
    bob = await new_client(node, tmp_path / "bob.db")
    try:
        first = bob.conversations.stream_all_messages(consumer="bot")
        with pytest.raises(ConsumerBusy, match="'bot'"):
            bob.conversations.stream_all_messages(consumer="bot")
        with pytest.raises(ValueError):
            bob.conversations.stream_all_messages(consumer="bot")
        async with bob.conversations.stream_all_messages(consumer="other") as other:
            await other.wait_ready()
        async with bob.conversations.stream_all_messages() as plain:
            await plain.wait_ready()
        await first.wait_ready()
        await first.close()
        async with bob.conversations.stream_all_messages(consumer="bot") as again:
            await again.wait_ready()
            # the closed first stream ending late does not free the name the live one holds
            await first.close()
            with pytest.raises(ConsumerBusy):
                bob.conversations.stream_all_messages(consumer="bot")
        async with bob.conversations.stream_all_messages(consumer="bot") as last:
            await last.wait_ready()
    finally:
        await bob.close()
