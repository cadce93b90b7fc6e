"""An echo agent (pyxmtp.agent): answers every text it is sent, in any DM or group, with the same text.

    export XMTP_WALLET_KEY=0x$(python -c 'import os; print(os.urandom(32).hex())')   # once: the agent's wallet
    XMTP_ENV=local XMTP_DB_DIRECTORY=./echo-agent python examples/echo_agent.py

The settings come from the environment (or a ``.env`` file in the current directory): ``XMTP_WALLET_KEY``
(required: keep it, it is the agent's identity), ``XMTP_ENV`` (``local``: a pyxmtp node on 127.0.0.1:5556;
``dev``, ``production``), ``XMTP_NODE_URL`` (a node of your own, e.g. ``http://127.0.0.1:5556``),
``XMTP_DB_DIRECTORY`` (where the database is kept between runs), ``XMTP_DB_ENCRYPTION_KEY``. It prints its
address and inbox id once it listens, and stops cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys

from pyxmtp.agent import Agent, AgentConfigError, AgentContext, MessageContext, load_env_file


def setup(agent: Agent) -> None:
    """The echo agent's handlers."""

    @agent.on_text
    async def echo(ctx: MessageContext[str]) -> None:
        await ctx.send_text(ctx.content)

    @agent.on_start
    def started(ctx: AgentContext) -> None:
        print(f"echo agent {agent.address} (inbox {agent.inbox_id}) on {agent.env}", flush=True)
        if agent.test_url:
            print(f"talk to it at {agent.test_url}", flush=True)

    @agent.on_stop
    def stopped(ctx: AgentContext) -> None:
        print("echo agent stopped", flush=True)


async def main() -> None:
    load_env_file()  # a .env file in the current directory, if there is one
    async with await Agent.from_env() as agent:
        setup(agent)
        await agent.run()  # until Ctrl-C or SIGTERM


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AgentConfigError as exc:
        sys.exit(f"echo_agent: {exc}")
