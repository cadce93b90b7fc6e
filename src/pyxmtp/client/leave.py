"""Leaving a group, as libxmtp 1.10 does it: a leave request, carried out by a super admin's client.

A member cannot remove itself with a commit. It sends a ``xmtp.org/leave_request:1.0`` application message
(:func:`request_removal`); every member that receives it records the sender as pending removal (the
``pending_removals`` table, local: libxmtp's ``pending_remove``; :func:`.receive._note_leave_request`). A super
admin's client, when it syncs the group, removes the members pending removal in one membership commit
(:func:`carry_out`; libxmtp's ``remove_members_pending_removal``, which its worker runs every two seconds), and
every member's transcript shows them as left, not removed. The requester's own client keeps that it asked
(``leave_requests``: libxmtp's ``PendingRemove`` membership state) until it is added to the group again, when
its consent for the group goes back to unknown (:func:`.consent.on_joined`).

A DM cannot be left, a super admin cannot leave (another super admin must demote it first, since super admins
cannot be removed), nor can the only member; a second request while one is pending is not sent.
"""

from __future__ import annotations

import logging

from pyxmtp.conversations.admin import ChangeRefused
from pyxmtp.conversations.content import LEAVE_REQUEST, LeaveRequest
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.mls.errors import MLSError

from . import commits
from .content_fields import content_fields
from .errors import CommitConflict, InactiveConversation, MembershipUpdateError
from .session import GroupSession
from .store import MessageRecord

log = logging.getLogger("pyxmtp.client")


def check_may_leave(session: GroupSession) -> bool:
    """Raise :class:`ChangeRefused` (or :class:`InactiveConversation`) if we may not ask to leave; whether a
    request is needed (False: one is pending already)."""
    core = session.core
    if core.conversation_type is not ConversationType.GROUP:
        raise ChangeRefused("this is a DM: it cannot be left")
    if not session.is_active:
        raise InactiveConversation("we are no longer a member of this group")
    me = session.ctx.inbox_id
    mutable = core.context.mutable
    if me in mutable.super_admins:
        raise ChangeRefused(
            "a super admin cannot leave the group: another super admin must make it no longer a super admin first"
        )
    if len(core.context.membership.members) <= 1:
        raise ChangeRefused("the only member of a group cannot leave it")
    return me not in session.ctx.store.pending_removals(session.group_id)


def record_own_request(session: GroupSession, message_id: bytes) -> None:
    """We asked to leave: we are pending removal (as every member records it) and keep that we asked."""
    ctx = session.ctx
    with ctx.store.transaction():
        ctx.store.add_pending_removal(session.group_id, ctx.inbox_id, message_id)
        ctx.store.set_leave_requested(session.group_id, message_id, ctx.clock_ns())


def leave_request() -> LeaveRequest:
    """The content of a leave request (libxmtp sends no note)."""
    return LeaveRequest()


def is_leave_request(record: MessageRecord | None) -> bool:
    if record is None:
        return False
    content_type = content_fields(record.content).content_type
    return content_type is not None and content_type.same_type(LEAVE_REQUEST)


def pending(session: GroupSession) -> list[str]:
    """The members that asked to leave and that we may remove now: not super admins (who cannot be removed),
    not us."""
    core = session.core
    members = core.context.membership.members
    supers = set(core.context.mutable.super_admins)
    return [
        inbox_id
        for inbox_id in session.ctx.store.pending_removals(session.group_id)
        if inbox_id in members and inbox_id not in supers and inbox_id != session.ctx.inbox_id
    ]


async def carry_out(session: GroupSession) -> bool:
    """If we are a super admin of this group, remove the members pending removal in one commit, and forget the
    requests of inboxes no longer members (libxmtp's ``cleanup_pending_removal_list``). Whether a commit was
    made. The caller holds the session's lock. A commit the group refuses, or that keeps losing to others, is
    logged and tried again by the next sync; an unreachable node raises."""
    core = session.core
    if not session.is_active or core.conversation_type is not ConversationType.GROUP:
        return False
    if session.ctx.inbox_id not in core.context.mutable.super_admins:
        return False
    store = session.ctx.store
    gone = [i for i in store.pending_removals(session.group_id) if i not in core.context.membership.members]
    if gone:
        with store.transaction():
            store.delete_pending_removals(session.group_id, gone)
    leaving = pending(session)
    if not leaving:
        return False
    try:
        await commits.update_membership(session, remove=leaving)
    except (MLSError, MembershipUpdateError, CommitConflict) as exc:
        log.warning(
            "group %s: the leave requests of %s not carried out: %s", session.group_id.hex(), leaving, exc
        )
        return False
    return True
