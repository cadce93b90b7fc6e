"""Conversations and messages: ``dm``, ``group``, ``send``, ``list`` (``groups``), ``read``, ``react``,
``reply``."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from typing import Any

from pyxmtp.conversations.content import (
    GroupUpdated,
    Reaction,
    ReactionAction,
    ReactionSchema,
    Reply,
    Text,
    encode_content,
)

from . import sdk
from .errors import CliError, UsageError
from .options import Settings
from .output import Output, iso_time, local_time, plural, safe_text
from .progress import sync_all
from .render import (
    conversation_json,
    conversation_label,
    describe,
    message_json,
    message_line,
    real_message_count,
    short_ids,
)
from .session import MIN_PREFIX, Session, open_session, read_message_text


def register(command: Any) -> None:
    dm = command("dm", help="open the DM with someone (found or created) and print its id")
    dm.add_argument("who", metavar="ADDRESS|INBOX", help="an 0x address or an inbox id")
    dm.set_defaults(handler=_dm)

    group = command("group", help="create a group with MEMBERS (addresses or inbox ids)")
    group.add_argument("name", help="the group's name")
    group.add_argument("members", nargs="+", metavar="MEMBER", help="an 0x address or an inbox id")
    group.add_argument("--text", help="a first message")
    group.set_defaults(handler=_group)

    send = command(
        "send",
        help="send a text into a conversation (by id prefix), or to a person's DM (by address or inbox id)",
        description="Send a text. TARGET is a conversation (its id or a unique prefix of it, as `list` "
        "shows), or a person (an 0x address or an inbox id: the DM with them, found or created). The text is "
        "TEXT, stdin with - (or when TEXT is left out and stdin is not a terminal), or --file FILE.",
    )
    send.add_argument("target", metavar="TARGET", help="conversation id prefix, 0x address or inbox id")
    send.add_argument("text", nargs="?", metavar="TEXT", help="the message; - reads stdin")
    send.add_argument("--file", metavar="FILE", help="send the content of FILE (UTF-8 text)")
    send.set_defaults(handler=_send)

    for name, aliases in (("list", ["groups"]),):
        listing = command(name, aliases=aliases, help="sync, then list the conversations")
        listing.set_defaults(handler=_list)

    read = command(
        "read",
        help="sync a conversation and print its messages",
        description="Sync a conversation and print its messages, oldest first, each with its short id (for "
        "react and reply). CONVERSATION is its id or a unique prefix, or a person (an 0x address or an inbox "
        "id) for your DM with them.",
    )
    read.add_argument(
        "conversation",
        metavar="CONVERSATION",
        help="conversation id prefix, or the 0x address / inbox id of a DM",
    )
    read.add_argument("--limit", type=_positive, metavar="N", help="only the last N messages")
    read.add_argument(
        "--since",
        metavar="WHEN",
        help="only messages sent since WHEN: a date or time (2026-01-31, 2026-01-31T18:00, local time) or "
        "a duration ago (90s, 15m, 2h, 3d, 1w)",
    )
    read.set_defaults(handler=_read)

    react = command("react", help="react to a message with an emoji")
    react.add_argument("conversation", metavar="CONVERSATION", help="conversation id or a unique prefix")
    react.add_argument("message", metavar="MESSAGE", help="message id or a unique prefix (as read shows)")
    react.add_argument("emoji", metavar="EMOJI")
    react.add_argument("--remove", action="store_true", help="take the reaction back")
    react.set_defaults(handler=_react)

    reply = command("reply", help="reply to a message")
    reply.add_argument("conversation", metavar="CONVERSATION", help="conversation id or a unique prefix")
    reply.add_argument("message", metavar="MESSAGE", help="message id or a unique prefix (as read shows)")
    reply.add_argument("text", nargs="?", metavar="TEXT", help="the reply; - reads stdin")
    reply.add_argument("--file", metavar="FILE", help="reply with the content of FILE (UTF-8 text)")
    reply.set_defaults(handler=_reply)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


_DURATION = re.compile(r"\A(\d+)\s*([smhdw])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now_ns: int) -> int:
    """``--since`` as nanoseconds since the epoch: a duration ago (``15m``) or an ISO date / date-time (local
    time unless it names its offset)."""
    text = text.strip()
    match = _DURATION.match(text.lower())
    if match:
        return now_ns - int(match.group(1)) * _UNITS[match.group(2)] * 10**9
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r}: give a date or time (2026-01-31, 2026-01-31T18:00) or a duration (15m, 2h, 3d)"
        ) from None
    return int(when.timestamp() * 10**9)  # a naive time is local time


# --- opening conversations ----------------------------------------------------------------------------------
async def _dm(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "dm") as session:
        await session.sync_welcomes()
        conversation = await session.dm(await sdk.inbox_of(session.client, args.who))
        await _print_opened(session, conversation)


async def _group(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "group") as session:
        members = [await sdk.inbox_of(session.client, m) for m in args.members]
        if session.me in members:
            raise CliError("you are in every group you create: name the other members only")
        conversation = await sdk.create_group(session.client, list(dict.fromkeys(members)), args.name)
        if args.text:
            await sdk.send_text(conversation, args.text)
        await _print_opened(session, conversation)


async def _print_opened(session: Session, conversation: sdk.ClientConversation) -> None:
    names = await session.names(conversation.member_inbox_ids())
    label, short = session.label_and_short(conversation, names)
    session.output.record(
        conversation_json(conversation, names, short),
        f"{safe_text(short)}  {label}  ({conversation.group_id.hex()})",
    )


# --- sending ------------------------------------------------------------------------------------------------
async def _send(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    text = read_message_text(args.text, args.file)
    async with open_session(settings, output, "send") as session:
        conversation = await session.target(args.target)
        await _check_active(conversation)
        message_id = await sdk.send_text(conversation, text)
        await _print_sent(session, conversation, message_id, "sent")


async def _print_sent(
    session: Session, conversation: sdk.ClientConversation, message_id: bytes, what: str
) -> None:
    names = await session.names([i for i in [sdk.dm_peer(conversation)] if i])
    label, short = session.label_and_short(conversation, names)
    shorts = short_ids(m.message_id for m in sdk.messages(conversation))
    short_message = shorts.get(message_id, message_id.hex())
    session.output.record(
        {
            "conversation": conversation.group_id.hex(),
            "conversation_short_id": short,
            "message_id": message_id.hex(),
            "short_id": short_message,
        },
        f"{what} {safe_text(short_message)} in {safe_text(short)} {label}",
    )


async def _check_active(conversation: sdk.ClientConversation) -> None:
    if not conversation.is_active:
        raise CliError("you are no longer a member of this conversation")


async def _referenced(
    session: Session, args: argparse.Namespace
) -> tuple[sdk.ClientConversation, sdk.DecodedMessage]:
    """The conversation ``args.conversation`` (active, synced) and its message ``args.message``."""
    conversation = await session.conversation(args.conversation)
    await _check_active(conversation)
    await sdk.sync(conversation)
    return conversation, _message(conversation, args.message)


async def _react(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "react") as session:
        conversation, target = await _referenced(session, args)
        reaction = Reaction(
            reference=target.message_id.hex(),
            action=ReactionAction.REMOVED if args.remove else ReactionAction.ADDED,
            content=args.emoji,
            schema=ReactionSchema.UNICODE,
            reference_inbox_id=target.sender_inbox_id,
        )
        message_id = await sdk.send_value(conversation, reaction)
        await _print_sent(
            session, conversation, message_id, "removed the reaction" if args.remove else "reacted"
        )


async def _reply(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    text = read_message_text(args.text, args.file)
    async with open_session(settings, output, "reply") as session:
        conversation, target = await _referenced(session, args)
        reply = Reply(
            reference=target.message_id.hex(),
            content=encode_content(Text(text)),
            reference_inbox_id=target.sender_inbox_id,
        )
        message_id = await sdk.send_value(conversation, reply)
        await _print_sent(session, conversation, message_id, "replied")


def _message(conversation: sdk.ClientConversation, text: str) -> sdk.DecodedMessage:
    """The message of ``conversation`` whose id starts with ``text`` (not a "group updated" entry)."""
    prefix = sdk.normalise_id(text)
    if not sdk.is_hex(prefix) or len(prefix) < MIN_PREFIX:
        raise CliError(f"{safe_text(repr(text))} is not a message id (hex, at least {MIN_PREFIX} characters)")
    found = [
        m
        for m in sdk.messages(conversation)
        if m.message_id.hex().startswith(prefix) and not sdk.is_transcript(m)
    ]
    if not found:
        raise CliError(f"no message {safe_text(text)} in this conversation (read shows the ids)")
    if len(found) > 1:
        raise UsageError(f"{safe_text(text)} names {len(found)} messages: give more of the id")
    return found[0]


# --- reading ------------------------------------------------------------------------------------------------
async def _list(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "list") as session:
        await session.sync_welcomes()
        conversations = sdk.conversations(session.client)
        names = await session.names([p for p in map(sdk.dm_peer, conversations) if p])
        active = [c for c in conversations if c.is_active]
        await sync_all(active, [conversation_label(c, names) for c in active])
        shorts = short_ids(c.group_id for c in conversations)
        for conversation in conversations:
            messages = sdk.messages(conversation)
            count = real_message_count(messages)
            obj = conversation_json(conversation, names, shorts[conversation.group_id])
            obj.update(members=len(conversation.member_inbox_ids()), messages=count)
            last = messages[-1].sent_ns if messages else None
            obj["last_message_ns"] = last
            obj["last_message_at"] = None if last is None else iso_time(last)
            state = ("" if conversation.is_active else "  [left]") + (
                "  [denied]" if obj["consent"] == "denied" else ""
            )
            when = f"  last {local_time(last)}" if last is not None else ""
            members = plural(len(conversation.member_inbox_ids()), "member")
            output.record(
                obj,
                f"{safe_text(shorts[conversation.group_id])}  {conversation_label(conversation, names)} "
                f"({members})  {plural(count, 'message')}{when}{state}",
            )
        if not conversations:
            output.text(
                "no conversations yet: `pyxmtp client dm ADDRESS` or `group NAME MEMBER...` starts one"
            )


async def _read(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    since = None if args.since is None else parse_since(args.since, time.time_ns())
    async with open_session(settings, output, "read") as session:
        conversation = await session.target(args.conversation, create=False)
        names = await session.names(conversation.member_inbox_ids())
        await sync_all([conversation], [conversation_label(conversation, names)])
        messages = sdk.messages(conversation)
        shorts = {k.hex(): v for k, v in short_ids(m.message_id for m in messages).items()}
        if since is not None:
            messages = [m for m in messages if m.sent_ns >= since]
        if args.limit is not None:
            messages = messages[-args.limit :]
        await names.add(session.client, _inboxes_named(messages))
        for message in messages:
            kind, text = describe(message.content, names, shorts)
            if kind == "read_receipt" and not output.json:
                continue
            obj = message_json(conversation, message, names, kind)
            short = shorts[message.message_id.hex()]
            output.record(obj, message_line(message, short, names, text, kind))


def _inboxes_named(messages: list[sdk.DecodedMessage]) -> set[str]:
    """Every inbox a message or an update entry names (to look their addresses up in one go)."""
    out = {m.sender_inbox_id for m in messages}
    for m in messages:
        u = m.content
        if isinstance(u, GroupUpdated):
            out.add(u.initiated_by_inbox_id)
            for ids in (u.added_inboxes, u.removed_inboxes, u.left_inboxes, u.admins_added, u.admins_removed):
                out.update(ids)
            out.update(u.super_admins_added + u.super_admins_removed)
    return out
