"""Where an agent keeps its handlers and middleware: :class:`Handlers`, the base of :class:`~.agent.Agent`.

Handlers are registered with decorators, typed per event (``@agent.on_text``, ``@agent.on_reply``, ...) or by
name (``@agent.on("text")``); each may be ``async def`` or plain ``def``; several per event run in the order
they were registered. Middleware is added with ``agent.use(mw, ...)`` or ``@agent.middleware``, error middleware
with ``agent.errors.use(emw, ...)`` or ``@agent.error_middleware`` (:mod:`.chain` says how they run).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Self, TypeAlias, TypeVar

from pyxmtp.client import Conversation, Dm, EnrichedReply, Group
from pyxmtp.conversations.content import (
    Actions,
    Attachment,
    GroupUpdated,
    Intent,
    LeaveRequest,
    MultiRemoteAttachment,
    Reaction,
    ReadReceipt,
    RemoteAttachment,
    TransactionReference,
    WalletSendCalls,
)

from .chain import ErrorMiddleware, Middleware
from .context import AgentContext, ConversationContext, MessageContext
from .events import ALL_EVENTS, event_name

__all__ = ["ErrorHandler", "ErrorRegistrar", "Handler", "Handlers"]

C = TypeVar("C")
#: A handler of an event whose context is ``C``: ``async def handler(ctx: C) -> None`` (or a plain ``def``).
Handler: TypeAlias = Callable[[C], Awaitable[None] | None]
#: An ``unhandled-error`` handler: ``async def handler(error: Exception) -> None``.
ErrorHandler: TypeAlias = Callable[[Exception], Awaitable[None] | None]
H = TypeVar("H", bound=Callable[..., Any])
M = TypeVar("M", bound=Middleware)
E = TypeVar("E", bound=ErrorMiddleware)


def _flatten(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, list | tuple):
            out.extend(item)
        else:
            out.append(item)
    return out


class ErrorRegistrar:
    """``agent.errors``: ``agent.errors.use(emw, ...)`` adds error middleware (lists too), in order."""

    def __init__(self, chain: list[ErrorMiddleware]) -> None:
        self._chain = chain

    def use(self, *error_middleware: ErrorMiddleware | Iterable[ErrorMiddleware]) -> ErrorRegistrar:
        self._chain.extend(_flatten(error_middleware))
        return self


class Handlers:
    """The handlers and middleware of an agent (see the module docstring)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[..., Any]]] = {name: [] for name in ALL_EVENTS}
        self._middleware: list[Middleware] = []
        self._error_middleware: list[ErrorMiddleware] = []
        self.errors = ErrorRegistrar(self._error_middleware)

    # --- by name ------------------------------------------------------------------------------------------
    def on(self, event: str) -> Callable[[H], H]:
        """A decorator registering a handler of ``event`` (any name of :mod:`.events`)::

        @agent.on("text")
        async def echo(ctx: MessageContext[str]) -> None: ...
        """
        name = event_name(event)

        def register(handler: H) -> H:
            self._handlers[name].append(handler)
            return handler

        return register

    def add_handler(self, event: str, handler: Callable[..., Any]) -> None:
        """Register ``handler`` for ``event`` (the non-decorator form of :meth:`on`)."""
        self._handlers[event_name(event)].append(handler)

    def remove_handler(self, event: str, handler: Callable[..., Any]) -> None:
        """Unregister ``handler`` from ``event`` (nothing if it is not registered)."""
        handlers = self._handlers[event_name(event)]
        if handler in handlers:
            handlers.remove(handler)

    def handlers(self, event: str) -> list[Callable[..., Any]]:
        """The handlers of ``event``, in order (a copy)."""
        return list(self._handlers[event_name(event)])

    # --- middleware ---------------------------------------------------------------------------------------
    def use(self, *middleware: Middleware | Iterable[Middleware]) -> Self:
        """Add middleware (lists too), run in the order added; the agent, for chaining."""
        self._middleware.extend(_flatten(middleware))
        return self

    def middleware(self, middleware: M) -> M:
        """A decorator adding middleware: ``@agent.middleware``."""
        self._middleware.append(middleware)
        return middleware

    def error_middleware(self, error_middleware: E) -> E:
        """A decorator adding error middleware: ``@agent.error_middleware``."""
        self._error_middleware.append(error_middleware)
        return error_middleware

    # --- typed decorators, one per event ------------------------------------------------------------------
    def _add(self, event: str, handler: H) -> H:
        self._handlers[event].append(handler)
        return handler

    def on_text(self, handler: Handler[MessageContext[str]]) -> Handler[MessageContext[str]]:
        return self._add("text", handler)

    def on_markdown(self, handler: Handler[MessageContext[str]]) -> Handler[MessageContext[str]]:
        return self._add("markdown", handler)

    def on_reply(
        self, handler: Handler[MessageContext[EnrichedReply]]
    ) -> Handler[MessageContext[EnrichedReply]]:
        return self._add("reply", handler)

    def on_reaction(self, handler: Handler[MessageContext[Reaction]]) -> Handler[MessageContext[Reaction]]:
        return self._add("reaction", handler)

    def on_read_receipt(
        self, handler: Handler[MessageContext[ReadReceipt]]
    ) -> Handler[MessageContext[ReadReceipt]]:
        return self._add("read-receipt", handler)

    def on_attachment(
        self, handler: Handler[MessageContext[RemoteAttachment]]
    ) -> Handler[MessageContext[RemoteAttachment]]:
        """A remote attachment (download it with :func:`pyxmtp.client.attachments.download_attachment`)."""
        return self._add("attachment", handler)

    def on_inline_attachment(
        self, handler: Handler[MessageContext[Attachment]]
    ) -> Handler[MessageContext[Attachment]]:
        return self._add("inline-attachment", handler)

    def on_multi_attachment(
        self, handler: Handler[MessageContext[MultiRemoteAttachment]]
    ) -> Handler[MessageContext[MultiRemoteAttachment]]:
        return self._add("multi-attachment", handler)

    def on_group_update(
        self, handler: Handler[MessageContext[GroupUpdated]]
    ) -> Handler[MessageContext[GroupUpdated]]:
        """A commit's entry: members added or removed, metadata or admins changed (by ``initiated_by_inbox_id``)."""
        return self._add("group-update", handler)

    def on_leave_request(
        self, handler: Handler[MessageContext[LeaveRequest]]
    ) -> Handler[MessageContext[LeaveRequest]]:
        return self._add("leave-request", handler)

    def on_transaction_reference(
        self, handler: Handler[MessageContext[TransactionReference]]
    ) -> Handler[MessageContext[TransactionReference]]:
        return self._add("transaction-reference", handler)

    def on_wallet_send_calls(
        self, handler: Handler[MessageContext[WalletSendCalls]]
    ) -> Handler[MessageContext[WalletSendCalls]]:
        return self._add("wallet-send-calls", handler)

    def on_actions(self, handler: Handler[MessageContext[Actions]]) -> Handler[MessageContext[Actions]]:
        return self._add("actions", handler)

    def on_intent(self, handler: Handler[MessageContext[Intent]]) -> Handler[MessageContext[Intent]]:
        return self._add("intent", handler)

    def on_message(self, handler: Handler[MessageContext[object]]) -> Handler[MessageContext[object]]:
        """Every message, after its own event's handlers."""
        return self._add("message", handler)

    def on_unknown_message(self, handler: Handler[MessageContext[object]]) -> Handler[MessageContext[object]]:
        """A message of a type no other event names, or whose content did not decode."""
        return self._add("unknown-message", handler)

    def on_conversation(
        self, handler: Handler[ConversationContext[Conversation]]
    ) -> Handler[ConversationContext[Conversation]]:
        """Every conversation joined or created, before its ``dm`` or ``group`` event."""
        return self._add("conversation", handler)

    def on_dm(self, handler: Handler[ConversationContext[Dm]]) -> Handler[ConversationContext[Dm]]:
        return self._add("dm", handler)

    def on_group(self, handler: Handler[ConversationContext[Group]]) -> Handler[ConversationContext[Group]]:
        return self._add("group", handler)

    def on_start(self, handler: Handler[AgentContext]) -> Handler[AgentContext]:
        """The agent listens (its streams are open): after :meth:`~.agent.Agent.start`, and after each restart
        of its streams."""
        return self._add("start", handler)

    def on_stop(self, handler: Handler[AgentContext]) -> Handler[AgentContext]:
        return self._add("stop", handler)

    def on_unhandled_error(self, handler: ErrorHandler) -> ErrorHandler:
        """An error no error middleware handled (the default error handler's event)."""
        return self._add("unhandled-error", handler)
