"""A pyxmtp client in a process of its own, for ``test_own_commit.py``: it adds an inbox to its only group and
is killed (SIGKILL) by the test in the middle.

    python commit_process.py NODE DB INBOX_ID --hang-at welcomes|merge

``welcomes``: the commit is sent and merged; the welcome call prints ``welcoming`` and hangs (nothing sent).
``merge``: the commit call sends it to the node, prints ``committed`` and hangs (the reply never comes: not
merged). Each line is flushed at once.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from pyxmtp.client import Client, Group
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.proto.mls.api.v1 import mls_pb2


def say(*parts: object) -> None:
    print(*parts, flush=True)


async def main(node: str, db: str, inbox_id: str, hang_at: str) -> None:
    client = await Client.create(node, LocalWalletSigner.generate(), db_path=db)
    [group] = client.conversations.list()
    assert isinstance(group, Group)
    send_commit = client.api.send_group_messages

    async def hang_after_commit(messages: Sequence[mls_pb2.GroupMessageInput]) -> None:
        await send_commit(messages)
        say("committed")
        await asyncio.Event().wait()

    async def hang_at_welcomes(messages: Sequence[mls_pb2.WelcomeMessageInput]) -> None:
        say("welcoming")
        await asyncio.Event().wait()

    if hang_at == "merge":
        client.api.send_group_messages = hang_after_commit  # type: ignore[method-assign]
    else:
        client.api.send_welcome_messages = hang_at_welcomes  # type: ignore[method-assign]
    say("ready")
    await group.add_members([inbox_id])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].removeprefix("--hang-at=")))
