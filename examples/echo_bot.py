"""An echo bot: answers every text it is sent, in any DM or group, with the same text.

    python examples/echo_bot.py --node 127.0.0.1:5556 --home ./echo-bot

The first run creates the bot's wallet key and installation in ``--home`` and registers them; it prints the
bot's address and inbox id, which people message. Stop it with Ctrl-C; the next run carries on from its database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path

from pyxmtp.client import Client
from pyxmtp.identity.eth import LocalWalletSigner


def wallet_in(home: Path) -> LocalWalletSigner:
    """The bot's wallet, created on the first run (the key file is the bot's identity: keep it safe)."""
    home.mkdir(parents=True, exist_ok=True)
    key_file = home / "wallet.key"
    if key_file.exists():
        return LocalWalletSigner(bytes.fromhex(key_file.read_text().strip()))
    wallet = LocalWalletSigner.generate()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(wallet.private_key.hex() + "\n")
    return wallet


async def run(node: str, home: Path) -> None:
    wallet = wallet_in(home)
    async with await Client.create(
        node, wallet, db_path=home / "bot.db"
    ) as client:  # registers the first time
        print(f"echo bot {wallet.address} (inbox {client.inbox_id}) on {node}", flush=True)
        async with client.conversations.stream_all_messages() as stream:
            async for message in stream:
                if message.sender_inbox_id == client.inbox_id:
                    continue  # our own echoes come back on the stream too
                conversation = client.conversations.get_conversation_by_id(message.conversation_id)
                if conversation is not None and isinstance(message.content, str):
                    await conversation.send_text(message.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", default="127.0.0.1:5556")
    parser.add_argument("--home", type=Path, default=Path("./echo-bot"))
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop quietly
        asyncio.run(run(args.node, args.home))


if __name__ == "__main__":
    main()
