"""Driving real libxmtp clients (PyPI ``xmtp-bindings==0.1.8`` = libxmtp 1.10.0) from asyncio tests.

Importing this module skips the test module that imports it when the bindings are missing, except under
``PYXMTP_REQUIRE_INTEROP=1`` (CI), where the import error fails the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import pytest

os.environ.setdefault("RUST_LOG", "off")  # libxmtp reads it when it loads
try:
    from xmtp_bindings import xmtpv3 as _xmtpv3
except ImportError:  # skip locally; under PYXMTP_REQUIRE_INTEROP=1 (CI) the import error fails the run
    if os.environ.get("PYXMTP_REQUIRE_INTEROP") == "1":
        raise
    pytest.skip("xmtp-bindings==0.1.8 (a dev dependency) is needed", allow_module_level=True)
v: Any = _xmtpv3

TIMEOUT = 30.0


class Collector(v.FfiMessageCallback):  # type: ignore[misc]
    """Hands streamed messages to the asyncio loop. Runs on a Rust thread and must never raise."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[tuple[str, Any]]) -> None:
        self.loop = loop
        self.queue = queue

    def _put(self, item: tuple[str, Any]) -> None:
        # the loop may be gone at the very end; never raise into Rust
        with contextlib.suppress(BaseException):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def on_message(self, message: Any) -> None:
        self._put(("message", message))

    def on_error(self, error: Any) -> None:
        self._put(("error", error))

    def on_close(self) -> None:
        self._put(("close", None))


def text_of(message: Any) -> str | None:
    if message.kind != v.FfiConversationMessageKind.APPLICATION:
        return None  # group_updated / membership transcript entries
    try:
        return str(v.decode_text(message.content))
    except Exception:
        return None  # membership changes and other content types


def list_options() -> Any:
    return v.FfiListMessagesOptions(
        sent_before_ns=None,
        sent_after_ns=None,
        limit=None,
        delivery_status=None,
        direction=None,
        content_types=None,
        exclude_content_types=None,
        exclude_sender_inbox_ids=None,
        sort_by=None,
        inserted_after_ns=None,
        inserted_before_ns=None,
    )


def group_options(name: str | None) -> Any:
    """libxmtp's options for a new group named ``name`` (None: no name), everything else left to its defaults."""
    return v.FfiCreateGroupOptions(
        permissions=None,
        group_name=name,
        group_image_url_square=None,
        group_description=None,
        custom_permission_policy_set=None,
        message_disappearing_settings=None,
        app_data=None,
    )


def list_conversations_options() -> Any:
    """libxmtp's options to list every conversation (no filter)."""
    return v.FfiListConversationsOptions(
        created_after_ns=None,
        created_before_ns=None,
        last_activity_before_ns=None,
        last_activity_after_ns=None,
        order_by=None,
        limit=None,
        consent_states=None,
        include_duplicate_dms=False,
    )


async def texts(conversation: Any) -> list[str]:
    return [t for t in map(text_of, await conversation.find_messages(list_options())) if t is not None]


class User:
    def __init__(self, client: Any, identifier: Any, address: str) -> None:
        self.client = client
        self.identifier = identifier
        self.address = address

    @property
    def inbox_id(self) -> str:
        return str(self.client.inbox_id())

    @classmethod
    async def register(cls, api: Any, key: bytes | None = None, *, device_sync: bool = False) -> User:
        """A new libxmtp installation of the wallet ``key`` (a new wallet if None): its inbox is created the
        first time, later installations are added to it. ``device_sync``: run libxmtp's device-sync worker
        (sync group, sync requests and replies)."""
        new_wallet = key is None
        key = os.urandom(32) if key is None else key
        address = v.ethereum_address_from_pubkey(v.ethereum_generate_public_key(key))
        ident = v.FfiIdentifier(identifier=address, identifier_kind=v.FfiIdentifierKind.ETHEREUM)
        if new_wallet:
            assert await v.get_inbox_id_for_identifier(api, ident) is None
        inbox_id = v.generate_inbox_id(ident, 0)
        db = v.DbOptions(db=None, encryption_key=None, max_db_pool_size=None, min_db_pool_size=None)
        mode = v.FfiDeviceSyncMode.ENABLED if device_sync else v.FfiDeviceSyncMode.DISABLED
        client = await v.create_client(api, api, db, inbox_id, ident, 0, None, mode, None, None)
        request = client.signature_request()
        text = await request.signature_text()
        await request.add_ecdsa_signature(v.ethereum_sign_recoverable(text.encode(), key, True))
        await client.register_identity(request)
        assert await v.get_inbox_id_for_identifier(api, ident) == inbox_id
        return cls(client, ident, address)


async def until(predicate_coro: Any, what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``await predicate_coro()`` until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate_coro():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def streamed(queue: asyncio.Queue[tuple[str, Any]], wanted: set[str], seen: list[str]) -> None:
    """Read the stream until every text in ``wanted`` arrived (``seen`` collects everything)."""
    while not wanted <= set(seen):
        kind, item = await asyncio.wait_for(queue.get(), TIMEOUT)
        assert kind == "message", f"stream reported {kind}: {item}"
        text = text_of(item)
        if text is not None:
            seen.append(text)
