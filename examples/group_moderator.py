"""A group moderator (pyxmtp.agent): removes members who post a banned word, welcomes new members, and answers
``/kick`` from admins.

    XMTP_WALLET_KEY=0x... XMTP_ENV=local XMTP_DB_DIRECTORY=./moderator python examples/group_moderator.py

- In a DM, ``/group [name]`` makes a moderated group with you in it (the moderator is its super admin; any member
  may add others, only admins remove, as libxmtp's default permissions say).
- In a group it posts the rules when it joins, welcomes members others add, and removes a member (not an admin)
  whose text has a banned word (``MODERATOR_BANNED_WORDS``, comma-separated; default ``spam,scam``). Where it
  is not an admin it cannot remove anyone: it reacts with a warning and replies instead.
- ``/kick <address or inbox id>`` from a group admin removes that member; ``/rules`` shows the rules.

What it cannot do yet: make you an admin of the group it made (``Group.add_admin`` is not wired in the SDK yet),
so in its own groups only it moderates; in a group you made and where you made it an admin, your ``/kick``
works too. Settings as in ``echo_agent.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Iterable

from pyxmtp.agent import (
    Agent,
    AgentConfigError,
    AgentContext,
    CommandContext,
    CommandRouter,
    ConversationContext,
    MessageContext,
    load_env_file,
)
from pyxmtp.client import Client, Group, MembershipUpdateError
from pyxmtp.conversations.content import GroupUpdated

DEFAULT_BANNED = ("spam", "scam")
_ADDRESS = re.compile(r"\A0x[0-9a-fA-F]{40}\Z")


def banned_words_from_env() -> frozenset[str]:
    text = os.environ.get("MODERATOR_BANNED_WORDS", "")
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    return frozenset(words or DEFAULT_BANNED)


def is_moderator(group: Group, inbox_id: str) -> bool:
    return group.is_admin(inbox_id) or group.is_super_admin(inbox_id)


async def names(client: Client, inbox_ids: Iterable[str]) -> list[str]:
    """Each inbox's address (its inbox id if it has none)."""
    wanted = list(inbox_ids)
    states = {s.inbox_id: s for s in await client.preferences.get_inbox_states(wanted)}
    out = []
    for inbox_id in wanted:
        state = states.get(inbox_id)
        out.append(
            str(state.account_identifiers[0]) if state is not None and state.account_identifiers else inbox_id
        )
    return out


def setup(agent: Agent, banned: frozenset[str] = frozenset(DEFAULT_BANNED)) -> None:
    """The moderator's router and handlers."""
    rules = f"House rules: no {', '.join(sorted(banned))}. Members who post them are removed."
    commands = CommandRouter(help_command="/help")

    @commands.command("/group", "Make a moderated group with you in it: /group [name]")
    async def new_group(ctx: CommandContext) -> None:
        if not ctx.is_dm():
            await ctx.send_reply("ask me for a group in a DM")
            return
        group = await ctx.client.conversations.create_group(
            [ctx.sender_inbox_id], name=ctx.args or "moderated group"
        )
        await ctx.send_reply(f"made the group {group.name!r}; add whoever you like")

    @commands.command("/rules", "The rules")
    async def show_rules(ctx: CommandContext) -> None:
        await ctx.send_text(rules)

    @commands.command("/kick", "Remove a member (admins only): /kick <address or inbox id>")
    async def kick(ctx: CommandContext) -> None:
        group = ctx.conversation
        if not isinstance(group, Group):
            await ctx.send_reply("/kick works in a group")
            return
        if not is_moderator(group, ctx.sender_inbox_id):
            await ctx.send_reply("only admins can /kick")
            return
        if not is_moderator(group, agent.inbox_id):
            await ctx.send_reply("I am not an admin here: I cannot remove anyone")
            return
        target = ctx.args
        if _ADDRESS.match(target):
            target = await ctx.client.fetch_inbox_id_by_identifier(target) or target
        if target not in group.member_inbox_ids() or target == agent.inbox_id:
            await ctx.send_reply(f"{ctx.args or 'nobody'} is not a member I can remove")
            return
        await group.remove_members([target])
        await ctx.send_text(f"removed {ctx.args}")

    agent.use(commands.middleware())

    @agent.on_group
    async def joined(ctx: ConversationContext[Group]) -> None:
        await ctx.send_text(rules)

    @agent.on_group_update
    async def welcome(ctx: MessageContext[GroupUpdated]) -> None:
        added = [i for i in ctx.content.added_inboxes if i != agent.inbox_id]
        if added and ctx.is_group():
            await ctx.send_text(f"Welcome, {', '.join(await names(ctx.client, added))}! {rules}")

    @agent.on_text
    async def moderate(ctx: MessageContext[str]) -> None:
        group = ctx.conversation
        if not isinstance(group, Group) or not banned & set(re.findall(r"\w+", ctx.content.lower())):
            return
        sender = ctx.sender_inbox_id
        if is_moderator(group, sender):
            return  # admins may say what they like
        if not is_moderator(group, agent.inbox_id):
            await ctx.send_reaction("⚠️")
            await ctx.send_reply("that word is not allowed here")
            return
        [who] = await names(ctx.client, [sender])
        try:
            await group.remove_members([sender])
        except MembershipUpdateError:  # left meanwhile, say
            return
        await ctx.send_text(f"removed {who} for posting a banned word")

    @agent.on_start
    def started(ctx: AgentContext) -> None:
        print(f"group moderator {agent.address} (inbox {agent.inbox_id}) on {agent.env}", flush=True)

    @agent.on_stop
    def stopped(ctx: AgentContext) -> None:
        print("group moderator stopped", flush=True)


async def main() -> None:
    load_env_file()
    async with await Agent.from_env() as agent:
        setup(agent, banned_words_from_env())
        await agent.run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AgentConfigError as exc:
        sys.exit(f"group_moderator: {exc}")
