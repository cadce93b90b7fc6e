"""A group conversation (node-sdk's ``Group``): its metadata, admins, permissions and members, and leaving it.

Every change is checked against the group's rules before anything is sent (the receivers apply the same rules:
:mod:`pyxmtp.conversations.commit_validation`); a change we may not make raises
:class:`~pyxmtp.conversations.admin.ChangeRefused`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyxmtp.conversations.admin import (
    AdminListUpdate,
    ChangeRefused,
    GroupPermissions,
    PermissionPolicy,
    PermissionUpdateType,
    admin_lists_after,
    group_permissions,
    may_change_members,
    permissions_after,
)
from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.mls.crypto.keys import RandomSource
from pyxmtp.mls.group import StagedCommit

from . import commits, leave, receive
from .conversation import Conversation
from .errors import MembershipUpdateError, MessageNotPublished
from .members import Identifier, inbox_ids_for
from .store import DeliveryStatus

#: Stages a checked change as our pending commit (given the random source and the time).
_Stage = Callable[[RandomSource, int], StagedCommit]

#: The mutable-metadata attributes node-sdk's getters and setters read and write (libxmtp's ``MetadataField``).
NAME = "group_name"
DESCRIPTION = "description"
IMAGE_URL = "group_image_url_square"
APP_DATA = "app_data"


class Group(Conversation):
    """A group (see :class:`~.conversation.Conversation` for what every conversation does)."""

    # --- metadata -----------------------------------------------------------------------------------------
    def _attribute(self, name: str) -> str:
        return self._core.context.mutable.attributes.get(name, "")

    @property
    def name(self) -> str:
        return self._attribute(NAME)

    @property
    def description(self) -> str:
        return self._attribute(DESCRIPTION)

    @property
    def image_url(self) -> str:
        return self._attribute(IMAGE_URL)

    @property
    def app_data(self) -> str:
        return self._attribute(APP_DATA)

    async def update_name(self, name: str) -> None:
        await self._update_metadata(**{NAME: name})

    async def update_description(self, description: str) -> None:
        await self._update_metadata(**{DESCRIPTION: description})

    async def update_image_url(self, image_url: str) -> None:
        await self._update_metadata(**{IMAGE_URL: image_url})

    async def update_app_data(self, app_data: str) -> None:
        await self._update_metadata(**{APP_DATA: app_data})

    async def update_metadata(self, **attributes: str) -> None:
        """Set any mutable-metadata attributes in one commit (the getters' names are in this module)."""
        await self._update_metadata(**attributes)

    # --- members ------------------------------------------------------------------------------------------
    async def add_members(self, inbox_ids: Sequence[str]) -> None:
        """Add these inboxes (every installation their identity logs list) in one commit, and welcome them."""
        async with self._session.lock:
            await self._may_change_members(add=inbox_ids)
            await commits.update_membership(self._session, add=list(inbox_ids))

    async def add_members_by_identifiers(self, identifiers: Sequence[Identifier]) -> None:
        """Add the inboxes of these identifiers (Ethereum addresses or passkeys); :class:`MembershipUpdateError`
        if one has no inbox."""
        await self.add_members(await self._inbox_ids(identifiers))

    async def remove_members(self, inbox_ids: Sequence[str]) -> None:
        """Remove these inboxes (all their installations) in one membership commit."""
        membership = self._core.context.membership
        gone = set(inbox_ids)
        if not gone <= set(membership.members):
            raise MembershipUpdateError(f"not members: {sorted(gone - set(membership.members))}")
        if self._ctx.inbox_id in gone:
            raise MembershipUpdateError(
                "a member cannot remove itself with a commit (request_removal leaves)"
            )
        async with self._session.lock:
            await self._may_change_members(remove=inbox_ids)
            await commits.update_membership(self._session, remove=list(inbox_ids))

    async def _may_change_members(self, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """Refused (:class:`~pyxmtp.conversations.admin.ChangeRefused`) unless the group's rules, as the node has
        the group, let us make the change: checked before anything is sent. The caller holds the lock."""
        context = self._core.context
        try:
            may_change_members(context, self._ctx.inbox_id, add=add, remove=remove)
        except ChangeRefused:
            await receive.sync(self._session)  # we may have been made an admin since we last synced
            may_change_members(self._core.context, self._ctx.inbox_id, add=add, remove=remove)

    async def remove_members_by_identifiers(self, identifiers: Sequence[Identifier]) -> None:
        await self.remove_members(await self._inbox_ids(identifiers))

    async def _inbox_ids(self, identifiers: Sequence[Identifier]) -> list[str]:
        found = await inbox_ids_for(self._ctx.api, identifiers)
        missing = [key for key, inbox in found.items() if inbox is None]
        if missing:
            raise MembershipUpdateError(f"no inbox for {missing}")
        return [inbox for inbox in found.values() if inbox is not None]

    # --- admins -------------------------------------------------------------------------------------------
    def list_admins(self) -> list[str]:
        return list(self._core.context.mutable.admins)

    def list_super_admins(self) -> list[str]:
        return list(self._core.context.mutable.super_admins)

    def is_admin(self, inbox_id: str) -> bool:
        return inbox_id in self._core.context.mutable.admins

    def is_super_admin(self, inbox_id: str) -> bool:
        return inbox_id in self._core.context.mutable.super_admins

    async def add_admin(self, inbox_id: str) -> None:
        """Make a member an admin (one commit changing the admin list; in a default group only super admins
        may). :class:`~pyxmtp.conversations.admin.ChangeRefused` before anything is sent if we may not, or the
        inbox is not a member; nothing is sent if it is an admin already."""
        await self._update_admins(AdminListUpdate.ADD_ADMIN, inbox_id)

    async def remove_admin(self, inbox_id: str) -> None:
        """Make an admin no longer one (see :meth:`add_admin`)."""
        await self._update_admins(AdminListUpdate.REMOVE_ADMIN, inbox_id)

    async def add_super_admin(self, inbox_id: str) -> None:
        """Make a member a super admin (only super admins may; see :meth:`add_admin`)."""
        await self._update_admins(AdminListUpdate.ADD_SUPER_ADMIN, inbox_id)

    async def remove_super_admin(self, inbox_id: str) -> None:
        """Make a super admin no longer one (only super admins may, and never the last one)."""
        await self._update_admins(AdminListUpdate.REMOVE_SUPER_ADMIN, inbox_id)

    async def _update_admins(self, update: AdminListUpdate, inbox_id: str) -> None:
        def plan(core: CoreConversation) -> _Stage | None:
            lists = admin_lists_after(core.context, core.own_inbox_id, update, inbox_id)
            if lists is None:
                return None
            return lambda rng, now: core.commit_admin_lists(*lists, rng=rng, now=now)

        await self._commit(plan)

    async def _commit(self, plan: Callable[[CoreConversation], _Stage | None]) -> None:
        """Sync, check the change against the group as the node has it (refused, or nothing to change: nothing is
        sent), then commit it (checked again on the new epoch if another commit wins)."""
        ctx = self._session.ctx

        def build(core: CoreConversation) -> StagedCommit | None:
            stage = plan(core)
            return None if stage is None else stage(ctx.rng, ctx.now_s())

        async with self._session.lock:
            await commits.commit_change(self._session, build)

    # --- permissions --------------------------------------------------------------------------------------
    def permissions(self) -> GroupPermissions:
        """Who may do what: the preset the group's policy set matches and each action's policy (node-sdk's
        ``permissions()``)."""
        return group_permissions(self._core.context.permissions)

    async def update_permission(
        self,
        update_type: PermissionUpdateType,
        policy: PermissionPolicy,
        metadata_field: str | None = None,
    ) -> None:
        """Set one policy (node-sdk's ``updatePermission``): a commit changing the permissions extension, which
        only super admins may make. ``metadata_field`` names the field of an ``UPDATE_METADATA`` update.
        :class:`~pyxmtp.conversations.admin.ChangeRefused` before anything is sent if we may not."""
        update_type, policy = PermissionUpdateType(update_type), PermissionPolicy(policy)

        def plan(core: CoreConversation) -> _Stage:
            new = permissions_after(core.context, core.own_inbox_id, update_type, policy, metadata_field)
            return lambda rng, now: core.commit_permissions(new, rng=rng, now=now)

        await self._commit(plan)

    # --- leaving ------------------------------------------------------------------------------------------
    async def request_removal(self) -> None:
        """Ask to leave the group (libxmtp's ``leave_group``): a leave request, which a super admin's client
        carries out when it next syncs the group (see :mod:`.leave`). A DM cannot be left and a super admin
        cannot leave (:class:`~pyxmtp.conversations.admin.ChangeRefused`, nothing sent); a request while one is
        pending is not sent again."""
        async with self._session.lock:
            if not leave.check_may_leave(self._session):
                return
        try:
            message_id = await self.send(leave.leave_request())
        except MessageNotPublished as exc:
            if exc.delivery_status is DeliveryStatus.FAILED:
                raise
            leave.record_own_request(self._session, exc.message_id)  # kept: published by the next sync
            raise
        leave.record_own_request(self._session, message_id)

    def is_pending_removal(self) -> bool:
        """Whether we asked to leave this group (and were not added back since): libxmtp's ``PendingRemove``
        membership state, kept once the removal is carried out."""
        return self._ctx.store.leave_requested(self.group_id)
