"""When the agent's streams fail in a way the SDK does not recover from by itself (a node refusing the
subscription, say), the error middleware gets an AgentStreamingError: the default handler recovers (the streams
are opened again and ``start`` is emitted again), an error middleware that does not call ``next()`` stops the
agent. The failure is injected by handing the agent a real ``Stream`` whose producer fails (no node refuses a
subscription on request); everything else is the real client and node."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from pyxmtp.agent import Agent, AgentContext, AgentStreamingError, ErrorNext, MessageContext
from pyxmtp.agent import agent as agent_module
from pyxmtp.client import ApiCallError, DecodedMessage, Stream
from pyxmtp.client.streams import Emitter
from pyxmtp.node import Node

from .conftest import Recorder, new_client

pytestmark = pytest.mark.timeout(120)

REFUSED = ApiCallError("SubscribeGroupMessages", grpc.StatusCode.PERMISSION_DENIED, "injected")


def fail_streams(agent: Agent, monkeypatch: pytest.MonkeyPatch, *, ready_first: asyncio.Event | None) -> None:
    """The agent's first message stream fails with :data:`REFUSED`: at once (``ready_first`` None), or once
    ready, when ``ready_first`` is set. Later streams are the client's own."""
    monkeypatch.setattr(agent_module, "RESTART_FIRST_WAIT", 0.01)  # the pause before opening them again
    conversations = agent.client.conversations
    real = conversations.stream_all_messages
    calls = [0]

    def flaky(**options: Any) -> Stream[DecodedMessage]:
        calls[0] += 1
        if calls[0] > 1:
            return real(**options)

        async def produce(out: Emitter[DecodedMessage]) -> None:
            if ready_first is not None:
                out.ready()
                await ready_first.wait()
            raise REFUSED

        return Stream(produce, name="failing")

    monkeypatch.setattr(conversations, "stream_all_messages", flaky)


def record(agent: Agent, recorder: Recorder) -> None:
    @agent.on_start
    def started(ctx: AgentContext) -> None:
        recorder.add("start")

    @agent.on_stop
    def stopped(ctx: AgentContext) -> None:
        recorder.add("stop")

    @agent.on_unhandled_error
    def unhandled(error: Exception) -> None:
        assert isinstance(error, AgentStreamingError) and error.__cause__ is REFUSED
        recorder.add("streams failed")

    @agent.on_text
    async def text(ctx: MessageContext[str]) -> None:
        recorder.add(ctx.content)


async def test_streams_that_fail_before_they_are_ready_are_opened_again(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_streams(agent, monkeypatch, ready_first=None)
    record(agent, recorder)
    await agent.start()  # returns once the second streams are ready
    assert recorder.items == ["streams failed", "start"]
    peer = await new_client(node, tmp_path / "peer.db")
    await (await peer.conversations.create_dm(agent.inbox_id)).send_text("after the failure")
    await recorder.wait_until_contains("after the failure")
    await agent.stop()
    assert recorder.items == ["streams failed", "start", "after the failure", "stop"]
    await peer.close()


async def test_streams_that_fail_while_running_are_opened_again(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_now = asyncio.Event()
    fail_streams(agent, monkeypatch, ready_first=fail_now)
    record(agent, recorder)
    await agent.start()
    fail_now.set()
    await recorder.wait_for(lambda items: items.count("start") == 2, "the streams to be opened again")
    peer = await new_client(node, tmp_path / "peer.db")
    await (await peer.conversations.create_dm(agent.inbox_id)).send_text("after the failure")
    await recorder.wait_until_contains("after the failure")
    assert recorder.items == ["start", "streams failed", "start", "after the failure"]
    await agent.stop()
    await peer.close()


async def test_error_middleware_that_does_not_recover_stops_the_agent(
    agent: Agent, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_now = asyncio.Event()
    fail_streams(agent, monkeypatch, ready_first=fail_now)
    record(agent, recorder)

    @agent.error_middleware
    def give_up(error: Exception, ctx: AgentContext, next_: ErrorNext) -> None:
        recorder.add(f"giving up on {type(error).__name__}")  # returns without next(): not recovered

    run = asyncio.create_task(agent.run(handle_signals=False))
    await recorder.wait_until_contains("start")
    fail_now.set()
    await asyncio.wait_for(run, 30)  # run() returns: the agent stopped
    assert not agent.is_running
    assert recorder.items == ["start", "giving up on AgentStreamingError", "stop"]


async def test_start_raises_when_the_first_streams_fail_and_nobody_recovers(
    agent: Agent, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_streams(agent, monkeypatch, ready_first=None)

    @agent.errors.use
    async def give_up(error: Exception, ctx: AgentContext, next_: ErrorNext) -> None:
        recorder.add("given up")

    with pytest.raises(AgentStreamingError, match="PERMISSION_DENIED") as raised:
        await agent.start()
    assert raised.value.__cause__ is REFUSED and recorder.items == ["given up"]
    assert not agent.is_running
