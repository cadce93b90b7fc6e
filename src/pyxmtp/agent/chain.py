"""Middleware and error middleware, and how they run (agent-sdk's rules).

Middleware (``async def mw(ctx, next)``) runs for every message the agent handles, in the order it was
registered, before the handlers: ``await next()`` hands the message on (to the next middleware, and after the
last to the handlers) and returns once everything after it is done; returning without calling it stops the
message there (no handler sees it); raising hands the exception to the error middleware. Calling ``next()`` a
second time does nothing.

Error middleware (``async def emw(error, ctx, next)``) runs in the order it was registered, then the default
handler (the ``unhandled-error`` event); ``ctx`` is the message's :class:`~.context.MessageContext` when there
was one, else an :class:`~.context.AgentContext`. Each one decides:

- ``next()``: the error is handled; the message goes on where it stopped (the middleware that raised is
  passed over, as if it had called ``next()``; after a handler, the next handler runs);
- ``next(other)``: hand ``other`` (or the same error) to the next error middleware;
- return without calling ``next``: the error is handled and the message stops there;
- raise: the raised exception goes to the next error middleware.

``next`` here may be awaited or not. Whatever the error middleware decides, the agent goes on with the next
message: a failing handler never stops it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .context import AgentContext, MessageContext

__all__ = ["ErrorMiddleware", "ErrorNext", "Middleware", "Next", "run_error_chain", "run_middleware"]

log = logging.getLogger("pyxmtp.agent")

#: What a middleware calls to hand the message on.
Next = Callable[[], Awaitable[None]]
#: ``async def mw(ctx, next) -> None``.
Middleware = Callable[[MessageContext[object], Next], Awaitable[None]]


class ErrorNext(Protocol):
    """What an error middleware calls: ``next()`` (handled, go on) or ``next(error)`` (the next one decides)."""

    def __call__(self, error: Exception | None = None, /) -> Awaitable[None]: ...


#: ``async def emw(error, ctx, next) -> None`` (a plain ``def`` works too).
ErrorMiddleware = Callable[[Exception, AgentContext, ErrorNext], Awaitable[None] | None]


async def call(handler: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    """Call a handler, plain or async."""
    result = handler(*args)
    if inspect.isawaitable(result):
        await result


class _Done:
    """An awaitable that is ready at once (what the error middleware's ``next`` returns)."""

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


_DONE = _Done()


@dataclass(slots=True)
class _ErrorNextCall:
    called: bool = False
    error: Exception | None = None

    def __call__(self, error: Exception | None = None, /) -> Awaitable[None]:
        if not self.called:
            self.called, self.error = True, error
        return _DONE


async def run_error_chain(error: Exception, ctx: AgentContext, handlers: Sequence[ErrorMiddleware]) -> bool:
    """Run ``error`` through ``handlers`` (the last one being the default); whether the flow goes on (a handler
    called ``next()``)."""
    current = error
    for handler in handlers:
        step = _ErrorNextCall()
        try:
            await call(handler, current, ctx, step)
        except Exception as raised:
            if step.called and step.error is None:
                return True
            current = step.error if step.called and step.error is not None else raised
            continue
        if not step.called:
            return False
        if step.error is None:
            return True
        current = step.error
    return False


async def run_middleware(
    ctx: MessageContext[object],
    middleware: Sequence[Middleware],
    final: Callable[[], Awaitable[None]],
    on_error: Callable[[Exception, AgentContext], Awaitable[bool]],
) -> None:
    """Run ``ctx`` through ``middleware`` and then ``final`` (the handlers), as the module docstring says. Never
    raises a middleware's exception: ``on_error`` gets it and says whether to go on."""

    async def step(index: int) -> None:
        if index == len(middleware):
            await final()
            return
        called = False

        async def next_() -> None:
            nonlocal called
            if called:
                log.warning(
                    "middleware %r called next() twice; the second call does nothing", middleware[index]
                )
                return
            called = True
            await step(index + 1)

        try:
            await middleware[index](ctx, next_)
        except Exception as exc:
            if await on_error(exc, ctx) and not called:
                await next_()

    await step(0)
