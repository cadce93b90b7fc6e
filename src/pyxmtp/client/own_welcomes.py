"""The welcomes our own commits owe (libxmtp's post-commit actions): sent after a crash or a failed call too.

A commit that adds installations is stored pending with its Welcome and the key packages it was made for (in
the transaction that stores the group state before the commit is sent: :func:`record`). When the commit is
merged (we read it back, in this run or after a restart: :func:`on_merged`, in the merge's transaction) the
welcome messages are built, naming the commit's node id, and stored in place of the Welcome; then they are sent
and forgotten (:func:`send_owed`). Whatever happens between the steps, the next sync, stream connect or client
start-up sends what is still owed. A resend is byte for byte the stored messages, so the node keeps one copy of
each (it drops a welcome it holds already); a receiver that got the first one holds the group and ignores a
second welcome into it anyway. A commit that is dropped (another won its epoch, or it never reached the node)
owes nothing: its row goes with it (:func:`forget_unmerged`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc

from pyxmtp.conversations.welcome_send import welcome_inputs
from pyxmtp.mls.codec import Reader, Writer
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .api import ApiCallError
from .session import GroupSession

log = logging.getLogger("pyxmtp.client")

#: What the node answers for welcomes it will never take (dropped, logged, rather than sent again forever).
REFUSED = frozenset({grpc.StatusCode.INVALID_ARGUMENT})
_DUPLICATE = grpc.StatusCode.ALREADY_EXISTS


def _pack(items: Sequence[bytes]) -> bytes:
    w = Writer()
    for item in items:
        w.opaque_v(item)
    return w.getvalue()


def _unpack(data: bytes) -> list[bytes]:
    r = Reader(data, "stored welcome parts")
    out = []
    while not r.at_end():
        out.append(r.opaque_v())
    return out


def _encoded(kp: KeyPackage) -> bytes:
    w = Writer()
    kp.encode(w)
    return w.getvalue()


def record(
    session: GroupSession, commit_hash: bytes, welcome: bytes, key_packages: Sequence[KeyPackage]
) -> None:
    """Our pending commit (SHA-256 ``commit_hash`` of its bytes) welcomes ``key_packages`` with ``welcome``: keep
    both until it is merged (inside the caller's transaction, the one storing the pending commit)."""
    session.ctx.store.add_own_welcome(
        session.group_id, commit_hash, welcome, _pack([_encoded(kp) for kp in key_packages])
    )


def on_merged(session: GroupSession, commit_hash: bytes, commit_id: int) -> None:
    """Our commit with this hash was merged as node id ``commit_id``: if it owes welcomes, build them and store
    them for :func:`send_owed` (inside the caller's transaction, the merge's)."""
    store = session.ctx.store
    pending = store.own_welcome(commit_hash)
    if pending is None:
        return
    welcome, packed = pending
    try:
        key_packages = [KeyPackage.decode(Reader(kp, "stored key package")) for kp in _unpack(packed)]
        inputs = welcome_inputs(welcome, commit_id, key_packages, session.ctx.rng)
    except (MLSError, ValueError) as exc:  # a damaged row: it must not stop the group's messages
        log.error(
            "group %s: the welcomes of our commit %d cannot be built: %s",
            session.group_id.hex(),
            commit_id,
            exc,
        )
        store.drop_own_welcome(commit_hash)
        return
    store.set_own_welcome_messages(commit_hash, _pack([i.SerializeToString() for i in inputs]))


def forget_unmerged(session: GroupSession) -> None:
    """Drop what commits of this group that were never merged would have welcomed (once none is pending)."""
    if session.core.pending_commit is None:
        session.ctx.store.drop_unmerged_own_welcomes(session.group_id)


def owes(session: GroupSession) -> bool:
    """Whether a commit of this group (merged, or pending) has welcomes not sent yet."""
    return session.ctx.store.has_own_welcomes(session.group_id)


async def send_owed(session: GroupSession) -> int:
    """Send the welcomes merged commits of this group still owe, each commit's in one call, and forget them once
    the node has them; how many commits' welcomes were sent. :class:`~.api.ApiCallError` if the node could not
    be reached (what is left stays stored, for the next sync), or refused some (:data:`REFUSED`: those are
    dropped, never sent again, after the others were sent)."""
    store = session.ctx.store
    sent = 0
    refused: ApiCallError | None = None
    for commit_hash, packed in store.own_welcome_messages(session.group_id):
        inputs = [mls_pb2.WelcomeMessageInput.FromString(i) for i in _unpack(packed)]
        try:
            await _send(session, inputs)
            sent += 1
        except ApiCallError as exc:
            if exc.code not in REFUSED:
                raise
            log.warning(
                "group %s: the node refuses our commit's welcomes; dropped: %s", session.group_id.hex(), exc
            )
            refused = refused or exc
        with store.transaction():
            store.drop_own_welcome(commit_hash)
    with store.transaction():
        forget_unmerged(session)
    if refused is not None:
        raise refused
    return sent


async def _send(session: GroupSession, inputs: list[mls_pb2.WelcomeMessageInput]) -> None:
    """Send, counting a welcome the node says it has (ALREADY_EXISTS: a node that reports the duplicate of a
    resend rather than dropping it) as sent; the others of such a batch are then sent one by one."""
    api = session.ctx.api
    try:
        await api.send_welcome_messages(inputs)
        return
    except ApiCallError as exc:
        if exc.code is not _DUPLICATE:
            raise
    for one in inputs if len(inputs) > 1 else ():
        try:
            await api.send_welcome_messages([one])
        except ApiCallError as exc:
            if exc.code is not _DUPLICATE:
                raise


async def send_owed_quietly(session: GroupSession) -> None:
    """:func:`send_owed` for a sync: a node that cannot be reached is logged, and the next sync tries again."""
    try:
        sent = await send_owed(session)
    except ApiCallError as exc:
        log.warning(
            "group %s: welcomes of our commit not sent yet (the next sync tries again): %s",
            session.group_id.hex(),
            exc,
        )
        return
    if sent:
        log.info("group %s: welcomes of %d earlier commit(s) of ours sent", session.group_id.hex(), sent)
