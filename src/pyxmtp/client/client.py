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
from dataclasses import replace
from pathlib import Path

import grpc
from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.conversations.conversation import Conversation
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.conversations.key_packages import XMTP_CIPHER_SUITE, create_xmtp_key_package
from pyxmtp.conversations.new_group import dm_extensions, group_extensions
from pyxmtp.conversations.welcome_wrap import (
    CURVE25519,
    UNSPECIFIED,
    XWING,
    WrapperKeyPair,
    algorithm_name,
    generate_wrapper_key_pair,
    open_pointee,
    unwrap_welcome,
    unwrap_welcome_pointer,
)
from pyxmtp.identity.builder import add_installation_request, create_inbox_request
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.members import sanitize_address
from pyxmtp.identity.signatures import Signer
from pyxmtp.mls.codec import encode
from pyxmtp.mls.crypto.keys import HPKEPrivateKey, SignaturePrivateKey
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.errors import MLSError, RemoteMLSError
from pyxmtp.mls.key_packages import KeyPackageBundle
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.proto.identity.associations import association_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .api import ApiCallError, NodeApi, welcome_id
from .conversation import ClientConversation, DecodedMessage, retry_with_identities
from .identity import IdentityCache
from .store import ClientStore, ConversationRecord, KeyPackageRecord
from .stream import stream_all_messages

log = logging.getLogger("pyxmtp.client")

