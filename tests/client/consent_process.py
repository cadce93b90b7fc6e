"""A pyxmtp client in a process of its own, for ``test_device_sync.py``: it denies a conversation while every
publish to the node hangs, says so, and waits to be killed.

    python consent_process.py NODE DB GROUP_ID_HEX

It prints ``decided`` once the decision is recorded (the background publisher is then stuck in its send: the
node never got it), flushed at once.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from pyxmtp.client import Client, ConsentState
from pyxmtp.client.consent import Consent, ConsentEntityType
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.proto.mls.api.v1 import mls_pb2


async def main(node: str, db: str, group_id_hex: str) -> None:
    # the database holds the installation: the wallet is only needed to make a new one
    client = await Client.create(node, LocalWalletSigner.generate(), db_path=db)

    async def hang(messages: Sequence[mls_pb2.GroupMessageInput]) -> None:
        await asyncio.Event().wait()

    client.api.send_group_messages = hang  # type: ignore[method-assign]
    client.preferences.set_consent_states(
        [Consent(ConsentEntityType.CONVERSATION, group_id_hex, ConsentState.DENIED)]
    )
    print("decided", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
