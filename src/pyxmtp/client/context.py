"""What every part of a client works with: :class:`ClientContext`, built once by
:class:`~pyxmtp.client.Client` and passed down.

The parts (the conversations collection, each conversation, welcome processing, streams) take a context and
never reach back into the client that owns them: the node API, the database, the identity cache, the
installation's keys, the clock, the randomness and the content registry are all here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from pyxmtp.conversations.content import ContentRegistry
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.mls.crypto.keys import SignaturePrivateKey

from .api import NodeApi
from .identity import IdentityCache, IdentityNeeded
from .store import ClientStore

T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False)
class ClientContext:
    """One installation's means (see the module docstring). ``hmac_key`` is the inbox's sender-HMAC key
    (push-notification self-filtering), ``signer`` the installation's MLS signature key."""

    api: NodeApi
    store: ClientStore
    identities: IdentityCache
    installation: InstallationKey
    signer: SignaturePrivateKey
    inbox_id: str
    hmac_key: bytes
    clock_ns: Callable[[], int]
    rng: Callable[[int], bytes]
    registry: ContentRegistry

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
