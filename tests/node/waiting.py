"""Waiting in tests without timing: poll a condition until it holds, with a generous deadline."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

#: Long enough for a loaded machine; a condition that holds returns at once.
DEADLINE = 30.0
POLL_INTERVAL = 0.005


async def until(condition: Callable[[], object | Awaitable[object]], timeout: float = DEADLINE) -> None:
    """Return once ``condition()`` (a function, or a coroutine function) is true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout} s")
        await asyncio.sleep(POLL_INTERVAL)
