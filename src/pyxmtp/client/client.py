"""The asyncio XMTP client: one installation of one inbox, talking to one node (node-sdk's ``Client``).

Typical use::

    wallet = LocalWalletSigner.generate()                 # or any pyxmtp.identity.signatures.Signer
    async with await Client.create("127.0.0.1:5556", wallet, db_path="alice.db") as client:
        dm = await client.conversations.create_dm(bob_inbox_id)
        await dm.send_text("hi bob")
        async with client.conversations.stream_all_messages() as stream:
            async for message in stream:
                print(message.sender_inbox_id, message.content)

:meth:`Client.create` opens (or makes) the database and registers the installation when it is not yet (the
signer signs once, for a new installation); :meth:`Client.build` opens a client without a signer.

The client follows libxmtp's order of calls (protocol reference, section 9): it uploads its key package before
publishing the identity update that adds its installation; it processes welcomes and group messages in the
node's id order, remembering cursors; it rotates its key package after consuming welcomes and deletes the
private keys of replaced ones after a grace period (:data:`KEY_PACKAGE_GRACE_NS`), so late welcomes still open
but a stolen database does not open old ones forever.

Every part gets a :class:`~.context.ClientContext` (the node API, the database, the identity cache, the keys,
the clock, the randomness, the content registry); :attr:`Client.conversations` is the collection of
conversations, :attr:`Client.preferences` consent and inbox states.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import grpc

from pyxmtp.conversations.content import STANDARD_REGISTRY, ContentCodec, ContentRegistry
from pyxmtp.conversations.key_packages import XMTP_CIPHER_SUITE
from pyxmtp.identity.actions import RevokeAssociation
from pyxmtp.identity.builder import add_installation_request, create_inbox_request
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signature_request import SignatureRequest
from pyxmtp.identity.signatures import Signer, SmartContractWalletVerifier
from pyxmtp.identity.state import AssociationState
from pyxmtp.mls.crypto.keys import SignaturePrivateKey
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.errors import MLSError

from . import inbox, key_packages
from .api import ApiCallError, NodeApi
from .archive import ArchiveOptions, ClientArchives, ImportSummary
from .context import HMAC_CYCLED_CURSOR, ClientContext, PreferenceState
from .conversations import Conversations
from .device_sync import DeviceSync
from .device_sync.history import AvailableArchive
from .errors import NotRegistered
from .identity import IdentityCache
from .inbox import AnySigner, InboxOperationError, InstallationsUpdate, KeyPackageStatus
from .key_packages import KEY_PACKAGE_GRACE_NS, KEY_PACKAGE_ROTATION_NS
from .members import Identifier, InboxState, as_identifier, identifier_key, inbox_ids_for
from .preferences import Preferences
from .store import ClientStore
from .welcomes import WELCOME_CURSOR, PointeeNotYetThere, UnusableWelcome, WelcomeForHeldConversation

__all__ = [
    "HMAC_KEY_LENGTH",
    "KEY_PACKAGE_GRACE_NS",
    "KEY_PACKAGE_ROTATION_NS",
    "Client",
    "PointeeNotYetThere",
    "UnusableWelcome",
    "WelcomeForHeldConversation",
]

log = logging.getLogger("pyxmtp.client")

#: libxmtp's per-inbox HMAC key for sender_hmac is 42 random bytes.
HMAC_KEY_LENGTH = 42


def _registry(codecs: Iterable[ContentCodec[object]]) -> ContentRegistry:
    codecs = list(codecs)
    if not codecs:
        return STANDARD_REGISTRY
    registry = ContentRegistry.standard()
    for codec in codecs:
        registry.register(codec, replace=True)
    return registry


class Client(ClientArchives):
    """One installation (see the module docstring). Make one with :meth:`create` or :meth:`build`."""

    def __init__(
        self,
        ctx: ClientContext,
        *,
        nonce: int = 0,
        signer: Signer | None = None,
        identifier: MemberIdentifier | None = None,
    ) -> None:
        self.ctx = ctx
        self.nonce = nonce
        self._owner = signer
        self._identifier = identifier if identifier is not None or signer is None else signer.identifier
        self.conversations = Conversations(ctx)
        #: consent, HMAC-key and history sync with the inbox's other installations (:mod:`.device_sync`)
        self.device_sync = DeviceSync(ctx, self.conversations.hub)
        self.preferences = Preferences(ctx, self.device_sync)

    @classmethod
    async def create(
        cls,
        address: str | Sequence[str],
        signer: Signer,
        *,
        db_path: str | Path | None = None,
        db_encryption_key: bytes | None = None,
        nonce: int = 0,
        register: bool = True,
        codecs: Iterable[ContentCodec[object]] = (),
        api_timeout: float = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        proxy: str | None = None,
        rng: Callable[[int], bytes] = os.urandom,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> Client:
        """The client of ``signer``'s inbox (nonce ``nonce``) at the node ``address``, keeping its state in
        ``db_path`` (None: in memory), encrypted if ``db_encryption_key`` (32 bytes; the ``encrypted`` extra) is
        given. A new database gets a new installation key; an existing one keeps its installation and inbox
        (``signer`` is then only needed to register an installation that is not yet). Registers the
        installation unless ``register`` is false (node-sdk's ``disableAutoRegister``).

        ``codecs`` add content types of your own to the standard ones. ``api_timeout`` bounds each call to the
        node, including the wait for a node that is restarting. ``credentials``
        (``grpc.ssl_channel_credentials()``) reach a node over TLS; without them the channel is plaintext, as to
        a node on localhost. ``address`` may list several nodes (gRPC's round_robin over them), and ``proxy``
        (``socks5h://127.0.0.1:9050`` for Tor) hides our IP address from them (see :class:`~.api.NodeApi`)."""
        client = await cls._open(
            address,
            signer.identifier,
            nonce=nonce,
            db_path=db_path,
            db_encryption_key=db_encryption_key,
            codecs=codecs,
            api_timeout=api_timeout,
            credentials=credentials,
            proxy=proxy,
            rng=rng,
            clock_ns=clock_ns,
            signer=signer,
        )
        if register:
            try:
                await client.register()
            except BaseException:
                await client.close()
                raise
        return client

    @classmethod
    async def build(
        cls,
        address: str | Sequence[str],
        identifier: Identifier,
        *,
        db_path: str | Path | None = None,
        db_encryption_key: bytes | None = None,
        nonce: int = 0,
        codecs: Iterable[ContentCodec[object]] = (),
        api_timeout: float = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        proxy: str | None = None,
        rng: Callable[[int], bytes] = os.urandom,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> Client:
        """The client of ``identifier``'s inbox without a signer (node-sdk's ``Client.build``): for an
        installation registered already (its database). It never registers; :meth:`register` then needs a
        signer."""
        return await cls._open(
            address,
            as_identifier(identifier),
            nonce=nonce,
            db_path=db_path,
            db_encryption_key=db_encryption_key,
            codecs=codecs,
            api_timeout=api_timeout,
            credentials=credentials,
            proxy=proxy,
            rng=rng,
            clock_ns=clock_ns,
            signer=None,
        )

    @classmethod
    async def _open(
        cls,
        address: str | Sequence[str],
        identifier: MemberIdentifier,
        *,
        nonce: int,
        db_path: str | Path | None,
        db_encryption_key: bytes | None,
        codecs: Iterable[ContentCodec[object]],
        api_timeout: float,
        credentials: grpc.ChannelCredentials | None,
        proxy: str | None,
        rng: Callable[[int], bytes],
        clock_ns: Callable[[], int],
        signer: Signer | None,
    ) -> Client:
        # a bad address or proxy fails here, before any database file is opened
        api = NodeApi(address, credentials=credentials, timeout=api_timeout, proxy=proxy)
        try:
            store = ClientStore(db_path, encryption_key=db_encryption_key)
        except BaseException:
            await api.close()
            raise
        saved = store.installation()
        if saved is None:
            installation = InstallationKey.generate(rng)
            inbox_id = inbox_id_for(identifier, nonce)
            hmac_key = rng(HMAC_KEY_LENGTH)
            with store.transaction():
                store.set_installation(installation.seed, inbox_id, nonce, hmac_key)
        else:
            installation, inbox_id, nonce, hmac_key = InstallationKey(saved[0]), saved[1], saved[2], saved[3]
        mls_signer: SignaturePrivateKey = get_suite(XMTP_CIPHER_SUITE).signature_key_from_bytes(
            installation.seed
        )
        ctx = ClientContext(
            api=api,
            store=store,
            identities=IdentityCache(),
            installation=installation,
            signer=mls_signer,
            inbox_id=inbox_id,
            prefs=PreferenceState(hmac_key, store.cursor(HMAC_CYCLED_CURSOR)),
            clock_ns=clock_ns,
            rng=rng,
            registry=_registry(codecs),
        )
        client = cls(ctx, nonce=nonce, signer=signer, identifier=identifier)
        client.device_sync.resume()  # consent changes a crash left unpublished
        if client.conversations.hub.has_unsent():  # left by a crash or a failed call: send them now
            try:
                await client.conversations.publish_unpublished()
            except (ApiCallError, MLSError) as exc:  # the node is away or misbehaves: open all the same
                log.warning(
                    "messages stored earlier are not published yet (the next sync tries again): %s", exc
                )
        return client

    async def close(self) -> None:
        await self.device_sync.close()
        await self.ctx.api.close()
        self.ctx.store.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- who ----------------------------------------------------------------------------------------------
    @property
    def inbox_id(self) -> str:
        return self.ctx.inbox_id

    @property
    def installation_id(self) -> bytes:
        """This installation's id: its public signature key (``.hex()`` for node-sdk's string)."""
        return self.ctx.installation_id

    @property
    def account_identifier(self) -> MemberIdentifier | None:
        """The identifier the client was made with (the signer's, or the one given to :meth:`build`)."""
        return self._identifier

    @property
    def signer(self) -> SignaturePrivateKey:
        """The installation's MLS signature key."""
        return self.ctx.signer

    # the shared means, for code that works below the public API
    @property
    def api(self) -> NodeApi:
        return self.ctx.api

    @property
    def store(self) -> ClientStore:
        return self.ctx.store

    @property
    def identities(self) -> IdentityCache:
        return self.ctx.identities

    @property
    def installation(self) -> InstallationKey:
        return self.ctx.installation

    @property
    def clock_ns(self) -> Callable[[], int]:
        return self.ctx.clock_ns

    @property
    def welcome_cursor(self) -> int:
        """The id of the last welcome processed."""
        return self.ctx.store.cursor(WELCOME_CURSOR)

    # --- registration -------------------------------------------------------------------------------------
    async def is_registered(self) -> bool:
        """Whether the inbox's identity log (as the node serves it now) lists this installation."""
        await self.ctx.fetch_identities([self.inbox_id])
        state = self.identities.state(self.inbox_id)
        return state is not None and self.installation_id in state.installations()

    async def register(self, signer: Signer | None = None) -> None:
        """Add this installation to the inbox (creating the inbox if it has no log yet), signed by ``signer`` (a
        member of the inbox: its wallet; by default the one the client was created with) and the installation
        key. Idempotent: a registered installation only gets its key-package upkeep. :class:`NotRegistered` if
        it is not registered and there is no signer."""
        if await self.is_registered():
            await self.maintain()
            return
        owner = signer if signer is not None else self._owner
        if owner is None:
            raise NotRegistered(
                f"installation {self.installation_id.hex()} is not registered and has no signer"
            )
        await self.rotate_key_package()  # libxmtp uploads first, then publishes the update
        state = self.identities.state(self.inbox_id)
        now = self.ctx.clock_ns()
        if state is None:
            request = create_inbox_request(
                owner.identifier, self.installation_id, nonce=self.nonce, client_timestamp_ns=now
            )
        else:
            request = add_installation_request(
                self.inbox_id, owner.identifier, self.installation_id, client_timestamp_ns=now
            )
        request.sign_with(self.installation)
        request.sign_with(owner)
        await self.api.publish_identity_update(request.build_identity_update())
        if not await self.is_registered():  # pragma: no cover - the node accepted but does not serve it
            raise RuntimeError("the node accepted the identity update but does not list this installation")

    async def maintain(self) -> None:
        """Key-package upkeep, as libxmtp's workers (:func:`.key_packages.maintain`). Cheap when nothing is
        due; :meth:`register` and every sync of welcomes call it."""
        await key_packages.maintain(self.ctx)

    async def rotate_key_package(self) -> None:
        """Publish a fresh key package; older ones are deleted :data:`KEY_PACKAGE_GRACE_NS` later."""
        await key_packages.rotate_key_package(self.ctx)

    # --- device sync (node-sdk's names; see :mod:`.device_sync`) ------------------------------------------
    async def send_sync_request(self, server_url: str, options: ArchiveOptions | None = None) -> str:
        """Ask the inbox's other installations for their history through the history server at ``server_url``
        (node-sdk ``sendSyncRequest``); the request's pin. Replies are imported by
        :meth:`sync_all_device_sync_groups`."""
        return await self.device_sync.send_sync_request(server_url, options)

    async def send_sync_archive(
        self, server_url: str, pin: str, options: ArchiveOptions | None = None
    ) -> None:
        """Upload this installation's archive and post a sync reply with ``request_id = pin`` (node-sdk
        ``sendSyncArchive``)."""
        await self.device_sync.send_sync_archive(server_url, pin, options)

    def list_available_archives(self, days_cutoff: int = 7) -> list[AvailableArchive]:
        """The archives sync replies in our sync groups offer, newest first (node-sdk
        ``listAvailableArchives``)."""
        return self.device_sync.list_available_archives(days_cutoff)

    async def process_sync_archive(self, pin: str | None = None) -> ImportSummary:
        """Download and import the archive of the newest sync reply with this pin, or the newest of all
        (node-sdk ``processSyncArchive``)."""
        return await self.device_sync.process_sync_archive(pin)

    async def sync_all_device_sync_groups(self) -> int:
        """Sync the inbox's sync groups and handle their new messages: consent and HMAC-key updates merged,
        requests answered, replies to our requests imported (node-sdk ``syncAllDeviceSyncGroups``); how many
        sync groups were synced."""
        return await self.device_sync.sync_all_device_sync_groups()

    # --- finding people -----------------------------------------------------------------------------------
    async def fetch_inbox_id_by_identifier(self, identifier: Identifier) -> str | None:
        """The inbox id of ``identifier`` (an Ethereum address or a :class:`MemberIdentifier`), None if it has
        none."""
        return next(iter((await inbox_ids_for(self.api, [identifier])).values()))

    async def inbox_ids_of(self, identifiers: Sequence[Identifier]) -> dict[str, str | None]:
        """The inbox id of each identifier (keyed by its lowercase address or a passkey's hex), None for one
        without an inbox."""
        return await inbox_ids_for(self.api, identifiers)

    async def can_message(self, identifiers: Sequence[Identifier]) -> dict[str, bool]:
        """Whether each identifier (keyed as in :meth:`inbox_ids_of`) has an inbox with an installation that
        can be reached."""
        inboxes = await inbox_ids_for(self.api, identifiers)
        known = [i for i in inboxes.values() if i is not None]
        await self.ctx.fetch_identities(known)
        out = {}
        for key, inbox_id in inboxes.items():
            state = None if inbox_id is None else self.identities.state(inbox_id)
            out[key] = state is not None and bool(state.installations())
        return out

    async def inbox_state(self, *, refresh: bool = False) -> InboxState:
        """This inbox's state (linked accounts, installations, recovery identifier) from the identity cache, fetched
        from the node if not there yet or if ``refresh``; :class:`~.inbox.InboxNotFound` before it is registered."""
        return await inbox.inbox_state(self.ctx, refresh=refresh)

    async def inbox_states_for(self, inbox_ids: Sequence[str], *, refresh: bool = False) -> list[InboxState]:
        """These inboxes' states (see :meth:`inbox_state`), in order, each once; :class:`~.inbox.InboxNotFound`
        names every inbox without an identity log (see :func:`.inbox.inbox_states`)."""
        return await inbox.inbox_states(self.ctx, inbox_ids, refresh=refresh)

    @staticmethod
    def identifier_key(identifier: Identifier) -> str:
        """How :meth:`can_message` and :meth:`inbox_ids_of` key an identifier."""
        return identifier_key(as_identifier(identifier))

    # --- identity management (pyxmtp.client.inbox; node-sdk's one-call forms) -----------------------------
    # Changes signed by the recovery identifier take ``signer=`` (by default the signer the client was created
    # with); each returns the inbox's new state. A revocation also brings our conversations in line at once.
    def _recovery_signer(self, signer: AnySigner | None) -> AnySigner:
        chosen = signer if signer is not None else self._owner
        if chosen is None:
            raise InboxOperationError("this client was built without a signer: pass the recovery signer= ")
        return chosen

    async def add_account(
        self,
        new_signer: AnySigner,
        *,
        allow_inbox_reassign: bool = False,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> InboxState:
        """Link ``new_signer``'s wallet or passkey to this inbox (node-sdk ``unsafe_addAccount``): it signs, and so
        does the installation key; :class:`~.inbox.AccountAlreadyAssociated` if it belongs to an inbox (another
        one's moves here only with ``allow_inbox_reassign``)."""
        state = await inbox.add_account(
            self.ctx, new_signer, allow_inbox_reassign=allow_inbox_reassign, scw_verifier=scw_verifier
        )
        return InboxState.from_association_state(state)

    async def remove_account(
        self,
        identifier: Identifier,
        *,
        signer: AnySigner | None = None,
        allow_self_revocation: bool = False,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> InboxState:
        """Unlink an account (node-sdk ``removeAccount``), which also revokes the installations it registered
        (this one only with ``allow_self_revocation``); signed by the recovery identifier."""
        state = await inbox.remove_account(
            self.ctx,
            self._recovery_signer(signer),
            as_identifier(identifier),
            allow_self_revocation=allow_self_revocation,
            scw_verifier=scw_verifier,
        )
        return await self._revoked(state)

    async def change_recovery_identifier(
        self,
        identifier: Identifier,
        *,
        signer: AnySigner | None = None,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> InboxState:
        """Make ``identifier`` the recovery identifier (node-sdk ``changeRecoveryIdentifier``), signed by the
        current one; from then on only the new one revokes or changes it."""
        state = await inbox.change_recovery_identifier(
            self.ctx, self._recovery_signer(signer), as_identifier(identifier), scw_verifier=scw_verifier
        )
        return InboxState.from_association_state(state)

    async def revoke_installations(
        self,
        installation_ids: Sequence[bytes],
        *,
        signer: AnySigner | None = None,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> InboxState:
        """Revoke installations of this inbox (node-sdk ``revokeInstallations``), signed by the recovery
        identifier; :class:`~.inbox.NotAMember` names ids that are not installations of the inbox."""
        state = await inbox.revoke_installations(
            self.ctx, self._recovery_signer(signer), installation_ids, scw_verifier=scw_verifier
        )
        return await self._revoked(state)

    async def revoke_all_other_installations(
        self, *, signer: AnySigner | None = None, scw_verifier: SmartContractWalletVerifier | None = None
    ) -> InboxState:
        """Revoke every installation of this inbox but this one (node-sdk ``revokeAllOtherInstallations``),
        signed by the recovery identifier; nothing is published when there is no other."""
        state = await inbox.revoke_all_other_installations(
            self.ctx, self._recovery_signer(signer), scw_verifier=scw_verifier
        )
        return await self._revoked(state)

    @staticmethod
    async def revoke_installations_with_signer(
        address: str | Sequence[str],
        signer: AnySigner,
        inbox_id: str,
        installation_ids: Sequence[bytes],
        *,
        api_timeout: float = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        proxy: str | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> InboxState:
        """Revoke installations of any inbox without a client of it (node-sdk's static
        ``Client.revokeInstallations``), signed by its recovery identifier ``signer``: what an inbox at its
        installation limit does before it can register a new one."""
        async with NodeApi(address, credentials=credentials, timeout=api_timeout, proxy=proxy) as api:
            state = await inbox.revoke_installations_with_signer(
                api, signer, inbox_id, installation_ids, clock_ns=clock_ns
            )
        return InboxState.from_association_state(state)

    async def update_group_installations(self) -> InstallationsUpdate:
        """Bring every active conversation's tree in line with its members' identity logs now (a commit adding
        new installations and removing revoked ones where needed); the revocations do it themselves, and every
        send does it too (at most every 5 s). A conversation that fails does not stop the others."""
        hub = self.conversations.hub
        return await inbox.update_group_installations([hub.handle(s) for s in hub.sessions.all()])

    async def _revoked(self, state: AssociationState) -> InboxState:
        """After a revocation in our inbox: our conversations drop the revoked installations (unless this one is
        revoked too: it can commit nothing more)."""
        if self.installation_id in state.installations():
            result = await self.update_group_installations()
            for group_id, exc in result.failed.items():
                log.warning(
                    "conversation %s still lists a revoked installation (its next send tries again): %s",
                    group_id.hex(),
                    exc,
                )
        return InboxState.from_association_state(state)

    # the request-then-sign forms (node-sdk's unsafe_*SignatureRequest and unsafe_applySignatureRequest)
    async def add_account_signature_request(
        self,
        identifier: Identifier,
        *,
        allow_inbox_reassign: bool = False,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> SignatureRequest:
        """Linking ``identifier`` (see :meth:`add_account`): signed by the installation key already; the account
        signs :attr:`~pyxmtp.identity.signature_request.SignatureRequest.signature_text`, then
        :meth:`apply_signature_request`."""
        return await inbox.add_account_request(
            self.ctx,
            as_identifier(identifier),
            allow_inbox_reassign=allow_inbox_reassign,
            scw_verifier=scw_verifier,
        )

    async def remove_account_signature_request(
        self,
        identifier: Identifier,
        *,
        allow_self_revocation: bool = False,
        scw_verifier: SmartContractWalletVerifier | None = None,
    ) -> SignatureRequest:
        """Unlinking ``identifier`` (see :meth:`remove_account`), for the recovery identifier to sign."""
        return await inbox.remove_account_request(
            self.ctx,
            as_identifier(identifier),
            allow_self_revocation=allow_self_revocation,
            scw_verifier=scw_verifier,
        )

    async def revoke_installations_signature_request(
        self, installation_ids: Sequence[bytes], *, scw_verifier: SmartContractWalletVerifier | None = None
    ) -> SignatureRequest:
        """Revoking installations (see :meth:`revoke_installations`), for the recovery identifier to sign."""
        return await inbox.revoke_installations_request(self.ctx, installation_ids, scw_verifier=scw_verifier)

    async def revoke_all_other_installations_signature_request(
        self, *, scw_verifier: SmartContractWalletVerifier | None = None
    ) -> SignatureRequest | None:
        """Revoking every other installation, for the recovery identifier to sign; None when there is none."""
        return await inbox.revoke_all_other_installations_request(self.ctx, scw_verifier=scw_verifier)

    async def change_recovery_identifier_signature_request(
        self, identifier: Identifier, *, scw_verifier: SmartContractWalletVerifier | None = None
    ) -> SignatureRequest:
        """Changing the recovery identifier (see :meth:`change_recovery_identifier`), for the current one to
        sign."""
        return await inbox.change_recovery_identifier_request(
            self.ctx, as_identifier(identifier), scw_verifier=scw_verifier
        )

    async def apply_signature_request(
        self, request: SignatureRequest, *, scw_verifier: SmartContractWalletVerifier | None = None
    ) -> InboxState:
        """Check and publish a fully signed request (see :func:`.inbox.apply_signature_request`: nothing is
        published if a signature is missing or a rule is broken); the inbox's new state. One that revokes members
        of this inbox brings our conversations in line, as :meth:`revoke_installations` does."""
        state = await inbox.apply_signature_request(self.ctx, request, scw_verifier=scw_verifier)
        revokes = any(isinstance(a, RevokeAssociation) for a in request.actions)
        if revokes and request.inbox_id == self.inbox_id:
            return await self._revoked(state)
        return InboxState.from_association_state(state)

    # --- the installation key -----------------------------------------------------------------------------
    def sign_with_installation_key(self, text: str) -> bytes:
        """This installation's signature of ``text`` (node-sdk ``signWithInstallationKey``: Ed25519ph, libxmtp's
        public signature context)."""
        return inbox.sign_with_installation_key(self.ctx, text)

    def verify_signed_with_installation_key(self, text: str, signature: bytes) -> bool:
        """Whether this installation signed ``text`` (node-sdk ``verifySignedWithInstallationKey``)."""
        return inbox.verify_signed_with_installation_key(self.ctx, text, signature)

    @staticmethod
    def verify_signed_with_public_key(text: str, signature: bytes, public_key: bytes) -> bool:
        """Whether the installation ``public_key`` signed ``text`` (node-sdk ``verifySignedWithPublicKey``)."""
        return inbox.verify_signed_with_public_key(text, signature, public_key)

    async def fetch_key_package_statuses(
        self, installation_ids: Sequence[bytes]
    ) -> dict[bytes, KeyPackageStatus]:
        """Each installation's current key package on the node, checked (node-sdk
        ``getKeyPackageStatusesForInstallationIds``; see :mod:`.key_package_status`)."""
        return await inbox.key_package_statuses(self.ctx, installation_ids)
