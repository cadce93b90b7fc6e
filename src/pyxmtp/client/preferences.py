"""A client's preferences (node-sdk's ``Preferences``): consent decisions and inbox states.

Consent is kept locally for now (:mod:`.consent`); syncing it and streaming changes between an inbox's
installations come with device sync. Inbox states are :mod:`.inbox`'s (:func:`~.inbox.inbox_states`): from the
client's identity cache, the verified identity logs it fetched, fetched again only when asked (``fetch_*``,
``refresh``) or for an inbox not there yet; an inbox without an identity log is :class:`~.inbox.InboxNotFound`.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import consent, inbox
from .consent import Consent, ConsentEntityType, ConsentState
from .context import ClientContext
from .members import InboxState


class Preferences:
    """``client.preferences`` (see the module docstring)."""

    def __init__(self, ctx: ClientContext) -> None:
        self._ctx = ctx

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
