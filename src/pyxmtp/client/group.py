"""A group conversation (node-sdk's ``Group``): its metadata, admins and members.

Admin-list changes, permission updates and leave requests (``request_removal``) are the sans-IO conversations
layer's work in progress; their methods here raise :class:`NotImplementedError` until they are wired to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import commits
from .conversation import Conversation
from .errors import MembershipUpdateError
from .members import Identifier, inbox_ids_for

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
            await commits.update_membership(self._session, remove=list(inbox_ids))

    async def remove_members_by_identifiers(self, identifiers: Sequence[Identifier]) -> None:
        await self.remove_members(await self._inbox_ids(identifiers))

    async def _inbox_ids(self, identifiers: Sequence[Identifier]) -> list[str]:
        found = await inbox_ids_for(self._ctx.api, identifiers)
        missing = [key for key, inbox in found.items() if inbox is None]
        if missing:
            raise MembershipUpdateError(f"no inbox for {missing}")
        return [inbox for inbox in found.values() if inbox is not None]

    # --- admins (read here; changed by the conversations layer's admin work) -----------------------------
    def list_admins(self) -> list[str]:
        return list(self._core.context.mutable.admins)

    def list_super_admins(self) -> list[str]:
        return list(self._core.context.mutable.super_admins)

    def is_admin(self, inbox_id: str) -> bool:
        return inbox_id in self._core.context.mutable.admins

    def is_super_admin(self, inbox_id: str) -> bool:
        return inbox_id in self._core.context.mutable.super_admins

    async def add_admin(self, inbox_id: str) -> None:
        raise NotImplementedError("admin-list changes come with the conversations layer's admin work")

    async def remove_admin(self, inbox_id: str) -> None:
        raise NotImplementedError("admin-list changes come with the conversations layer's admin work")

    async def add_super_admin(self, inbox_id: str) -> None:
        raise NotImplementedError("admin-list changes come with the conversations layer's admin work")

    async def remove_super_admin(self, inbox_id: str) -> None:
        raise NotImplementedError("admin-list changes come with the conversations layer's admin work")

    def permissions(self) -> object:
        raise NotImplementedError("the permission policies come with the conversations layer's admin work")

    async def update_permission(self, *args: object) -> None:
        raise NotImplementedError("permission updates come with the conversations layer's admin work")

    async def request_removal(self) -> None:
        """Leave the group (libxmtp's LeaveRequest)."""
        raise NotImplementedError("leave requests come with the conversations layer's admin work")

    def is_pending_removal(self) -> bool:
        raise NotImplementedError("leave requests come with the conversations layer's admin work")