#: Replaced key packages keep their private keys this long, for welcomes still on the way (libxmtp: 1 day).
KEY_PACKAGE_GRACE_NS = 24 * 3600 * 10**9
#: A key package is replaced after 30 days even without welcomes (libxmtp), well within its 84-day lifetime.
KEY_PACKAGE_ROTATION_NS = 30 * 24 * 3600 * 10**9
_WELCOME_CURSOR = "welcomes"
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
        self.api = api
        self.store = store
        self.installation = installation
        self.inbox_id = inbox_id
        self.nonce = nonce
        self.hmac_key = hmac_key  # the sender-HMAC key (push-notification self-filtering)
        self.rng = rng
        self.clock_ns = clock_ns
        self.identities = IdentityCache()
        self.signer: SignaturePrivateKey = get_suite(XMTP_CIPHER_SUITE).signature_key_from_bytes(
            installation.seed
        )
        self._conversations: dict[bytes, ClientConversation] = {}

    @classmethod
    async def create(
        cls,
        address: str | Sequence[str],
        owner: Signer,
        *,
        db_path: str | Path | None = None,
        db_encryption_key: bytes | None = None,
        nonce: int = 0,
        rng: Callable[[int], bytes] = os.urandom,
        clock_ns: Callable[[], int] = time.time_ns,
        credentials: grpc.ChannelCredentials | None = None,
        proxy: str | None = None,
    ) -> Client:
        """The client of ``owner``'s inbox (nonce ``nonce``) at the node ``address``, keeping its state in
        ``db_path`` (None: in memory), encrypted if ``db_encryption_key`` (32 bytes; the ``encrypted`` extra) is
        given. A new database gets a new installation key. ``credentials`` (``grpc.ssl_channel_credentials()``)
        reach a node over TLS; without them the channel is plaintext, as to a node on localhost. ``address`` may
        list several nodes, and ``proxy`` (``socks5h://127.0.0.1:9050`` for Tor) hides our IP address from them
        (see :class:`~.api.NodeApi`)."""
        api = NodeApi(
            address, credentials=credentials, proxy=proxy
        )  # a bad address or proxy fails here, first
        try:
            store = ClientStore(db_path, encryption_key=db_encryption_key)
        except BaseException:
            await api.close()
            raise
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
            api,
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
        await self.api.close()
        self.store.close()

    @property
    def installation_id(self) -> bytes:
        return self.installation.public_key

    # --- registration -------------------------------------------------------------------------------------
    async def is_registered(self) -> bool:
        await self.identities.fetch(self.api, [self.inbox_id])
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
        """Key-package upkeep, as libxmtp's workers: a new key package once the current one is
        :data:`KEY_PACKAGE_ROTATION_NS` old, and the private keys of replaced ones deleted when their grace
        period is over. Cheap when nothing is due; :meth:`register` and :meth:`sync_welcomes` call it."""
        now_ns = self.clock_ns()
        newest = self.store.newest_key_package_ns()
        if newest is None or now_ns - newest >= KEY_PACKAGE_ROTATION_NS:
            await self.rotate_key_package()
            return
        with self.store.transaction():
            self.store.delete_expired_key_packages(now_ns)

    async def rotate_key_package(self) -> None:
        """Publish a fresh key package; older ones are deleted :data:`KEY_PACKAGE_GRACE_NS` later."""
        now_ns = self.clock_ns()
        wrapper: WrapperKeyPair = generate_wrapper_key_pair(self.rng)
        bundle = create_xmtp_key_package(
            self.inbox_id, self.signer, rng=self.rng, now=now_ns // 10**9, welcome_wrapper=wrapper.extension()
        )
        record = KeyPackageRecord(
            wrapper.public_key, bundle.to_bytes(), wrapper.private_key_bytes(), now_ns, None
        )
        with self.store.transaction():
            self.store.add_key_package(record)
        await self.api.upload_key_package(encode(bundle.key_package))
        with self.store.transaction():
            self.store.retire_key_packages(
                keep=wrapper.public_key, delete_at_ns=now_ns + KEY_PACKAGE_GRACE_NS
            )
            self.store.delete_expired_key_packages(now_ns)

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
        await self.identities.fetch(self.api, known)
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
        :meth:`stream_all_messages` do it. Raises :class:`~.delivery.MessageNotPublished` if the node still
        cannot be reached (they stay stored)."""
        for group_id in self.store.groups_with_unpublished():
            conversation = self.conversation(group_id)
            if conversation is not None:
                await conversation.sync()

    # --- conversations ------------------------------------------------------------------------------------
    def _load(self, record: ConversationRecord) -> ClientConversation:
        conversation = self._conversations.get(record.group_id)
        if conversation is None:
            group = Conversation.from_bytes(record.state, self.inbox_id)
            conversation = ClientConversation(self, group, record.cursor)
            self._conversations[record.group_id] = conversation
        return conversation

    def conversations(self, *, include_sync_groups: bool = False) -> list[ClientConversation]:
        """Every conversation this installation is in, oldest first. libxmtp's device-sync groups (its
        installations' private channel, conversation type SYNC) are left out unless asked for."""
        out = [self._load(r) for r in self.store.conversations()]
        if include_sync_groups:
            return out
        return [c for c in out if c.conversation.conversation_type is not ConversationType.SYNC]

    def conversation(self, group_id: bytes) -> ClientConversation | None:
        record = self.store.conversation(group_id)
        return None if record is None else self._load(record)

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
        now_ns = self.clock_ns()
        conversation = Conversation.create(
            extensions, self.signer, self.inbox_id, rng=self.rng, now=now_ns // 10**9
        )
        group_id = conversation.group_id
        handle = ClientConversation(self, conversation, 0)  # its state writes touch no row until it is saved
        try:
            await handle.add_members(inbox_ids)
        except BaseException:
            with self.store.transaction():  # the commit's "group updated" entry, if it got that far
                self.store.delete_messages(group_id)
            raise
        record = ConversationRecord(
            group_id, handle.conversation.to_bytes(), handle.cursor, now_ns, self.inbox_id
        )
        with self.store.transaction():
            self.store.save_conversation(record)
        self._conversations[group_id] = handle
        return handle

    async def sync_welcomes(self) -> list[ClientConversation]:
        """Process every welcome that arrived since the last call; the conversations joined, in order.

        A welcome that cannot be used (not for a key package of ours any more, tampered, a tree that does not
        match the identity logs, a DM that is not one, a conversation we hold already) is logged and skipped;
        the cursor moves past it either way, as libxmtp does.
        """
        cursor = self.store.cursor(_WELCOME_CURSOR)
        joined: list[ClientConversation] = []
        seen_any = False
        async for welcome in self.api.welcomes_after(self.installation_id, cursor):
            seen_any = True
            wid = welcome_id(welcome)
            try:
                opened = await self._open_welcome(welcome)
                conversation = await self._join(wid, *opened)
            except PointeeNotYetThere as exc:
                log.info("welcome %d: %s; trying again at the next sync", wid, exc)
                break  # the cursor stays before it
            except (MLSError, ProtobufDecodeError) as exc:
                log.warning("welcome %d could not be used: %s", wid, exc)
                self._advance_welcomes(wid)
                continue
            joined.append(conversation)
        if seen_any:
            await self.rotate_key_package()  # a welcome used the key package: replace it (libxmtp does too)
        else:
            await self.maintain()
        return joined

    @property
    def welcome_cursor(self) -> int:
        """The id of the last welcome processed."""
        return self.store.cursor(_WELCOME_CURSOR)

    def stream_all_messages(
        self, *, reconnect: bool = True
    ) -> AsyncIterator[tuple[ClientConversation, DecodedMessage]]:
        """Every new message of every conversation, live, across node restarts unless ``reconnect`` is false
        (see :mod:`pyxmtp.client.stream`)."""
        return stream_all_messages(self, reconnect=reconnect)

    def _advance_welcomes(self, welcome_id: int) -> None:
        with self.store.transaction():
            self.store.set_cursor(_WELCOME_CURSOR, max(welcome_id, self.store.cursor(_WELCOME_CURSOR)))

    async def _open_welcome(self, welcome: mls_pb2.WelcomeMessage) -> tuple[KeyPackageBundle, bytes, int]:
        """``(our key package, the MLS Welcome, the cursor to read the group from)`` of a V1 welcome, or of the
        pointee a welcome pointer names (5.5)."""
        which = welcome.WhichOneof("version")
        if which == "v1":
            v1 = welcome.v1
            bundle, key = self._welcome_key(v1.hpke_public_key, v1.id, v1.wrapper_algorithm)
            mls_welcome, metadata = unwrap_welcome(v1.data, v1.welcome_metadata, key, v1.wrapper_algorithm)
        elif which == "welcome_pointer":
            wp = welcome.welcome_pointer
            bundle, key = self._welcome_key(wp.hpke_public_key, wp.id, wp.wrapper_algorithm)
            pointer = unwrap_welcome_pointer(wp.welcome_pointer, key, wp.wrapper_algorithm)
            async for pointee in self.api.welcomes_after(pointer.destination, 0):
                if pointee.WhichOneof("version") == "v1":
                    mls_welcome, metadata = open_pointee(
                        pointer, pointee.v1.data, pointee.v1.welcome_metadata
                    )
                    break
            else:
                raise PointeeNotYetThere(f"the welcome it points to is not on the node yet ({pointer!r})")
        else:
            raise UnusableWelcome(f"a welcome of unknown kind {which!r}")
        cursor = mls_pb2.WelcomeMetadata.FromString(metadata).message_cursor if metadata else 0
        return bundle, mls_welcome, cursor

    def _welcome_key(
        self, hpke_public_key: bytes, wid: int, algorithm: int
    ) -> tuple[KeyPackageBundle, HPKEPrivateKey | bytes]:
        """Our key package the welcome names, and the private key to unwrap it with: the X-Wing wrapper key of
        that key package, or its init key if it has none; the welcome's algorithm must be that key's kind."""
        record = self.store.key_package(hpke_public_key)
        if record is None:
            raise UnusableWelcome(f"welcome {wid} is for a key package this installation no longer has")
        bundle = KeyPackageBundle.from_bytes(record.bundle)
        allowed: tuple[int, ...]
        if record.wrapper_private_key is not None:
            kind, allowed = "an X-Wing wrapper key", (XWING,)
        else:
            kind, allowed = "a Curve25519 init key", (UNSPECIFIED, CURVE25519)
        if algorithm not in allowed:
            raise UnusableWelcome(
                f"welcome {wid} names {kind} of ours but wrapper algorithm {algorithm} "
                f"({algorithm_name(algorithm)})"
            )
        return bundle, _wrapper_private_key(record, bundle)

    async def _join(
        self, wid: int, bundle: KeyPackageBundle, welcome: bytes, cursor: int
    ) -> ClientConversation:
        now = self.clock_ns() // 10**9

        def join() -> Conversation:
            return Conversation.join(
                welcome, bundle, self.signer, self.inbox_id, self.identities.states_for, now=now
            )

        conversation = await retry_with_identities(self, join)
        assert conversation.added_by is not None  # set by Conversation.join
        group_id = conversation.group_id
        held = self.conversation(group_id)
        if held is not None:  # did a commit take us out? (libxmtp may not have synced that either)
            await held.sync()
        record_out = ConversationRecord(
            group_id, conversation.to_bytes(), cursor, self.clock_ns(), conversation.added_by.inbox_id
        )
        with self.store.transaction():  # no await from here on: the check and the write are one step
            existing = self.store.conversation(group_id)
            if existing is None:
                self.store.save_conversation(record_out)
            else:
                _check_replaceable(self._load(existing), conversation, wid)
                record_out = replace(record_out, created_ns=existing.created_ns)
                self.store.replace_conversation(record_out)
            self.store.set_cursor(_WELCOME_CURSOR, max(wid, self.store.cursor(_WELCOME_CURSOR)))
        self._conversations.pop(group_id, None)
        return self._load(record_out)


