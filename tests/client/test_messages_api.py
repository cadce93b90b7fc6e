"""Messages as node-sdk 6.0 lists them: DecodedMessage's fields, filters and paging of ``messages()``,
``count_messages``, ``last_message``, enrichment (reactions, reply counts, the message a reply answers), read
times, and content types of the client's own."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyxmtp.client import Client, DeliveryStatus, EnrichedReply, MessageKind, SortDirection
from pyxmtp.conversations.content import (
    REACTION_V2,
    TEXT,
    ContentCodec,
    ContentTypeId,
    EncodedContent,
    GroupUpdated,
    Reaction,
    ReadReceipt,
    Reply,
    UnknownContent,
    encode_content,
)
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

from .conftest import new_client

pytestmark = pytest.mark.timeout(120)


async def test_messages_are_decoded_filtered_and_enriched(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    group = await alice.conversations.create_group([bob.inbox_id], name="chat")
    [bobs] = await bob.conversations.sync()
    first = await group.send_text("first")
    second = await group.send_markdown("*second*")
    await bobs.sync()
    await bobs.send_reaction(Reaction(first.hex(), "added", "👍", "unicode"))
    answer = await bobs.send_reply(Reply(first.hex(), encode_content("an answer")))
    await bobs.send_read_receipt()
    await group.sync()

    listed = group.messages(kind=MessageKind.APPLICATION)  # reactions and read receipts not on their own
    assert [m.message_id for m in listed] == [first, second, answer]
    assert len(group.messages()) == 4  # and the transcript entry of bob's joining
    head, markdown, reply = listed
    assert head.content == "first" and head.content_type == TEXT and head.kind is MessageKind.APPLICATION
    assert head.id == first.hex() and head.conversation_id == group.id and head.group_id == group.group_id
    assert head.sender_inbox_id == alice.inbox_id and head.sender_installation == alice.installation_id
    assert head.delivery_status is DeliveryStatus.PUBLISHED and head.published
    assert head.sent_at == datetime.datetime.fromtimestamp(head.sent_at_ns / 1e9, tz=datetime.UTC)
    assert markdown.content == "*second*" and markdown.content_type is not None
    assert markdown.content_type.type_id == "markdown"
    # the reacted-to message carries its reaction (a message of its own) and its reply count
    [reaction] = head.reactions
    assert reaction.content == Reaction(first.hex(), "added", "👍", "unicode")
    assert reaction.content_type == REACTION_V2 and reaction.sender_inbox_id == bob.inbox_id
    assert reaction.fallback == 'Reacted with "👍" to an earlier message'
    assert head.num_replies == 1 and markdown.num_replies == 0 and markdown.reactions == ()
    # a reply shows its decoded content and the message it answers
    assert isinstance(reply.content, EnrichedReply)
    assert reply.content.content == "an answer" and reply.content.content_type == TEXT
    assert reply.content.reference == first.hex() and reply.content.in_reply_to is not None
    assert reply.content.in_reply_to.message_id == first
    assert group.last_message() == reply

    # every message when asked, reactions and read receipts included, the transcript entry too
    every = group.messages(exclude_content_types=())
    kinds = [m.kind for m in every]
    assert kinds.count(MessageKind.MEMBERSHIP_CHANGE) == 1 and len(every) == 6
    [entry] = group.messages(kind=MessageKind.MEMBERSHIP_CHANGE)
    assert isinstance(entry.content, GroupUpdated) and entry.content.added_inboxes == (bob.inbox_id,)
    assert [m.message_id for m in group.messages(content_types=["text", "reply"])] == [first, answer]
    assert [m.message_id for m in group.messages(content_types=[TEXT])] == [first]
    assert len(group.messages(content_types=[REACTION_V2])) == 1  # named: listed
    assert [m.message_id for m in group.messages(limit=2, direction=SortDirection.DESCENDING)] == [
        answer,
        second,
    ]
    assert [m.message_id for m in group.messages(sent_after_ns=head.sent_ns)] == [second, answer]
    assert [m.message_id for m in group.messages(sent_before_ns=markdown.sent_ns)][-1:] == [first]
    mine = group.messages(exclude_sender_inbox_ids=[bob.inbox_id], kind=MessageKind.APPLICATION)
    assert [m.message_id for m in mine] == [first, second]
    assert group.count_messages() == 4
    assert group.count_messages(exclude_content_types=()) == 6
    assert group.count_messages(content_types=["text"]) == 1
    assert group.last_read_times() == {bob.inbox_id: every[-1].sent_ns}
    for c in (alice, bob):
        await c.close()


@dataclass(frozen=True)
class Poll:
    question: str


POLL = ContentTypeId("example.org", "poll", 1, 0)


class PollCodec(ContentCodec[Poll]):
    content_type = POLL
    should_push = True
    encodes = (Poll,)

    def encode(self, value: Poll) -> EncodedContent:
        return EncodedContent(POLL, {}, value.question.encode(), fallback=f"Poll: {value.question}")

    def decode(self, encoded: EncodedContent) -> Poll:
        return Poll(encoded.content.decode())


async def test_a_content_type_of_our_own(node: Node, tmp_path: Path) -> None:
    """A codec given to the client sends and reads its type; a client without it keeps the fallback."""
    alice = await Client.create(
        node.address, LocalWalletSigner.generate(), db_path=tmp_path / "alice.db", codecs=[PollCodec()]
    )
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await dm.send(Poll("lunch?"))
    [bobs] = await bob.conversations.sync()
    await bobs.sync()
    [theirs] = bobs.messages(content_types=[POLL])
    assert isinstance(theirs.content, UnknownContent) and theirs.fallback == "Poll: lunch?"
    [ours] = dm.messages(content_types=[POLL])
    assert ours.content == Poll("lunch?") and ours.content_type == POLL
    await bobs.send(ReadReceipt())
    assert [m.content for m in await dm.sync()] == [ReadReceipt()]  # a sync returns everything new
    assert dm.messages(content_types=["readReceipt"]) != [] and all(
        not isinstance(m.content, ReadReceipt) for m in dm.messages()
    )
    for c in (alice, bob):
        await c.close()
