"""Joining conversations from the installation's welcomes (libxmtp's welcome processing).

:func:`sync_welcomes` reads every welcome after the welcome cursor, in the node's order, opens it with the key
package it names (X-Wing wrapper key or init key; a welcome pointer's pointee is fetched), joins the group (the
tree checked against the members' identity logs, a DM checked to be one) and stores it, moving the cursor in
the same transaction. A welcome that cannot be used is logged and skipped, as libxmtp does; one whose pointee is
not on the node yet stops the walk before it (the next sync tries again). Then the key package is rotated,
since a welcome used it.

A welcome into a device-sync group is refused unless our own inbox made it, added us and is its only member
(:mod:`.device_sync.guard`). A welcome into a group we hold already may replace it only if a commit removed us from it and the welcome is
for a later epoch (we were added back); otherwise whoever knows a group's id could replace our group with theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.welcome_wrap import (
    CURVE25519,
    UNSPECIFIED,
    XWING,
    algorithm_name,
    open_pointee,
    unwrap_welcome,
    unwrap_welcome_pointer,
)
from pyxmtp.mls.crypto.keys import HPKEPrivateKey
from pyxmtp.mls.errors import MLSError, RemoteMLSError
from pyxmtp.mls.key_packages import KeyPackageBundle
from pyxmtp.proto.mls.api.v1 import mls_pb2

from . import delivery
from .api import welcome_id
from .context import ClientContext
from .key_packages import maintain, rotate_key_package
from .session import GroupSession, SessionCache
from .store import ConversationRecord, KeyPackageRecord

log = logging.getLogger("pyxmtp.client")

#: The store's cursor of the last welcome processed.
WELCOME_CURSOR = "welcomes"

#: Called with each conversation joined and whether it replaces one we were removed from, inside the
#: transaction that stores it (consent defaults, say).
OnJoin = Callable[[CoreConversation, bool], None]


class PointeeNotYetThere(Exception):
    """A welcome pointer names a pointee the node does not have (yet)."""


class UnusableWelcome(RemoteMLSError):
    """A welcome this installation cannot use: for a key package it no longer has, wrapped with an algorithm
    that is not its key's, or of an unknown kind."""


class WelcomeForHeldConversation(RemoteMLSError):
    """A welcome into a device-sync group is refused unless our own inbox made it, added us and is its only member
    (:mod:`.device_sync.guard`). A welcome into a group we hold already, while we are still in it or for an epoch not newer than ours:
        whoever knows a group's id (the node, a former member) could otherwise replace our group with theirs."""


async def sync_welcomes(
    ctx: ClientContext, sessions: SessionCache, on_join: OnJoin | None = None
) -> list[GroupSession]:
    """Process every welcome that arrived since the last call; the conversations joined, in order (see the
    module docstring). ``on_join(core, readded)`` runs in the transaction that stores each one."""
    cursor = ctx.store.cursor(WELCOME_CURSOR)
    joined: list[GroupSession] = []
    seen_any = False
    async for welcome in ctx.api.welcomes_after(ctx.installation_id, cursor):
        seen_any = True
        wid = welcome_id(welcome)
        try:
            opened = await _open_welcome(ctx, welcome)
            session = await _join(ctx, sessions, wid, *opened, on_join=on_join)
        except PointeeNotYetThere as exc:
            log.info("welcome %d: %s; trying again at the next sync", wid, exc)
            break  # the cursor stays before it
        except (MLSError, ProtobufDecodeError) as exc:
            log.warning("welcome %d could not be used: %s", wid, exc)
            _advance(ctx, wid)
            continue
        joined.append(session)
    if seen_any:
        await rotate_key_package(ctx)  # a welcome used the key package: replace it (libxmtp does too)
    else:
        await maintain(ctx)
    return joined


def _advance(ctx: ClientContext, wid: int) -> None:
    with ctx.store.transaction():
        ctx.store.set_cursor(WELCOME_CURSOR, max(wid, ctx.store.cursor(WELCOME_CURSOR)))


async def _open_welcome(
    ctx: ClientContext, welcome: mls_pb2.WelcomeMessage
) -> tuple[KeyPackageBundle, bytes, int]:
    """``(our key package, the MLS Welcome, the cursor to read the group from)`` of a V1 welcome, or of the
    pointee a welcome pointer names (5.5)."""
    which = welcome.WhichOneof("version")
    if which == "v1":
        v1 = welcome.v1
        bundle, key = _welcome_key(ctx, v1.hpke_public_key, v1.id, v1.wrapper_algorithm)
        mls_welcome, metadata = unwrap_welcome(v1.data, v1.welcome_metadata, key, v1.wrapper_algorithm)
    elif which == "welcome_pointer":
        wp = welcome.welcome_pointer
        bundle, key = _welcome_key(ctx, wp.hpke_public_key, wp.id, wp.wrapper_algorithm)
        pointer = unwrap_welcome_pointer(wp.welcome_pointer, key, wp.wrapper_algorithm)
        async for pointee in ctx.api.welcomes_after(pointer.destination, 0):
            if pointee.WhichOneof("version") == "v1":
                mls_welcome, metadata = open_pointee(pointer, pointee.v1.data, pointee.v1.welcome_metadata)
                break
        else:
            raise PointeeNotYetThere(f"the welcome it points to is not on the node yet ({pointer!r})")
    else:
        raise UnusableWelcome(f"a welcome of unknown kind {which!r}")
    cursor = mls_pb2.WelcomeMetadata.FromString(metadata).message_cursor if metadata else 0
    return bundle, mls_welcome, cursor


