"""The agent's flow with a real node and a pyxmtp client as the other party: start and stop, the middleware's
order and ``next()``, error middleware, handlers that raise, the agent's own messages, conversation events,
stopping from a handler, and restarting from the database."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.agent import (
    Agent,
    AgentContext,
    AgentUsageError,
    ConversationContext,
    ErrorNext,
    MessageContext,
    Next,
)
from pyxmtp.client import Client, Dm, Group
from pyxmtp.node import Node

from .conftest import Recorder, eventually, new_client

pytestmark = pytest.mark.timeout(120)


async def peer_and_dm(node: Node, tmp_path: Path, agent: Agent) -> tuple[Client, Dm]:
    peer = await new_client(node, tmp_path / "peer.db")
    return peer, await peer.conversations.create_dm(agent.inbox_id)


async def started_with_dm(node: Node, tmp_path: Path, agent: Agent) -> tuple[Client, Dm]:
    """``agent`` started, then a new peer with a DM to it."""
    await agent.start()
    return await peer_and_dm(node, tmp_path, agent)


async def test_start_and_stop_emit_their_events_and_the_agent_restarts(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path
) -> None:
    @agent.on_start
    def started(ctx: AgentContext) -> None:
        assert ctx.client is agent.client and ctx.inbox_id == agent.inbox_id
        recorder.add("start")

    @agent.on_stop
    async def stopped(ctx: AgentContext) -> None:
        recorder.add("stop")

    @agent.on_text
    async def text(ctx: MessageContext[str]) -> None:
        recorder.add(ctx.content)

    assert not agent.is_running
    await agent.stop()  # not running: nothing
    assert recorder.items == []
    await agent.start()
    assert agent.is_running and recorder.items == ["start"]  # start returns once the start handlers ran
    await agent.start()  # running: nothing
    assert recorder.items == ["start"]

    peer, dm = await peer_and_dm(node, tmp_path, agent)
    await dm.send_text("while running")
    await recorder.wait_until_contains("while running")
    await agent.stop()
    assert not agent.is_running and recorder.items == ["start", "while running", "stop"]

    await dm.send_text("while stopped")  # handed out by the next start: the stream brings what it missed
    await agent.start()
    await recorder.wait_until_contains("while stopped")
    await agent.stop()
    assert recorder.items == ["start", "while running", "stop", "start", "while stopped", "stop"]
    await peer.close()


async def test_middleware_runs_in_registration_order_around_the_handlers(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path
) -> None:
    def layer(name: str) -> Any:
        async def middleware(ctx: MessageContext[object], next_: Next) -> None:
            recorder.add(f"{name}>")
            await next_()
            recorder.add(f"<{name}")

        return middleware

    agent.use(layer("a"), [layer("b"), layer("c")])

    @agent.middleware
    async def d(ctx: MessageContext[object], next_: Next) -> None:
        recorder.add("d>")
        await next_()
        await next_()  # a second call does nothing
        recorder.add("<d")

    @agent.on_text
    async def first(ctx: MessageContext[str]) -> None:
        recorder.add(f"text:{ctx.content}")

    @agent.on("text")
    async def second(ctx: MessageContext[str]) -> None:
        recorder.add("text again")

    @agent.on_message
    def every(ctx: MessageContext[object]) -> None:  # a plain function works too
        recorder.add("message")

    peer, dm = await started_with_dm(node, tmp_path, agent)
    await dm.send_text("hi")
    await recorder.wait_until_contains("<a")
    assert recorder.items == [
        "a>", "b>", "c>", "d>", "text:hi", "text again", "message", "<d", "<c", "<b", "<a",
    ]  # fmt: skip
    await peer.close()


async def test_a_middleware_that_does_not_call_next_stops_the_message(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path
) -> None:
    @agent.middleware
    async def only_some(ctx: MessageContext[object], next_: Next) -> None:
        recorder.add(f"saw {ctx.content}")
        if not str(ctx.content).startswith("drop"):
            await next_()

    @agent.middleware
    async def after(ctx: MessageContext[object], next_: Next) -> None:
        recorder.add(f"after {ctx.content}")
        await next_()

    @agent.on_text
    async def text(ctx: MessageContext[str]) -> None:
        recorder.add(f"handled {ctx.content}")

    peer, dm = await started_with_dm(node, tmp_path, agent)
    await dm.send_text("drop me")
    await dm.send_text("keep me")
    await recorder.wait_until_contains("handled keep me")
    assert recorder.items == ["saw drop me", "saw keep me", "after keep me", "handled keep me"]
    await peer.close()


async def test_error_middleware_decides_and_a_failing_handler_never_stops_the_agent(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path
) -> None:
    class Boom(Exception):
        pass

    @agent.middleware
    async def fails_on_request(ctx: MessageContext[object], next_: Next) -> None:
        if ctx.content == "middleware fails":
            raise Boom("from middleware")
        await next_()

    @agent.on_text
    async def fails(ctx: MessageContext[str]) -> None:
        recorder.add(f"first {ctx.content}")
        if ctx.content != "fine":
            raise Boom(ctx.content)

    @agent.on_text
    async def later(ctx: MessageContext[str]) -> None:
        recorder.add(f"second {ctx.content}")

    @agent.error_middleware
    async def transform(error: Exception, ctx: AgentContext, next_: ErrorNext) -> None:
        assert isinstance(ctx, MessageContext)
        await next_(RuntimeError(f"wrapped {error}"))  # the next error middleware decides

    @agent.error_middleware
    def decide(error: Exception, ctx: AgentContext, next_: ErrorNext) -> None:
        recorder.add(f"error: {error}")
        if "recover" in str(error):
            next_()  # handled: the flow goes on (awaiting it is optional)
        elif "raise" in str(error):
            raise KeyError("replaced")  # goes on to the default handler
        # else: handled, the message stops here

    @agent.on_unhandled_error
    async def unhandled(error: Exception) -> None:
        recorder.add(f"unhandled: {error!r}")

    peer, dm = await started_with_dm(node, tmp_path, agent)
    for text in ("recover", "stop here", "raise", "middleware fails", "fine"):
        await dm.send_text(text)
    await recorder.wait_until_contains("second fine")
    assert recorder.items == [
        "first recover",
        "error: wrapped recover",
        "second recover",  # recovered: the next handler runs
        "first stop here",
        "error: wrapped stop here",  # returned without next(): the message stops
        "first raise",
        "error: wrapped raise",
        "unhandled: KeyError('replaced')",  # the default handler's event; the message stops
        "error: wrapped from middleware",  # a middleware raised: the message stops (not recovered)
        "first fine",
        "second fine",  # and the agent went on all along
    ]
    assert agent.is_running
    await peer.close()


async def test_a_recovered_middleware_error_goes_on_to_the_handlers(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path
) -> None:
    @agent.middleware
    async def fails(ctx: MessageContext[object], next_: Next) -> None:
        raise ValueError("middleware")

    @agent.errors.use
    async def recover(error: Exception, ctx: AgentContext, next_: ErrorNext) -> None:
        recorder.add(f"recovered {error}")
        await next_()

    @agent.on_text
    async def text(ctx: MessageContext[str]) -> None:
        recorder.add(f"handled {ctx.content}")

    peer, dm = await started_with_dm(node, tmp_path, agent)
    await dm.send_text("x")
    await recorder.wait_until_contains("handled x")
    assert recorder.items == ["recovered middleware", "handled x"]
    await peer.close()


async def test_the_agents_own_messages_are_never_handled(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path
) -> None:
    @agent.on_message
    async def every(ctx: MessageContext[object]) -> None:
        assert not ctx.is_from_self()
        recorder.add(ctx.content)
        await ctx.send_text(f"echo {ctx.content}")

    peer, dm = await started_with_dm(node, tmp_path, agent)

    def texts_are(*expected: str) -> Any:
        async def check() -> bool:
            await dm.sync()
            return dm.texts() == list(expected)

        return check

    await dm.send_text("one")
    await eventually(texts_are("one", "echo one"), "the agent's echo")
    await dm.send_text("two")  # the agent's stream brings its own "echo one" before this one
    await eventually(texts_are("one", "echo one", "two", "echo two"), "the agent's second echo")
    assert recorder.items == ["one", "two"]
    await peer.close()


async def test_conversation_events_for_a_dm_and_a_group(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path
) -> None:
    @agent.on_conversation
    async def any_conversation(ctx: ConversationContext[Any]) -> None:
        recorder.add(("conversation", ctx.conversation.id))

    @agent.on_dm
    async def dm(ctx: ConversationContext[Dm]) -> None:
        assert ctx.is_dm() and not ctx.is_group()
        recorder.add(("dm", ctx.conversation.peer_inbox_id))
        await ctx.send_text("welcome to our DM")

    @agent.on_group
    async def group(ctx: ConversationContext[Group]) -> None:
        assert ctx.is_group() and ctx.is_unknown  # added by someone else: consent unknown
        recorder.add(("group", ctx.conversation.name))
        await ctx.send_markdown("**hello group**")

    await agent.start()
    peer = await new_client(node, tmp_path / "peer.db")
    peer_dm = await peer.conversations.create_dm(agent.inbox_id)
    await recorder.wait_until_contains(("dm", peer.inbox_id))
    peer_group = await peer.conversations.create_group([agent.inbox_id], name="the group")
    await recorder.wait_until_contains(("group", "the group"))
    assert recorder.items == [
        ("conversation", peer_dm.id),
        ("dm", peer.inbox_id),
        ("conversation", peer_group.id),
        ("group", "the group"),
    ]

    async def greeted() -> bool:
        await peer_dm.sync()
        await peer_group.sync()
        return peer_dm.texts() == ["welcome to our DM"] and [m.content for m in peer_group.messages()][
            -1:
        ] == ["**hello group**"]

    await eventually(greeted, "the agent's greetings")
    await peer.close()


async def test_stop_from_a_handler_ends_run(
    agent: Agent, recorder: Recorder, node: Node, tmp_path: Path
) -> None:
    @agent.on_text
    async def quit_on_request(ctx: MessageContext[str]) -> None:
        if ctx.content == "/quit":
            await ctx.send_text("bye")
            await agent.stop()  # returns at once; the agent stops once this handler returns
            recorder.add("asked to stop")

    @agent.on_stop
    def stopped(ctx: AgentContext) -> None:
        recorder.add("stop")

    @agent.on_start
    async def started(ctx: AgentContext) -> None:
        peer, dm = await peer_and_dm(node, tmp_path, agent)
        recorder.add(peer)
        await dm.send_text("/quit")

    await asyncio.wait_for(agent.run(handle_signals=False), 60)
    assert not agent.is_running
    assert recorder.items[1:] == ["asked to stop", "stop"]
    await recorder.items[0].close()


async def test_unknown_event_names_are_refused(agent: Agent) -> None:
    with pytest.raises(AgentUsageError, match="no event 'txt'"):
        agent.on("txt")
    handler = agent.on("unknownMessage")(lambda ctx: None)  # agent-sdk's camelCase names are accepted
    assert agent.handlers("unknown-message") == [handler]
    agent.remove_handler("unknown-message", handler)
    assert agent.handlers("unknown-message") == []


async def test_a_signal_stops_an_agent_still_waiting_for_its_node(
    agent: Agent, recorder: Recorder, node: Node
) -> None:
    """SIGTERM while start() waits for a node that went away (the streams retry it): run() returns, no start
    or stop was emitted, and the signal handlers are gone again."""

    @agent.on_start
    def started(ctx: AgentContext) -> None:
        recorder.add("start")

    await node.stop(grace=0)
    run = asyncio.create_task(agent.run())
    await eventually(lambda: agent.is_running, "the agent to be starting")
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(run, 30)
    assert not agent.is_running and recorder.items == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