class PointeeNotYetThere(Exception):
    """A welcome pointer names a pointee the node does not have (yet)."""


class UnusableWelcome(RemoteMLSError):
    """A welcome this installation cannot use: for a key package it no longer has, wrapped with an algorithm
    that is not its key's, or of an unknown kind."""


class WelcomeForHeldConversation(RemoteMLSError):
    """A welcome into a group we hold already, while we are still in it or for an epoch not newer than ours:
    whoever knows a group's id (the node, a former member) could otherwise replace our group with theirs."""


def _check_replaceable(held: ClientConversation, joined: Conversation, wid: int) -> None:
    """A welcome may replace a conversation we hold only if a commit removed us from it and the welcome is for
    a later epoch (libxmtp's rule: we were added back). :class:`WelcomeForHeldConversation` otherwise."""
    ours = held.conversation.group.last_epoch
    if held.is_active:
        raise WelcomeForHeldConversation(
            f"welcome {wid} is for group {joined.group_id.hex()}, which we are in (at epoch {ours})"
        )
    if ours is None or joined.epoch <= ours:
        raise WelcomeForHeldConversation(
            f"welcome {wid} is for epoch {joined.epoch} of group {joined.group_id.hex()}, which we left at "
            f"epoch {ours}: not a later one"
        )


def _wrapper_private_key(record: KeyPackageRecord, bundle: KeyPackageBundle) -> HPKEPrivateKey | bytes:
    return record.wrapper_private_key if record.wrapper_private_key is not None else bundle.init_private_key
