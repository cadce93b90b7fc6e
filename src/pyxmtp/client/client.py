"""The asyncio XMTP client: one installation of one inbox, talking to one node.

Typical use::

    wallet = LocalWalletSigner.generate()
    client = await Client.create("127.0.0.1:5556", wallet, db_path="alice.db")
    await client.register(wallet)             # once per installation: identity update + key package
    for conversation in await client.sync_welcomes():
        await conversation.sync()
        for message in conversation.messages():
            print(message.sender_inbox_id, message.content)
    dm = client.dm_with(bob_inbox_id)
    await dm.send_text("hi bob")

The client follows libxmtp's order of calls (protocol reference, section 9): it uploads its key package before
publishing the identity update that adds its installation; it processes welcomes and group messages in the
node's id order, remembering cursors; it rotates its key package after consuming welcomes and deletes the
private keys of replaced ones after a grace period (:data:`KEY_PACKAGE_GRACE_NS`), so late welcomes still open
but a stolen database does not open old ones forever.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import grpc

from pyxmtp.conversations.content import STANDARD_REGISTRY
from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.conversations.key_packages import XMTP_CIPHER_SUITE
from pyxmtp.conversations.new_group import dm_extensions, group_extensions
from pyxmtp.identity.builder import add_installation_request, create_inbox_request
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.members import sanitize_address
from pyxmtp.identity.signatures import Signer
from pyxmtp.mls.crypto.keys import SignaturePrivateKey
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.proto.identity.associations import association_pb2

from . import commits, key_packages, welcomes
from .api import ApiCallError, NodeApi
from .context import ClientContext
from .conversation import ClientConversation, DecodedMessage
from .identity import IdentityCache
from .key_packages import KEY_PACKAGE_GRACE_NS, KEY_PACKAGE_ROTATION_NS
from .session import GroupSession, SessionCache
from .store import ClientStore
from .stream import stream_all_messages
from .welcomes import PointeeNotYetThere, UnusableWelcome, WelcomeForHeldConversation

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


class Client:
    """One installation (see the module docstring). Build with :meth:`create`."""

    def __init__(
        self,
        api: NodeApi,
        store: ClientStore,
        installation: InstallationKey,
        inbox_id: str,
        hmac_key: bytes,
        *,
        nonce: int = 0,
        rng: Callable[[int], bytes] = os.urandom,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        signer: SignaturePrivateKey = get_suite(XMTP_CIPHER_SUITE).signature_key_from_bytes(installation.seed)
        self.ctx = ClientContext(
            api=api,
            store=store,
            identities=IdentityCache(),
            installation=installation,
            signer=signer,
            inbox_id=inbox_id,
            hmac_key=hmac_key,
            clock_ns=clock_ns,
            rng=rng,
            registry=STANDARD_REGISTRY,
        )
        self.nonce = nonce
        self._sessions = SessionCache(self.ctx)
        self._handles: dict[bytes, ClientConversation] = {}

    @classmethod
    async def create(
        cls,
        address: str,
        owner: Signer,
        *,
        db_path: str | Path | None = None,
        db_encryption_key: bytes | None = None,
        nonce: int = 0,
        rng: Callable[[int], bytes] = os.urandom,
        clock_ns: Callable[[], int] = time.time_ns,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> Client:
        """The client of ``owner``'s inbox (nonce ``nonce``) at the node ``address``, keeping its state in
        ``db_path`` (None: in memory), encrypted if ``db_encryption_key`` (32 bytes; the ``encrypted`` extra) is
        given. A new database gets a new installation key. ``credentials`` (``grpc.ssl_channel_credentials()``)
        reach a node over TLS; without them the channel is plaintext, as to a node on localhost."""
        store = ClientStore(db_path, encryption_key=db_encryption_key)
        saved = store.installation()
        if saved is None:
            installation = InstallationKey.generate(rng)
            inbox_id = inbox_id_for(owner.identifier, nonce)
            hmac_key = rng(HMAC_KEY_LENGTH)
            with store.transaction():
                store.set_installation(installation.seed, inbox_id, nonce, hmac_key)
        else:
            installation, inbox_id, nonce, hmac_key = InstallationKey(saved[0]), saved[1], saved[2], saved[3]
        client = cls(
            NodeApi(address, credentials=credentials),
            store,
            installation,
            inbox_id,
            hmac_key,
            nonce=nonce,
            rng=rng,
            clock_ns=clock_ns,
        )
        if store.groups_with_unpublished():  # left by a crash or a failed call: publish them now
            try:
                await client.publish_unpublished()
            except (ApiCallError, MLSError) as exc:  # the node is away or misbehaves: open all the same
                log.warning(
                    "messages stored earlier are not published yet (the next sync tries again): %s", exc
                )
        return client

    async def close(self) -> None:
        await self.ctx.api.close()
        self.ctx.store.close()

    # --- what the parts share -------------------------------------------------------------------------------
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
    def signer(self) -> SignaturePrivateKey:
        return self.ctx.signer

    @property
    def inbox_id(self) -> str:
        return self.ctx.inbox_id

    @property
    def hmac_key(self) -> bytes:
        return self.ctx.hmac_key

    @property
    def rng(self) -> Callable[[int], bytes]:
        return self.ctx.rng

    @property
    def clock_ns(self) -> Callable[[], int]:
        return self.ctx.clock_ns

    @property
    def installation_id(self) -> bytes:
        return self.ctx.installation_id

    # --- registration -------------------------------------------------------------------------------------
    async def is_registered(self) -> bool:
        await self.ctx.fetch_identities([self.inbox_id])
        state = self.identities.state(self.inbox_id)
        return state is not None and self.installation_id in state.installations()

    async def register(self, owner: Signer) -> None:
        """Add this installation to the inbox (creating the inbox if it has no log yet), signed by ``owner``
        (a member of the inbox: its wallet) and the installation key. Idempotent."""
        if await self.is_registered():
            await self.maintain()
            return
        await self.rotate_key_package()  # libxmtp uploads first, then publishes the update
        state = self.identities.state(self.inbox_id)
        now = self.clock_ns()
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
        due; :meth:`register` and :meth:`sync_welcomes` call it."""
        await key_packages.maintain(self.ctx)

    async def rotate_key_package(self) -> None:
        """Publish a fresh key package; older ones are deleted :data:`KEY_PACKAGE_GRACE_NS` later."""
        await key_packages.rotate_key_package(self.ctx)

    # --- finding people -----------------------------------------------------------------------------------
    async def inbox_ids_of(self, addresses: Sequence[str]) -> dict[str, str | None]:
        """The inbox id of each Ethereum address (lowercased in the answer), None for an address without one."""
        wanted = [sanitize_address(a) for a in addresses]
        found = await self.api.get_inbox_ids([(a, association_pb2.IDENTIFIER_KIND_ETHEREUM) for a in wanted])
        return {a: found.get(a) for a in wanted}

    async def can_message(self, addresses: Sequence[str]) -> dict[str, bool]:
        """Whether each address has an XMTP inbox with an installation that can be reached."""
        inboxes = await self.inbox_ids_of(addresses)
        known = [i for i in inboxes.values() if i is not None]
        await self.ctx.fetch_identities(known)
        out = {}
        for address, inbox_id in inboxes.items():
            state = None if inbox_id is None else self.identities.state(inbox_id)
            out[address] = state is not None and bool(state.installations())
        return out

    # --- our messages the node does not have yet ------------------------------------------------------------
    def unpublished(self) -> list[tuple[ClientConversation, DecodedMessage]]:
        """Our messages stored but not yet published (:attr:`~.store.DeliveryStatus.UNPUBLISHED`), by
        conversation, in the order they were sent; :meth:`publish_unpublished` publishes them."""
        out: list[tuple[ClientConversation, DecodedMessage]] = []
        for group_id in self.store.groups_with_unpublished():
            conversation = self.conversation(group_id)
            if conversation is not None:
                out += [
                    (conversation, m) for m in conversation.messages() if not m.published and not m.failed
                ]
        return out

    async def publish_unpublished(self) -> None:
        """Sync every conversation that has messages of ours the node does not have yet (stored before a crash or
        a failed call), which publishes them; :meth:`create` and every (re)connect of
        :meth:`stream_all_messages` do it. Raises :class:`~.errors.MessageNotPublished` if the node still
        cannot be reached (they stay stored)."""
        for group_id in self.store.groups_with_unpublished():
            conversation = self.conversation(group_id)
            if conversation is not None:
                await conversation.sync()

    # --- conversations ------------------------------------------------------------------------------------
    def _handle(self, session: GroupSession) -> ClientConversation:
        handle = self._handles.get(session.group_id)
        if handle is None or handle._session is not session:
            handle = self._handles[session.group_id] = ClientConversation(session)
        return handle

    def conversations(self, *, include_sync_groups: bool = False) -> list[ClientConversation]:
        """Every conversation this installation is in, oldest first. libxmtp's device-sync groups (its
        installations' private channel, conversation type SYNC) are left out unless asked for."""
        out = [self._handle(s) for s in self._sessions.all()]
        if include_sync_groups:
            return out
        return [c for c in out if c.conversation.conversation_type is not ConversationType.SYNC]

    def conversation(self, group_id: bytes) -> ClientConversation | None:
        session = self._sessions.get(group_id)
        return None if session is None else self._handle(session)

    def dm_with(self, inbox_id: str) -> ClientConversation | None:
        """The active DM with ``inbox_id`` (the newest, if several), or None. Only a DM whose members are
        exactly us and ``inbox_id`` counts (every DM joined is checked so; this also holds for a database
        written before that check)."""
        found = [
            c
            for c in self.conversations()
            if c.is_active
            and c.conversation.dm_peer == inbox_id
            and set(c.member_inbox_ids()) == {self.inbox_id, inbox_id}
        ]
        return found[-1] if found else None

    async def create_dm(self, peer_inbox_id: str) -> ClientConversation:
        """A new DM with ``peer_inbox_id`` (every installation of both inboxes is added and welcomed).

        libxmtp reuses an existing DM (``find_or_create_dm``); :meth:`find_or_create_dm` does that here.
        """
        extensions = dm_extensions(self.inbox_id, peer_inbox_id, rng=self.rng)
        return await self._create(extensions, [peer_inbox_id])

    async def find_or_create_dm(self, peer_inbox_id: str) -> ClientConversation:
        """The active DM with ``peer_inbox_id`` (:meth:`dm_with`), else a new one."""
        existing = self.dm_with(peer_inbox_id)
        return (
            existing if existing is not None and existing.is_active else await self.create_dm(peer_inbox_id)
        )

    async def create_group(
        self, inbox_ids: Sequence[str], *, name: str = "", description: str = "", image_url: str = ""
    ) -> ClientConversation:
        """A new group with us as super admin and ``inbox_ids`` as members (the "all members" permissions)."""
        extensions = group_extensions(
            self.inbox_id, rng=self.rng, name=name, description=description, image_url=image_url
        )
        return await self._create(extensions, inbox_ids)

    async def _create(
        self, extensions: tuple[Extension, ...], inbox_ids: Sequence[str]
    ) -> ClientConversation:
        """A new conversation, stored only once its members are added and welcomed: a creation that fails (an
        inbox without identity log, the node unreachable) or is cut short leaves nothing behind."""
        ctx = self.ctx
        now_ns = ctx.clock_ns()
        core = CoreConversation.create(extensions, ctx.signer, ctx.inbox_id, rng=ctx.rng, now=now_ns // 10**9)
        group_id = core.group_id
        # its state writes touch no row until it is saved
        session = GroupSession(ctx, core, 0, created_ns=now_ns, added_by=ctx.inbox_id)
        try:
            async with session.lock:
                await commits.update_membership(session, add=inbox_ids)
        except BaseException:
            with ctx.store.transaction():  # the commit's "group updated" entry, if it got that far
                ctx.store.delete_messages(group_id)
            raise
        with ctx.store.transaction():
            ctx.store.save_conversation(session.record())
        self._sessions.add(session)
        return self._handle(session)

    async def sync_welcomes(self) -> list[ClientConversation]:
        """Process every welcome that arrived since the last call; the conversations joined, in order.

        A welcome that cannot be used (not for a key package of ours any more, tampered, a tree that does not
        match the identity logs, a DM that is not one, a conversation we hold already) is logged and skipped;
        the cursor moves past it either way, as libxmtp does.
        """
        return [self._handle(s) for s in await welcomes.sync_welcomes(self.ctx, self._sessions)]

    @property
    def welcome_cursor(self) -> int:
        """The id of the last welcome processed."""
        return self.store.cursor(welcomes.WELCOME_CURSOR)

    def stream_all_messages(
        self, *, reconnect: bool = True
    ) -> AsyncIterator[tuple[ClientConversation, DecodedMessage]]:
        """Every new message of every conversation, live, across node restarts unless ``reconnect`` is false
        (see :mod:`pyxmtp.client.stream`)."""
        return stream_all_messages(self, reconnect=reconnect)
