"""An agent that stops while its message stream holds messages it has not handled (processed and stored by the
stream, waiting behind a slow handler) hands them to its handlers on the next start, each once: also when the
stop's timeout cancelled the handler, and when the next start is a new agent on the same database (a new
process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyxmtp.agent import Agent, MessageContext
from pyxmtp.client import Client
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

from .conftest import Recorder, eventually, make_agent, new_client

pytestmark = pytest.mark.timeout(180)

COUNT = 30


def slow_at_first(agent: Agent, recorder: Recorder, gate: asyncio.Event, entered: asyncio.Event) -> None:
    """Handlers recording each text once handled; the first one waits for ``gate``."""

    @agent.on_text
    async def text(ctx: MessageContext[str]) -> None:
        if not entered.is_set():
            entered.set()
            await gate.wait()
        recorder.add(ctx.content)


async def queued_behind_the_first(agent: Agent, node: Node, tmp_path: Path) -> tuple[Client, list[str]]:
    """A peer sends COUNT texts; returns once the agent's stream has stored them all (its handler holds the
    first: the others wait in the stream)."""
    peer = await new_client(node, tmp_path / "peer.db")
    dm = await peer.conversations.create_dm(agent.inbox_id)
    texts = [f"text {i}" for i in range(COUNT)]
    for text in texts:
        await dm.send_text(text)

    def all_stored() -> bool:
        mine = agent.client.conversations.get_conversation_by_id(dm.id)
        return mine is not None and mine.texts() == texts

    await eventually(all_stored, "the agent's stream stored every text")
    return peer, texts


async def restarted(agent: Agent, node: Node, path: Path, *, new_process: bool) -> Agent:
    """The same agent, or a new one on its database (as a new process would make)."""
    if not new_process:
        return agent
    await agent.close()
    return await Agent.create(LocalWalletSigner.generate(), node_url=node.address, db_path=path)


@pytest.mark.parametrize("new_process", [False, True])
async def test_messages_queued_at_a_graceful_stop_are_handled_after_the_next_start(
    node: Node, tmp_path: Path, new_process: bool
) -> None:
    path = tmp_path / "agent.db3"
    agent = await make_agent(node, path)
    recorder, gate, entered = Recorder(), asyncio.Event(), asyncio.Event()
    slow_at_first(agent, recorder, gate, entered)
    await agent.start()
    peer, texts = await queued_behind_the_first(agent, node, tmp_path)
    await asyncio.wait_for(entered.wait(), 30)
    stopping = asyncio.create_task(agent.stop())
    await eventually(lambda: all(s.is_closed for s in agent._streams), "the agent's streams closed")
    gate.set()  # the message being handled finishes; the rest were queued when the stream closed
    await stopping
    assert recorder.items == texts[:1]

    agent = await restarted(agent, node, path, new_process=new_process)
    if new_process:
        slow_at_first(agent, recorder, gate, entered)
    await agent.start()
    await recorder.wait_for(lambda items: len(items) >= COUNT, f"{COUNT} texts handled")
    [dm] = peer.conversations.list()
    await dm.send_text("live again")
    await recorder.wait_until_contains("live again")
    await agent.stop()
    assert recorder.items == [*texts, "live again"]  # each once, in order

    await agent.start()  # nothing is handed out twice
    await dm.send_text("last")
    await recorder.wait_until_contains("last")
    assert recorder.items == [*texts, "live again", "last"]
    await agent.close()
    await peer.close()


async def test_a_message_whose_handler_the_stop_cancelled_is_handled_after_the_next_start(
    node: Node, tmp_path: Path
) -> None:
    agent = await make_agent(node, tmp_path / "agent.db3")
    recorder, never, entered = Recorder(), asyncio.Event(), asyncio.Event()
    slow_at_first(agent, recorder, never, entered)
    await agent.start()
    peer, texts = await queued_behind_the_first(agent, node, tmp_path)
    await asyncio.wait_for(entered.wait(), 30)
    await agent.stop(timeout=0.2)  # the first handler never returns: cancelled
    assert recorder.items == []

    await agent.start()  # entered is set: the handler no longer waits
    await recorder.wait_for(lambda items: len(items) >= COUNT, f"{COUNT} texts handled")
    await agent.close()
    assert recorder.items == texts
    await peer.close()
