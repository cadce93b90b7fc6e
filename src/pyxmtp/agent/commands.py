"""Slash commands (agent-sdk's ``CommandRouter``): ``/name args`` in a text message runs the command's handler.

::

    router = CommandRouter(help_command="/help")

    @router.command("/ping", "answer pong")
    async def ping(ctx: CommandContext) -> None:
        await ctx.send_text(f"pong {ctx.args}".strip())

    agent.use(router.middleware())

The first word of a text (up to the first whitespace, any case) names the command; the rest, stripped, is
``ctx.args`` (and split on whitespace, ``ctx.argv``). A text that is not a known command goes on to the next
middleware and the handlers, unless the router has an ``unknown`` handler (for ``/word`` that is no command) or a
``default`` handler (agent-sdk's: for every text no command took). ``help_command`` answers with a markdown
reply listing the commands, sorted, with their descriptions.

Unlike agent-sdk, the message is not changed: a command's handler gets a :class:`CommandContext` with the
``command`` and its ``args`` beside the unchanged ``message``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .chain import Middleware, Next, call
from .context import MessageContext
from .errors import AgentUsageError

__all__ = ["CommandContext", "CommandHandler", "CommandRouter"]


class CommandContext(MessageContext[str]):
    """A text message that is a command: ``command`` (lowercase, with its ``/``), ``args`` (the rest of the text,
    stripped) and ``argv`` (``args`` split on whitespace)."""

    def __init__(self, ctx: MessageContext[object], command: str, args: str) -> None:
        super().__init__(ctx.client, ctx.conversation, ctx.message)
        self.command = command
        self.args = args

    @property
    def argv(self) -> list[str]:
        return self.args.split()


#: ``async def handler(ctx: CommandContext) -> None`` (a plain ``def`` works too).
CommandHandler = Callable[[CommandContext], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class _Command:
    handler: CommandHandler
    description: str | None


def _check_name(command: str) -> str:
    if not command.startswith("/") or len(command) < 2 or any(c.isspace() for c in command):
        raise AgentUsageError(f"a command is '/' and a word, not {command!r}")
    return command.lower()


class CommandRouter:
    """Routes slash commands (see the module docstring)."""

    def __init__(self, *, help_command: str | None = None) -> None:
        self._commands: dict[str, _Command] = {}
        self._default: CommandHandler | None = None
        self._unknown: CommandHandler | None = None
        if help_command is not None:
            self.add(help_command, self._help, description="Show available commands")

    @property
    def command_list(self) -> list[str]:
        """The commands, in the order they were added."""
        return list(self._commands)

    def add(self, command: str, handler: CommandHandler, *, description: str | None = None) -> CommandRouter:
        """Route ``command`` (``/`` and a word; matched in any case) to ``handler``, replacing an earlier one;
        the router, for chaining."""
        self._commands[_check_name(command)] = _Command(handler, description)
        return self

    def command(
        self, command: str, description: str | None = None
    ) -> Callable[[CommandHandler], CommandHandler]:
        """A decorator: ``@router.command("/ping", "answer pong")``."""
        name = _check_name(command)

        def register(handler: CommandHandler) -> CommandHandler:
            self._commands[name] = _Command(handler, description)
            return handler

        return register

    def default(self, handler: CommandHandler) -> CommandHandler:
        """Handle every text no command took (agent-sdk's ``default``; ``command`` is ``""``, ``args`` the whole
        text). Usable as a decorator."""
        self._default = handler
        return handler

    def unknown(self, handler: CommandHandler) -> CommandHandler:
        """Handle a ``/word`` that is no command (before ``default``). Usable as a decorator."""
        self._unknown = handler
        return handler

    def help_text(self) -> str:
        """The markdown the help command answers with."""
        lines = []
        for number, (name, entry) in enumerate(sorted(self._commands.items()), 1):
            described = f" - {entry.description}" if entry.description else ""
            lines.append(f"{number}. `{name}`{described}")
        return "\n".join(lines)

    async def _help(self, ctx: CommandContext) -> None:
        await ctx.send_markdown_reply(self.help_text())

    async def handle(self, ctx: MessageContext[object]) -> bool:
        """Run the handler ``ctx``'s text calls for; whether one ran (False for a message that is not text)."""
        text = ctx.message.content
        if not ctx.is_text() or not isinstance(text, str):
            return False
        parts = text.strip().split(None, 1)
        word = parts[0] if parts else ""
        args = parts[1].strip() if len(parts) > 1 else ""
        name = word.lower()
        entry = self._commands.get(name) if name.startswith("/") else None
        if entry is not None:
            await call(entry.handler, CommandContext(ctx, name, args))
            return True
        if name.startswith("/") and len(name) > 1 and self._unknown is not None:
            await call(self._unknown, CommandContext(ctx, name, args))
            return True
        if self._default is not None:
            await call(self._default, CommandContext(ctx, "", text.strip()))
            return True
        return False

    def middleware(self) -> Middleware:
        """The router as middleware: a command's message stops at its handler; anything else goes on."""

        async def route(ctx: MessageContext[object], next_: Next) -> None:
            if not await self.handle(ctx):
                await next_()

        return route
