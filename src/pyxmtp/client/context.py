"""What every part of a client works with: :class:`ClientContext`, built once by
:class:`~pyxmtp.client.Client` and passed down.

The parts (the conversations collection, each conversation, welcome processing, streams) take a context and
never reach back into the client that owns them: the node API, the database, the identity cache, the
installation's keys, the clock, the randomness and the content registry are all here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pyxmtp.conversations.content import ContentRegistry
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.mls.crypto.keys import SignaturePrivateKey

from .api import NodeApi
from .identity import IdentityCache, IdentityNeeded
from .store import ClientStore

T = TypeVar("T")

#: The store's cursor holding when the HMAC key in use was cycled (ns; 0: never, the installation's own key).
HMAC_CYCLED_CURSOR = "hmac_cycled_at_ns"

#: Told of consent decisions that changed (``consents``) and whether they are to be published to the
#: inbox's other installations (local decisions are; those received from them are not).
ConsentListener = Callable[[Sequence[Any], bool], None]


class PreferenceState:
    """What of a client's preferences changes while it runs: the inbox's sender-HMAC key (device sync replaces
    it with the one the inbox's installations agree on) and the listeners of consent changes (device sync
    publishes them, ``stream_consent`` hands them out)."""

    __slots__ = ("consent_listeners", "hmac_cycled_at_ns", "hmac_key")

    def __init__(self, hmac_key: bytes, hmac_cycled_at_ns: int = 0) -> None:
        self.hmac_key = hmac_key
        self.hmac_cycled_at_ns = hmac_cycled_at_ns
        self.consent_listeners: list[ConsentListener] = []

    def consent_changed(self, consents: Sequence[Any], publish: bool) -> None:
        """Tell the listeners (nothing for an empty list)."""
        if consents:
            for listener in list(self.consent_listeners):
                listener(consents, publish)


@dataclass(frozen=True, slots=True, eq=False)
class ClientContext:
    """One installation's means (see the module docstring). ``prefs`` holds the inbox's sender-HMAC key
    (push-notification self-filtering: :attr:`hmac_key`), ``signer`` is the installation's MLS signature key."""

    api: NodeApi
    store: ClientStore
    identities: IdentityCache
    installation: InstallationKey
    signer: SignaturePrivateKey
    inbox_id: str
    prefs: PreferenceState
    clock_ns: Callable[[], int]
    rng: Callable[[int], bytes]
    registry: ContentRegistry

    @property
    def hmac_key(self) -> bytes:
        """The inbox's sender-HMAC key (42 bytes), as device sync last set it."""
        return self.prefs.hmac_key

    @property
    def installation_id(self) -> bytes:
        return self.installation.public_key

    def now_s(self) -> int:
        """The clock, in seconds (what the MLS layer takes)."""
        return self.clock_ns() // 10**9

    async def fetch_identities(self, inbox_ids: Iterable[str]) -> None:
        """Fetch (the rest of) these inboxes' identity logs into the cache."""
        await self.identities.fetch(self.api, inbox_ids)

    async def retry_with_identities(self, attempt: Callable[[], T], rounds: int = 3) -> T:
        """Run ``attempt``; while it raises :class:`~.identity.IdentityNeeded`, fetch those identity logs and
        run it again."""
        for _ in range(rounds):
            try:
                return attempt()
            except IdentityNeeded as needed:
                await self.fetch_identities(needed.wanted)
        return attempt()
