"""A real libxmtp user (xmtp-bindings 0.1.8 = libxmtp 1.10.0) talks to a pyxmtp.agent agent through a real
node: texts echoed, a reply and a reaction handled and answered (libxmtp reads the agent's answers as a reply and
a reaction to its own messages), commands routed, and a group libxmtp makes joined and followed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyxmtp.agent import Agent, CommandContext, CommandRouter, ConversationContext, MessageContext
from pyxmtp.agent import filters as f
from pyxmtp.client import Dm, EnrichedReply, Group
from pyxmtp.conversations.content import (
    GroupUpdated,
    Markdown,
    Reaction,
    ReactionV2Codec,
    Reply,
    Text,
    encode_content,
)
from pyxmtp.node import Node
from tests.client.test_libxmtp_interop import group_options, libxmtp_api, open_dm
from tests.interop.libxmtp import User

from .conftest import Recorder, make_agent
from .libxmtp_user import libxmtp_send, read, wait_for_message

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


def chat_agent(agent: Agent, seen: Recorder) -> None:
    """The test's agent: echoes texts, answers replies and reactions, reacts on request, routes commands."""
    router = CommandRouter(help_command="/help")

    @router.command("/ping", "answer pong")
    async def ping(ctx: CommandContext) -> None:
        seen.add(("command", ctx.command, ctx.args, ctx.argv))
        await ctx.send_text(f"pong {ctx.args}")

    agent.use(router.middleware())

    @agent.on_text
    async def text(ctx: MessageContext[str]) -> None:
        seen.add(("text", ctx.content))
        message = ctx.message
        checks = (
            f.is_text(message),
            f.has_content(message),
            f.is_dm(ctx.conversation),
            f.is_group(ctx.conversation),
        )
        seen.add(("text checks", checks, ctx.is_text(), ctx.is_reply()))
        if ctx.content == "react to this":
            await ctx.send_reaction("👀")
        else:
            await ctx.send_text(f"echo: {ctx.content}")

    @agent.on_reply
    async def reply(ctx: MessageContext[EnrichedReply]) -> None:
        answered = ctx.content.in_reply_to
        seen.add(("reply checks", f.is_reply(ctx.message), f.is_text_reply(ctx.message), ctx.is_reply()))
        seen.add(("reply", ctx.content.content, ctx.content.reference, answered and answered.content))
        await ctx.send_reply(f"you replied {ctx.content.content}")

    @agent.on_reaction
    async def reaction(ctx: MessageContext[Reaction]) -> None:
        seen.add(("reaction", ctx.content.content, ctx.content.reference, ctx.content.action))
        message = ctx.message
        checks = (
            f.has_content_type(message, "reaction"),
            f.uses_codec(message, ReactionV2Codec),
            ctx.is_reaction(),
        )
        seen.add(("reaction checks", checks))
        await ctx.send_text(f"{await ctx.get_sender_address()} reacted {ctx.content.content}")

    @agent.on_dm
    async def dm(ctx: ConversationContext[Dm]) -> None:
        seen.add("dm")


