"""A pyxmtp client in a process of its own, for ``test_kill_while_sending.py``: it sends numbered texts into its
only conversation and reads what the other members send, until it is killed.

    python sender_process.py NODE DB RUN [--hang-at N | --final]

It prints one line per event, flushed at once: ``ready`` once started (``Client.create`` has published what an
earlier run left unpublished), ``publishing TEXT`` just before each SendGroupMessages call, ``sent MESSAGE_ID TEXT``
once ``send`` returned, ``got TEXT`` for each text of another member the stream delivers. ``--hang-at N``: the Nth
call stops after printing ``publishing``, forever (the message is stored, not published: the test kills it there).
``--final``: sync, print ``have STATUS mine|theirs TEXT`` for every stored text, then ``done``, and exit.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from pyxmtp.client import Client
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.proto.mls.api.v1 import mls_pb2


def say(*parts: object) -> None:
    print(*parts, flush=True)


async def main(node: str, db: str, run: str, options: Sequence[str]) -> None:
    # the database holds the installation: the wallet is only needed to make a new one
    client = await Client.create(node, LocalWalletSigner.generate(), db_path=db)
    [conversation] = client.conversations.list()
    if "--final" in options:
        await conversation.sync()
        for m in conversation.messages():
            if isinstance(m.content, str):
                whose = "mine" if m.sender_inbox_id == client.inbox_id else "theirs"
                say("have", m.delivery_status.name, whose, m.content)
        say("done")
        await client.close()
        return

    hang_at = int(options[options.index("--hang-at") + 1]) if "--hang-at" in options else 0
    real = client.api.send_group_messages
    calls = 0
    current = ""

    async def publish(messages: Sequence[mls_pb2.GroupMessageInput]) -> None:
        nonlocal calls
        calls += 1
        say("publishing", current)
        if calls == hang_at:
            await asyncio.Event().wait()
        await real(messages)

    client.api.send_group_messages = publish  # type: ignore[method-assign]

    async def receive() -> None:
        async for message in client.conversations.stream_all_messages():
            if message.sender_inbox_id != client.inbox_id and isinstance(message.content, str):
                say("got", message.content)

    receiving = asyncio.create_task(receive())
    say("ready")
    for i in range(10**6):
        current = f"{run}-{i}"
        mid = await conversation.send_text(current)
        say("sent", mid.hex(), current)
    receiving.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