def _welcome_key(
    ctx: ClientContext, hpke_public_key: bytes, wid: int, algorithm: int
) -> tuple[KeyPackageBundle, HPKEPrivateKey | bytes]:
    """Our key package the welcome names, and the private key to unwrap it with: the X-Wing wrapper key of
    that key package, or its init key if it has none; the welcome's algorithm must be that key's kind."""
    record = ctx.store.key_package(hpke_public_key)
    if record is None:
        raise UnusableWelcome(f"welcome {wid} is for a key package this installation no longer has")
    bundle = KeyPackageBundle.from_bytes(record.bundle)
    allowed: tuple[int, ...]
    if record.wrapper_private_key is not None:
        kind, allowed = "an X-Wing wrapper key", (XWING,)
    else:
        kind, allowed = "a Curve25519 init key", (UNSPECIFIED, CURVE25519)
    if algorithm not in allowed:
        raise UnusableWelcome(
            f"welcome {wid} names {kind} of ours but wrapper algorithm {algorithm} ({algorithm_name(algorithm)})"
        )
    return bundle, _wrapper_private_key(record, bundle)


def _wrapper_private_key(record: KeyPackageRecord, bundle: KeyPackageBundle) -> HPKEPrivateKey | bytes:
    return record.wrapper_private_key if record.wrapper_private_key is not None else bundle.init_private_key


async def _join(
    ctx: ClientContext,
    sessions: SessionCache,
    wid: int,
    bundle: KeyPackageBundle,
    welcome: bytes,
    cursor: int,
    *,
    on_join: OnJoin | None,
) -> GroupSession:
    now = ctx.now_s()

    def join() -> CoreConversation:
        return CoreConversation.join(
            welcome, bundle, ctx.signer, ctx.inbox_id, ctx.identities.states_for, now=now
        )

    core = await ctx.retry_with_identities(join)
    assert core.added_by is not None  # set by Conversation.join
    from .device_sync.guard import check_sync_welcome  # here: the package imports this module's users

    check_sync_welcome(core, ctx.inbox_id)  # a device-sync group: our inbox's alone
    group_id = core.group_id
    held = sessions.get(group_id)
    if held is None:
        return _store(ctx, sessions, wid, core, cursor, on_join)
    async with held.lock:  # did a commit take us out? (libxmtp may not have synced that either)
        await delivery.flush(held)
        return _store(ctx, sessions, wid, core, cursor, on_join)


def _store(
    ctx: ClientContext,
    sessions: SessionCache,
    wid: int,
    core: CoreConversation,
    cursor: int,
    on_join: OnJoin | None,
) -> GroupSession:
    """Store a joined conversation and move the welcome cursor, in one transaction; a conversation held already
    is replaced in place (its session, which every handle shares, takes the new group) if
    :func:`_check_replaceable` allows it."""
    assert core.added_by is not None
    group_id = core.group_id
    record = ConversationRecord(group_id, core.to_bytes(), cursor, ctx.clock_ns(), core.added_by.inbox_id)
    store = ctx.store
    with store.transaction():  # no await from here on: the check and the write are one step
        existing = store.conversation(group_id)
        held = None if existing is None else sessions.load(existing)
        if existing is None:
            store.save_conversation(record)
        else:
            assert held is not None
            _check_replaceable(held, core, wid)
            record = replace(record, created_ns=existing.created_ns)
            store.replace_conversation(record)
        store.set_cursor(WELCOME_CURSOR, max(wid, store.cursor(WELCOME_CURSOR)))
        if on_join is not None:
            on_join(core, existing is not None)
    if held is None:
        session = GroupSession(ctx, core, cursor, created_ns=record.created_ns, added_by=record.added_by)
        sessions.add(session)
        return session
    # every handle shares the session: it takes the new group
    held.core, held.cursor, held.joined_cursor, held.added_by = core, cursor, cursor, record.added_by
    held.installations_checked = 0
    return held


def _check_replaceable(held: GroupSession, joined: CoreConversation, wid: int) -> None:
    """A welcome may replace a conversation we hold only if a commit removed us from it and the welcome is for
    a later epoch (libxmtp's rule: we were added back). :class:`WelcomeForHeldConversation` otherwise."""
    ours = held.core.group.last_epoch
    if held.is_active:
        raise WelcomeForHeldConversation(
            f"welcome {wid} is for group {joined.group_id.hex()}, which we are in (at epoch {ours})"
        )
    if ours is None or joined.epoch <= ours:
        raise WelcomeForHeldConversation(
            f"welcome {wid} is for epoch {joined.epoch} of group {joined.group_id.hex()}, which we left at "
            f"epoch {ours}: not a later one"
        )
