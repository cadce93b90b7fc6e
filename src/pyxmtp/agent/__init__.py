"""``pyxmtp.agent``: event-driven XMTP agents on the client SDK, in the spirit of agent-sdk 2.x (Python-style:
snake_case, asyncio, typed).

::

    import asyncio
    from pyxmtp.agent import Agent, CommandContext, CommandRouter, MessageContext

    async def main() -> None:
        async with await Agent.from_env() as agent:  # XMTP_WALLET_KEY, XMTP_ENV / XMTP_NODE_URL, ...
            router = CommandRouter(help_command="/help")

            @router.command("/ping", "answer pong")
            async def ping(ctx: CommandContext) -> None:
                await ctx.send_text(f"pong {ctx.args}".strip())

            agent.use(router.middleware())

            @agent.on_text
            async def echo(ctx: MessageContext[str]) -> None:
                await ctx.send_reply(ctx.content)

            await agent.run()  # until SIGINT / SIGTERM

    asyncio.run(main())

- :mod:`.agent`: :class:`Agent` (making one, start / stop / run, how messages are dispatched);
- :mod:`.events`: the events and which one a message is; :mod:`.handlers`: registering handlers;
- :mod:`.context`: what handlers get (:class:`AgentContext`, :class:`ConversationContext`,
  :class:`MessageContext`); :mod:`.chain`: middleware and error middleware; :mod:`.commands`:
  :class:`CommandRouter`; :mod:`.filters`: predicates;
- :mod:`.config` and :mod:`.network`: the environment variables and the networks.
"""

from . import filters
from .agent import Agent
from .chain import ErrorMiddleware, ErrorNext, Middleware, Next
from .commands import CommandContext, CommandHandler, CommandRouter
from .config import AgentSettings, load_env_file, read_settings
from .context import AgentContext, ConversationContext, MessageContext
from .errors import AgentConfigError, AgentError, AgentStreamingError, AgentUsageError, ConversationNotFound
from .events import ALL_EVENTS
from .handlers import ErrorHandler, Handler
from .network import NETWORKS, NodeTarget, get_test_url, parse_node_url, resolve_node

__all__ = [
    "ALL_EVENTS",
    "NETWORKS",
    "Agent",
    "AgentConfigError",
    "AgentContext",
    "AgentError",
    "AgentSettings",
    "AgentStreamingError",
    "AgentUsageError",
    "CommandContext",
    "CommandHandler",
    "CommandRouter",
    "ConversationContext",
    "ConversationNotFound",
    "ErrorHandler",
    "ErrorMiddleware",
    "ErrorNext",
    "Handler",
    "MessageContext",
    "Middleware",
    "Next",
    "NodeTarget",
    "filters",
    "get_test_url",
    "load_env_file",
    "parse_node_url",
    "read_settings",
    "resolve_node",
]
