"""A stream the node cuts off as too slow (ABORTED, past its backlog's byte budget) is reopened by
``stream_all_messages`` from its cursors: every message arrives once, in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from pyxmtp.node import Node, NodeConfig
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .conftest import new_client, streamed_texts

pytestmark = pytest.mark.timeout(120)


async def test_the_stream_recovers_from_a_slow_reader_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pyxmtp.client")
    # 8 texts of about 400 B each published at once overflow a 1000-byte backlog before the stream can send any
    node = await Node.start(
        NodeConfig(
            host="127.0.0.1",
            port=0,
            data_dir=tmp_path / "node",
            rate_limits=None,
            subscriber_backlog_bytes=1000,
        )
    )
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await bob.conversations.sync()
    try:
        async with streamed_texts(bob) as got:
            await dm.send_text("live")
            assert await asyncio.wait_for(got.get(), 10) == "live"  # bob's group stream is open

            held: list[mls_pb2.GroupMessageInput] = []
            send = alice.api.send_group_messages

            async def hold(messages: Sequence[mls_pb2.GroupMessageInput]) -> None:
                held.extend(messages)

            monkeypatch.setattr(alice.api, "send_group_messages", hold)
            texts = [f"burst {i}" for i in range(8)]
            for text in texts:
                await dm.send_text(text)
            monkeypatch.undo()
            # each send publishes every earlier unpublished message again (same bytes): the node gets each once, in
            # one call, and stores and publishes the eight together
            await send(list({m.v1.data: m for m in held}.values()))

            for text in texts:
                assert await asyncio.wait_for(got.get(), 30) == text
            await dm.send_text("after")
            assert await asyncio.wait_for(got.get(), 30) == "after"  # nothing twice in between
            assert any("ABORTED" in r.getMessage() for r in caplog.records), caplog.text  # it was cut off
    finally:
        await node.stop(grace=0)
