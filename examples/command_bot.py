"""A command bot (pyxmtp.agent): slash commands routed by a CommandRouter, with a /help that lists them.

    XMTP_WALLET_KEY=0x... XMTP_ENV=local XMTP_DB_DIRECTORY=./command-bot python examples/command_bot.py

Commands: ``/help``, ``/ping [words]``, ``/whoami`` (your address and inbox id), ``/roll [NdM]`` (dice),
``/time``. An unknown ``/command`` gets a hint; in a DM, plain text does too (in a group the bot keeps quiet).
Settings as in ``echo_agent.py``.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import secrets
import sys

from pyxmtp.agent import (
    Agent,
    AgentConfigError,
    AgentContext,
    CommandContext,
    CommandRouter,
    MessageContext,
    load_env_file,
)

_DICE = re.compile(r"\A(\d{0,2})d(\d{1,3})\Z")


def router() -> CommandRouter:
    commands = CommandRouter(help_command="/help")

    @commands.command("/ping", "Answer pong (with your words)")
    async def ping(ctx: CommandContext) -> None:
        await ctx.send_text(f"pong {ctx.args}".strip())

    @commands.command("/whoami", "Your address and inbox id")
    async def whoami(ctx: CommandContext) -> None:
        address = await ctx.get_sender_address()
        await ctx.send_reply(f"you are {address or 'an inbox without address'} (inbox {ctx.sender_inbox_id})")

    @commands.command("/roll", "Roll dice: /roll 2d6")
    async def roll(ctx: CommandContext) -> None:
        found = _DICE.match(ctx.args or "1d6")
        if found is None or int(found.group(2)) < 2:
            await ctx.send_reply("roll what? e.g. /roll 2d6")
            return
        count, sides = int(found.group(1) or 1), int(found.group(2))
        rolls = [secrets.randbelow(sides) + 1 for _ in range(max(1, min(count, 20)))]
        await ctx.send_reply(f"{' + '.join(map(str, rolls))} = {sum(rolls)}")

    @commands.command("/time", "The time (UTC)")
    async def now(ctx: CommandContext) -> None:
        await ctx.send_text(datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))

    @commands.unknown
    async def unknown(ctx: CommandContext) -> None:
        await ctx.send_reply(f"no command {ctx.command}; send /help")

    return commands


def setup(agent: Agent) -> None:
    """The bot's router and handlers."""
    agent.use(router().middleware())

    @agent.on_text
    async def hint(ctx: MessageContext[str]) -> None:  # texts the router passed on: not commands
        if ctx.is_dm():
            await ctx.send_text("I answer commands: send /help")

    @agent.on_start
    def started(ctx: AgentContext) -> None:
        print(f"command bot {agent.address} (inbox {agent.inbox_id}) on {agent.env}", flush=True)

    @agent.on_stop
    def stopped(ctx: AgentContext) -> None:
        print("command bot stopped", flush=True)


async def main() -> None:
    load_env_file()
    async with await Agent.from_env() as agent:
        setup(agent)
        await agent.run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AgentConfigError as exc:
        sys.exit(f"command_bot: {exc}")
