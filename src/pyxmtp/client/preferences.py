"""A client's preferences (node-sdk's ``Preferences``): consent decisions and inbox states.

Consent is kept locally for now (:mod:`.consent`); syncing it and streaming changes between an inbox's
installations come with device sync. Inbox states come from the client's identity cache: the verified identity
logs it fetched, fetched again only when asked (``refresh``) or when an inbox is not there yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import consent
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
        """These inboxes' states, in order, from the identity cache (fetched first if ``refresh``, or for an
        inbox the cache has not got); an inbox without an identity log on the node is left out."""
        identities = self._ctx.identities
        wanted = list(dict.fromkeys(inbox_ids))
        missing = wanted if refresh else [i for i in wanted if identities.state(i) is None]
        if missing:
            await self._ctx.fetch_identities(missing)
        states = [identities.state(i) for i in wanted]
        return [InboxState.from_association_state(s) for s in states if s is not None]

    async def inbox_state(self, *, refresh: bool = False) -> InboxState:
        """This client's inbox state (see :meth:`inbox_states`)."""
        found = await self.inbox_states([self._ctx.inbox_id], refresh=refresh)
        if not found:
            raise LookupError(f"inbox {self._ctx.inbox_id} has no identity log on the node (not registered)")
        return found[0]

    async def fetch_inbox_state(self) -> InboxState:
        return await self.inbox_state(refresh=True)

    async def get_inbox_states(self, inbox_ids: Sequence[str]) -> list[InboxState]:
        return await self.inbox_states(inbox_ids)

    async def fetch_inbox_states(self, inbox_ids: Sequence[str]) -> list[InboxState]:
        return await self.inbox_states(inbox_ids, refresh=True)
