"""The ``bot`` figure of :mod:`client_bench`: a bot streaming all messages in 1 000 conversations, against the same
bot in one conversation, in the same run.

For each size (1 conversation, then ``conversations``), a peer makes that many groups with the bot (setup, not
timed), the bot joins them all, then a separate bot process opens its database and runs
``client.conversations.stream_all_messages()`` while the peer sends ``messages`` texts spread over the
conversations (round robin) through an in-process node. The bot process reports its own CPU time per message
handed out (from the moment its stream was ready to the last message: decryption, the store, decoding, the
stream machinery; the peer's and the node's work are in the other process) and its memory: RSS once the stream is
ready (every conversation loaded and subscribed) and the peak. Wall time per message is reported too, but it is
bounded by the peer's sending rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """The process's peak RSS (``VmHWM``: unlike ``ru_maxrss``, not the forked parent's before ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


async def bot_worker(address: str, db: str, expected: int) -> None:
    """The bot process: stream until ``expected`` texts arrived, then print one JSON line of figures."""
    from pyxmtp.client import Client
    from pyxmtp.identity.eth import LocalWalletSigner

    client = await Client.create(address, LocalWalletSigner.generate(), db_path=db)
    async with client.conversations.stream_all_messages() as stream:
        await stream.wait_ready()
        ready_rss = _rss_bytes()
        conversations = len(client.conversations.list())
        print(json.dumps({"ready": True, "conversations": conversations}), flush=True)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        got = 0
        async for message in stream:
            if isinstance(message.content, str) and message.sender_inbox_id != client.inbox_id:
                got += 1
                if got == expected:
                    break
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    peak = _peak_rss_bytes()
    await client.close()
    print(
        json.dumps(
            {
                "messages": got,
                "cpu_seconds_per_message": cpu / got,
                "wall_seconds_per_message": wall / got,
                "rss_ready_bytes": ready_rss,
                "rss_peak_bytes": peak,
            }
        ),
        flush=True,
    )


async def _round(directory: Path, conversations: int, messages: int, log: Any) -> dict[str, Any]:
    from pyxmtp.client import Client
    from pyxmtp.identity.eth import LocalWalletSigner
    from pyxmtp.node import Node, NodeConfig

    node = await Node.start(
        NodeConfig(host="127.0.0.1", port=0, data_dir=directory / f"node-{conversations}", rate_limits=None)
    )
    try:
        bot_db = directory / f"bot-{conversations}.db"
        bot = await Client.create(node.address, LocalWalletSigner.generate(), db_path=bot_db)
        peer = await Client.create(
            node.address, LocalWalletSigner.generate(), db_path=directory / f"peer-{conversations}.db"
        )
        started = time.perf_counter()
        groups = [
            await peer.conversations.create_group([bot.inbox_id], name=f"g{i}") for i in range(conversations)
        ]
        made = time.perf_counter() - started
        joined = await bot.conversations.sync()
        join = time.perf_counter() - started - made
        assert len(joined) == conversations
        await bot.close()
        log(f"bot in {conversations}: groups made in {made:.1f} s, joined in {join:.1f} s")
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", node.address, str(bot_db), str(messages)],
            stdout=subprocess.PIPE,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            },
            text=True,
        )
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        assert json.loads(line)["conversations"] == conversations, line
        for i in range(messages):
            await groups[i % conversations].send_text(f"message {i}")
        line = await asyncio.to_thread(proc.stdout.readline)
        await asyncio.to_thread(proc.wait)
        result: dict[str, Any] = json.loads(line)
        result["conversations"] = conversations
        result["setup_seconds"] = {"make_groups": round(made, 1), "join": round(join, 1)}
        await peer.close()
        return result
    finally:
        await node.stop(grace=0)


def bench_bot(directory: Path, conversations: int, messages: int, log: Any) -> dict[str, Any]:
    """The bot in one conversation (today's figure) and in ``conversations``, ``messages`` texts each."""
    one = asyncio.run(_round(directory, 1, messages, log))
    many = asyncio.run(_round(directory, conversations, messages, log))
    return {
        "one_conversation": one,
        "many_conversations": many,
        "cpu_ratio": many["cpu_seconds_per_message"] / one["cpu_seconds_per_message"],
        "rss_ready_growth_bytes": many["rss_ready_bytes"] - one["rss_ready_bytes"],
        "rss_per_conversation_bytes": (many["rss_ready_bytes"] - one["rss_ready_bytes"])
        / (conversations - 1),
    }


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    asyncio.run(bot_worker(sys.argv[2], sys.argv[3], int(sys.argv[4])))
