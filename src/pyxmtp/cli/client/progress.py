"""Syncing conversations, with a progress bar on stderr when it is a terminal.

The bar (rich's, transient: it is erased once the sync is done) counts the conversations synced and the
messages the home holds for the one being synced, polled while the SDK reads the node's pages. On anything but
a terminal nothing is drawn, so scripts and pipes see only the command's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from typing import Any

from . import sdk

#: How often the message count is read from the home while a conversation syncs.
POLL_SECONDS = 0.1


def progress_wanted() -> bool:
    return sys.stderr.isatty()


async def sync_all(conversations: Sequence[sdk.ClientConversation], labels: Sequence[str]) -> None:
    """Sync each conversation from the node (an inactive one is left as it is), showing progress on a
    terminal. ``labels``: what to call each one on the bar (escaped)."""
    bar = _Bar(len(conversations)) if progress_wanted() and conversations else None
    try:
        for conversation, label in zip(conversations, labels, strict=True):
            if bar is None:
                await sdk.sync(conversation)
                continue
            bar.start_conversation(label, sdk.stored_count(conversation))
            poll = asyncio.create_task(_poll(conversation, bar))
            try:
                await sdk.sync(conversation)
            finally:
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
            bar.done_conversation(sdk.stored_count(conversation))
    finally:
        if bar is not None:
            bar.stop()


async def _poll(conversation: sdk.ClientConversation, bar: _Bar) -> None:
    while True:
        await asyncio.sleep(POLL_SECONDS)
        bar.messages(sdk.stored_count(conversation))


class _Bar:
    """A transient rich progress bar on stderr: conversations done of the total, new messages so far."""

    def __init__(self, total: int) -> None:
        from rich.console import Console  # only when drawn: rich takes a while to import
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("syncing {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[new]} new messages"),
            TimeElapsedColumn(),
            console=Console(stderr=True, emoji=False, highlight=False),
            transient=True,
        )
        self._task: Any = self._progress.add_task("", total=total, new=0)
        self._base = 0
        self._new = 0
        self._progress.start()

    def start_conversation(self, label: str, stored: int) -> None:
        self._base = stored
        # rich reads [...] as markup: the label is escaped for it too
        from rich.markup import escape

        self._progress.update(self._task, description=escape(label))

    def messages(self, stored: int) -> None:
        self._progress.update(self._task, new=self._new + max(0, stored - self._base))

    def done_conversation(self, stored: int) -> None:
        self._new += max(0, stored - self._base)
        self._progress.update(self._task, advance=1, new=self._new)

    def stop(self) -> None:
        self._progress.stop()
