"""``listen``: every new message of every conversation, live, one line each (``--json``: one object per line),
labelled with its conversation; the connection's state on stderr ("connecting…", "reconnecting in 2 s…")."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from . import sdk
from .options import Settings
from .output import Output, plural, safe_text
from .render import Names, conversation_label, describe, message_json, message_line, short_ids
from .session import Session, open_session, unreachable_hint

#: The first pause before reconnecting after the node went away, and the longest (it doubles in between).
RECONNECT_FIRST_WAIT = 0.5
RECONNECT_MAX_WAIT = 30.0


def register(command: Any) -> None:
    listen = command(
        "listen",
        help="print every new message as it arrives (Ctrl-C stops)",
        description="Print every new message of every conversation as it arrives, the backlog since the "
        "last sync first, each line labelled with its conversation's short id. Survives node restarts: the "
        "connection's state is reported on stderr.",
    )
    listen.set_defaults(handler=_listen)


class _Labels:
    """Short ids and labels of the conversations, recomputed when one joins."""

    def __init__(self, session: Session, names: Names) -> None:
        self.session = session
        self.names = names
        self._shorts: dict[bytes, str] = {}

    async def of(self, conversation: sdk.ClientConversation) -> tuple[str, str]:
        if conversation.group_id not in self._shorts:
            self._shorts = short_ids(c.group_id for c in sdk.conversations(self.session.client))
            await self.names.add(self.session.client, conversation.member_inbox_ids())
        return self._shorts.get(conversation.group_id, conversation.group_id.hex()), conversation_label(
            conversation, self.names
        )


async def _listen(args: argparse.Namespace, settings: Settings, output: Output) -> None:
    async with open_session(settings, output, "listen") as session:
        client = session.client
        names = Names(session.me)
        labels = _Labels(session, names)
        node = settings.node.target
        wait = RECONNECT_FIRST_WAIT
        connected = False
        output.notice(f"connecting to {node}…")
        while True:
            try:
                await sdk.sync_welcomes(client)  # the node answers: connected
                connected = True
                active = [c for c in sdk.conversations(client) if c.is_active]
                count = len(active)
                output.notice(f"listening on {node} ({plural(count, 'conversation')}); Ctrl-C stops")
                wait = RECONNECT_FIRST_WAIT
                async for conversation, message in sdk.stream(client):
                    await _show(output, labels, conversation, message)
            except sdk.ApiCallError as exc:
                if not sdk.is_retried(exc):
                    raise
                what = "lost the node" if connected else f"cannot reach the node {unreachable_hint(settings)}"
                output.notice(f"{what} ({safe_text(exc.code.name)}); reconnecting in {wait:g} s…")
                await asyncio.sleep(wait)
                wait = min(wait * 2, RECONNECT_MAX_WAIT)


async def _show(
    output: Output, labels: _Labels, conversation: sdk.ClientConversation, message: sdk.DecodedMessage
) -> None:
    short, label = await labels.of(conversation)
    names = labels.names
    await names.add(labels.session.client, [message.sender_inbox_id])
    kind, text = describe(message.content, names, {})
    if kind == "read_receipt" and not output.json:
        return
    obj = message_json(conversation, message, names, kind)
    obj["conversation_short_id"] = short
    peer = sdk.dm_peer(conversation)
    obj["conversation_kind"] = "dm" if peer is not None else "group"
    obj["conversation_name"] = sdk.group_name(conversation) if peer is None else None
    line = message_line(message, message.message_id.hex()[:8], names, text, kind)
    when, _, rest = line.partition("  ")
    output.record(obj, f"{when}  [{safe_text(short)} {label}]  {rest}", flush=True)
