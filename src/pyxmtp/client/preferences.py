"""A client's preferences (node-sdk's ``Preferences``): consent decisions and inbox states.

Consent is kept locally (:mod:`.consent`) and shared with the inbox's other installations by device sync
(:mod:`.device_sync`): :meth:`Preferences.sync` fetches their changes, :meth:`Preferences.stream_consent` and
:meth:`Preferences.stream_preferences` hand changes out as they happen. Inbox states are :mod:`.inbox`'s (:func:`~.inbox.inbox_states`): from the
client's identity cache, the verified identity logs it fetched, fetched again only when asked (``fetch_*``,
``refresh``) or for an inbox not there yet; an inbox without an identity log is :class:`~.inbox.InboxNotFound`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import consent, inbox
from .consent import Consent, ConsentEntityType, ConsentState
from .context import ClientContext
from .members import InboxState
from .streams import Stream

if TYPE_CHECKING:
    from .device_sync import DeviceSync, PreferenceUpdate


class Preferences:
    """``client.preferences`` (see the module docstring)."""

    def __init__(self, ctx: ClientContext, device_sync: DeviceSync | None = None) -> None:
        self._ctx = ctx
        self._device_sync = device_sync

    def _sync(self) -> DeviceSync:
        if self._device_sync is None:
            raise RuntimeError("these preferences were made without device sync")
        return self._device_sync

    # --- device sync --------------------------------------------------------------------------------------
    async def sync(self) -> int:
        """Fetch and apply the consent and HMAC-key changes of the inbox's other installations (node-sdk
        ``preferences.sync``; the sync groups synced)."""
        return await self._sync().sync_all_device_sync_groups()

    def stream_consent(self) -> Stream[list[Consent]]:
        """Consent changes as they happen here or arrive (node-sdk ``streamConsent``)."""
        return self._sync().stream_consent()

    def stream_preferences(self) -> Stream[PreferenceUpdate]:
        """Preference changes (consent, HMAC key) as they happen (node-sdk ``streamPreferences``)."""
        return self._sync().stream_preferences()

    # --- consent ------------------------------------------------------------------------------------------
    def set_consent_states(self, consents: Sequence[Consent]) -> list[Consent]:
        """Record these decisions (each replaces the entity's earlier one); the ones that changed a state."""
        return consent.record(self._ctx, consents)

    def get_consent_state(self, entity_type: ConsentEntityType, entity: str) -> ConsentState:
        """The decision about a conversation (its id in hex) or an inbox; unknown if none was recorded."""
        return consent.get_state(self._ctx, ConsentEntityType(entity_type), entity)

    # --- inbox states -------------------------------------------------------------------------------------
    async def inbox_states(self, inbox_ids: Sequence[str], *, refresh: bool = False) -> list[InboxState]:
        """These inboxes' states, in order, each once (see the module docstring)."""
        return await inbox.inbox_states(self._ctx, inbox_ids, refresh=refresh)

    async def inbox_state(self, *, refresh: bool = False) -> InboxState:
        """This client's inbox state (:class:`~.inbox.InboxNotFound` before it is registered)."""
        return await inbox.inbox_state(self._ctx, refresh=refresh)

    async def fetch_inbox_state(self) -> InboxState:
        return await self.inbox_state(refresh=True)

    async def get_inbox_states(self, inbox_ids: Sequence[str]) -> list[InboxState]:
        return await self.inbox_states(inbox_ids)

    async def fetch_inbox_states(self, inbox_ids: Sequence[str]) -> list[InboxState]:
        return await self.inbox_states(inbox_ids, refresh=True)
