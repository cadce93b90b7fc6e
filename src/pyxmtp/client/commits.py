"""Our own commits: membership changes (libxmtp's ``update_group_membership``) and metadata changes.

A commit is stored pending with the group state before it is sent; the group is then read until the commit
comes back and merged (or, if another commit of its epoch came first, dropped: :class:`~.errors.CommitConflict`,
and made again on the new epoch, up to :data:`COMMIT_ATTEMPTS` times). New installations are welcomed only
once the node has the commit (:mod:`.own_welcomes`: also after a crash or a failed call between the two). The
functions here take a :class:`~.session.GroupSession` whose lock the caller holds.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence

from pyxmtp.conversations.admin import may_change_metadata
from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.key_packages import validate_xmtp_key_package
from pyxmtp.conversations.membership import Installation
from pyxmtp.mls.errors import MLSError, ValidationError
from pyxmtp.mls.group import StagedCommit
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.proto.mls.api.v1 import mls_pb2

from . import own_welcomes, receive
from .errors import CommitConflict, InactiveConversation, MembershipUpdateError
from .receive import epoch_of
from .session import GroupSession

log = logging.getLogger("pyxmtp.client")

#: How often a commit of ours that lost to another one for the same epoch is made again.
COMMIT_ATTEMPTS = 3


async def update_membership(
    session: GroupSession,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    only_if_changed: bool = False,
) -> bool:
    """See :func:`_try_update_membership`; a commit that lost to another one is made again on the new epoch
    (as libxmtp re-creates its intent), up to :data:`COMMIT_ATTEMPTS` times. Whether a commit was made."""
    if session.core.pending_commit is not None:  # an earlier one whose fate is open: settle it first
        await receive.sync(session)
    for _ in range(COMMIT_ATTEMPTS - 1):
        try:
            return await _try_update_membership(
                session, add=add, remove=remove, only_if_changed=only_if_changed
            )
        except CommitConflict as exc:
            log.info("group %s: %s; trying again", session.group_id.hex(), exc)
    return await _try_update_membership(session, add=add, remove=remove, only_if_changed=only_if_changed)


async def _try_update_membership(
    session: GroupSession, *, add: Sequence[str], remove: Sequence[str], only_if_changed: bool
) -> bool:
    """One membership commit (libxmtp's ``update_group_membership``, 6.3): the inboxes in ``add`` join, those
    in ``remove`` leave, every member's sequence id moves to its latest identity update, installations the
    logs added are added (welcomed) and revoked ones removed. Installations whose key package is missing or
    invalid are listed in ``failed_installations`` and not tried again."""
    ctx = session.ctx
    session.installations_checked = ctx.clock_ns()
    membership = session.core.context.membership
    gone = set(remove)
    everyone = sorted((set(membership.members) | set(add)) - gone)
    await ctx.fetch_identities(everyone)
    members: dict[str, int] = {}
    wanted: list[tuple[str, bytes]] = []
    leaves = session.core.installations()
    present = {leaf.installation_key for leaf in leaves}
    old_failed = set(membership.failed_installations)
    current: set[bytes] = set()
    for inbox_id in everyone:
        state = ctx.identities.state(inbox_id)
        if state is None:
            raise MembershipUpdateError(f"inbox {inbox_id} has no identity log on the node")
        members[inbox_id] = ctx.identities.last_sequence_id(inbox_id)
        keys = state.installations()
        current.update(keys)
        wanted += [(inbox_id, key) for key in keys if key not in present and key not in old_failed]
    removed = [
        leaf.leaf_index for leaf in leaves if leaf.inbox_id in gone or leaf.installation_key not in current
    ]
    if only_if_changed and not wanted and not removed:
        return False
    now = ctx.now_s()
    key_packages = await ctx.api.fetch_key_packages([key for _, key in wanted]) if wanted else []
    new: list[KeyPackage] = []
    failed = sorted(k for k in old_failed if k in current and k not in present)
    for (inbox_id, key), data in zip(wanted, key_packages, strict=True):
        try:
            kp_inbox, kp_key, verified = validate_xmtp_key_package(data, now)
            if (kp_inbox, kp_key) != (inbox_id, key):
                raise ValidationError(f"the key package of {key.hex()} names {kp_inbox} / {kp_key.hex()}")
        except MLSError as exc:
            log.warning("installation %s of %s cannot be added: %s", key.hex(), inbox_id, exc)
            failed.append(key)
            continue
        new.append(verified.key_package)
    if add and wanted and not new:
        raise MembershipUpdateError("none of the installations to add has a usable key package")
    staged = session.core.commit_membership(
        members, add=new, remove=removed, failed=failed, rng=ctx.rng, now=now
    )
    welcomes = (staged.welcome, new) if staged.welcome is not None and new else None
    await publish_own_commit(session, staged.message, welcomes=welcomes)
    await own_welcomes.send_owed(session)
    return True


async def update_metadata(session: GroupSession, attributes: Mapping[str, str]) -> None:
    """A commit setting these mutable-metadata attributes (``group_name``, ``description``, ...), made again
    on the new epoch if another commit wins, up to :data:`COMMIT_ATTEMPTS` times;
    :class:`~pyxmtp.conversations.admin.ChangeRefused` if the group's metadata policies do not let us."""

    def build(core: CoreConversation) -> StagedCommit:
        may_change_metadata(core.context, core.own_inbox_id, attributes)
        return core.commit_metadata(attributes, rng=session.ctx.rng, now=session.ctx.now_s())

    await commit_change(session, build)


async def commit_change(
    session: GroupSession, build: Callable[[CoreConversation], StagedCommit | None]
) -> bool:
    """A GroupContextExtensions commit of ours: ``build`` checks the change against the group as it is and
    stages it (None: nothing to change); it is published, and made again on the new epoch if another commit
    wins, up to :data:`COMMIT_ATTEMPTS` times (``build`` checks again each time). Whether a commit was made.

    The group is synced first: the change is checked against the group as the node has it (a role we were just
    given counts), and an earlier commit of ours whose fate is open is settled."""
    await receive.sync(session)
    if not session.is_active:
        raise InactiveConversation("we are no longer a member of this group")
    for attempt in range(COMMIT_ATTEMPTS):
        staged = build(session.core)
        if staged is None:
            return False
        try:
            await publish_own_commit(session, staged.message)
            return True
        except CommitConflict:
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
    return False  # pragma: no cover - the last attempt returns or raises


async def publish_own_commit(
    session: GroupSession, data: bytes | None, *, welcomes: tuple[bytes, Sequence[KeyPackage]] | None = None
) -> int:
    """Send our pending commit and read the group until it comes back; merge it then. If another commit of
    this epoch came first, ours is discarded (:class:`CommitConflict`) after theirs is applied. The node's id
    of our commit.

    The pending commit is stored with the group state before it is sent, with the Welcome and the key packages
    of the installations it adds (``welcomes``): if the call fails or the process dies, the next sync merges it
    if the node has it (the MLS layer knows its bytes) and drops it if not, so we never stay behind the epoch our
    own commit started; once merged, its welcomes are owed until sent (:mod:`.own_welcomes`)."""
    assert data is not None
    ctx = session.ctx
    mine = hashlib.sha256(data).digest()
    with ctx.store.transaction():
        if welcomes is not None:
            own_welcomes.record(session, mine, *welcomes)
        session.persist()
    await ctx.api.send_group_messages(
        [mls_pb2.GroupMessageInput(v1=mls_pb2.GroupMessageInput.V1(data=data, should_push=False))]
    )
    async for message in ctx.api.group_messages_after(session.group_id, session.cursor):
        v1 = message.v1
        if hashlib.sha256(v1.data).digest() == mine:
            entry = session.core.merge_own_commit()
            me = Installation(session.core.group.own_leaf_index, ctx.inbox_id, ctx.installation_id)
            with ctx.store.transaction():
                if entry is not None:
                    receive.transcript_entry(session, v1, entry, me)
                own_welcomes.on_merged(session, mine, v1.id)
                session.save(v1.id)
            return v1.id
        if v1.is_commit and epoch_of(v1.data) == session.core.epoch:  # theirs, for our epoch: it won
            session.core.discard_own_commit()
            with session.writing():
                own_welcomes.forget_unmerged(session)
            await receive.apply(session, v1)
            raise CommitConflict("another commit of this epoch reached the node first; ours was discarded")
        await receive.apply(session, v1)
    raise CommitConflict("the node does not return our commit")  # pragma: no cover - read-your-writes