async def test_a_libxmtp_user_and_an_agent_talk_in_a_dm(node: Node, tmp_path: Path) -> None:
    seen = Recorder()
    agent = await make_agent(node, tmp_path / "agent.db3")
    chat_agent(agent, seen)
    await agent.start()
    alice = await User.register(await libxmtp_api(node))
    dm = await open_dm(alice, agent.inbox_id)
    me, it = alice.inbox_id, agent.inbox_id

    # a text, echoed
    hello = await libxmtp_send(dm, Text("hello agent"))
    echo = await wait_for_message(dm, it, "the echo", lambda s: s.value == "echo: hello agent")
    assert echo.type_id == "text"

    # a reply to the echo: the agent reads it (with the message it answers) and replies to the reply
    answer = await libxmtp_send(dm, Reply(echo.id.hex(), encode_content(Text("nice echo")), it))
    replied = await wait_for_message(dm, it, "the agent's reply", lambda s: s.type_id == "reply")
    assert isinstance(replied.value, Reply)
    assert (replied.value.reference, replied.value.reference_inbox_id) == (answer.hex(), me)
    assert replied.value.content == encode_content(Text("you replied nice echo"))

    # a reaction to the echo: the agent reads it and answers, naming the sender's address
    await libxmtp_send(dm, Reaction(echo.id.hex(), "added", "👍", "unicode", it), push=False)
    await wait_for_message(
        dm, it, "the agent's answer to the reaction", lambda s: s.value == f"{alice.address} reacted 👍"
    )

    # the agent reacts to a text of ours
    asked = await libxmtp_send(dm, Text("react to this"))
    reacted = await wait_for_message(dm, it, "the agent's reaction", lambda s: s.type_id == "reaction")
    assert reacted.value == Reaction(asked.hex(), "added", "👀", "unicode", me)

    # commands: routed, not echoed
    await libxmtp_send(dm, Text("/PING  x y "))
    await wait_for_message(dm, it, "pong", lambda s: s.value == "pong x y")
    help_asked = await libxmtp_send(dm, Text("/help"))
    helped = await wait_for_message(
        dm, it, "the help", lambda s: s.type_id == "reply" and s.value.reference == help_asked.hex()
    )
    assert isinstance(helped.value, Reply)
    assert helped.value.content == encode_content(
        Markdown("1. `/help` - Show available commands\n2. `/ping` - answer pong")
    )

    await seen.wait_until_contains("dm")  # the conversation's event, handled beside its messages
    text_checks = ("text checks", (True, True, True, False), True, False)
    assert [i for i in seen.items if i != "dm"] == [
        ("text", "hello agent"),
        text_checks,
        ("reply checks", True, True, True),
        ("reply", "nice echo", echo.id.hex(), "echo: hello agent"),
        ("reaction", "👍", echo.id.hex(), "added"),
        ("reaction checks", (True, True, True)),
        ("text", "react to this"),
        text_checks,
        ("command", "/ping", "x y", ["x", "y"]),
    ]
    texts = [s.value for s in await read(dm) if s.type_id == "text"]
    assert texts == [
        "hello agent",
        "echo: hello agent",
        f"{alice.address} reacted 👍",
        "react to this",
        "/PING  x y ",
        "pong x y",
        "/help",
    ]  # the agent never answered its own messages
    assert hello not in {s.id for s in await read(dm) if s.sender == it}
    await agent.close()


async def test_an_agent_joins_a_libxmtp_group_and_follows_its_updates(node: Node, tmp_path: Path) -> None:
    seen = Recorder()
    agent = await make_agent(node, tmp_path / "agent.db3")

    @agent.on_group
    async def joined(ctx: ConversationContext[Group]) -> None:
        group = ctx.conversation
        seen.add(("group", group.name, group.added_by_inbox_id))
        await ctx.send_text(f"hello {group.name}")

    @agent.on_group_update
    async def updated(ctx: MessageContext[GroupUpdated]) -> None:
        update = ctx.content
        seen.add(("update", update.initiated_by_inbox_id, update.metadata_changes, update.added_inboxes))
        for name, _, new in update.metadata_changes:
            if name == "group_name":
                await ctx.send_text(f"renamed to {new}")

    @agent.on_text
    async def text(ctx: MessageContext[str]) -> None:
        admin = (
            f.is_group_admin(ctx.conversation, ctx.message),
            f.is_group_super_admin(ctx.conversation, ctx.message),
        )
        seen.add(("text", ctx.content, ctx.is_group(), admin))

    await agent.start()
    api = await libxmtp_api(node)
    alice, carol = await User.register(api), await User.register(api)
    group = await alice.client.conversations().create_group([agent.inbox_id], group_options("agents welcome"))
    await wait_for_message(
        group, agent.inbox_id, "the agent's hello", lambda s: s.value == "hello agents welcome"
    )

    await group.send_text("hi all")
    await group.update_group_name("renamed by alice")
    await wait_for_message(
        group, agent.inbox_id, "the agent's answer", lambda s: s.value == "renamed to renamed by alice"
    )
    await group.add_members([carol.inbox_id])
    await seen.wait_for(
        lambda items: any(i[0] == "update" and i[3] for i in items), "the agent to see carol join"
    )

    assert seen.items == [
        ("group", "agents welcome", alice.inbox_id),
        ("text", "hi all", True, (False, True)),  # alice made the group: its super admin
        ("update", alice.inbox_id, (("group_name", "agents welcome", "renamed by alice"),), ()),
        ("update", alice.inbox_id, (), (carol.inbox_id,)),
    ]
    await agent.close()
