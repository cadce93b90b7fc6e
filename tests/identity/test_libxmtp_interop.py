"""Interop with real libxmtp (PyPI ``xmtp-bindings`` 0.1.8 = libxmtp 1.10.0) over a loopback gRPC endpoint.

The test starts a small in-memory identity service on a free 127.0.0.1 port. It implements only what
registration needs, and it runs pyxmtp's association state machine on every published update, refusing
invalid ones (INVALID_ARGUMENT). Then:

1. A libxmtp client registers a new inbox; its wallet is our :class:`LocalWalletSigner`, which signs
   libxmtp's signature text. We reproduce the published update's signature text and inbox id byte for byte
   and verify its wallet and installation signatures.
2. An update fully built and signed by pyxmtp (our installation key, our wallet) is published; libxmtp reads
   it back (``inbox_state_from_inbox_ids``) and agrees on the state. pyxmtp-built AddAssociation and
   RevokeAssociation updates on a libxmtp-registered inbox are also read back by libxmtp.
3. A second libxmtp installation of the same wallet is added by an update our builder makes: the builder's
   signature text equals libxmtp's, our wallet signs it, libxmtp publishes, our state machine accepts, and both
   sides see both installations. libxmtp then revokes it, again checked against our builder and state machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tests.conftest import require_xmtp_bindings

v = require_xmtp_bindings()

import grpc  # noqa: E402
from google.protobuf import empty_pb2  # noqa: E402

from pyxmtp.identity.associations import AssociationState, apply_update, verify_update  # noqa: E402
from pyxmtp.identity.builder import (  # noqa: E402
    IdentityUpdateBuilder,
    add_installation_request,
    create_inbox_request,
)
from pyxmtp.identity.errors import IdentityError  # noqa: E402
from pyxmtp.identity.eth import LocalWalletSigner, recover_address  # noqa: E402
from pyxmtp.identity.inbox import generate_inbox_id  # noqa: E402
from pyxmtp.identity.installation import InstallationKey, verify_installation_signature  # noqa: E402
from pyxmtp.identity.members import MemberIdentifier, MemberKind  # noqa: E402
from pyxmtp.identity.signature_text import signature_text  # noqa: E402
from pyxmtp.identity.signatures import SignatureKind  # noqa: E402
from pyxmtp.proto.identity.api.v1 import identity_pb2, identity_pb2_grpc  # noqa: E402
from pyxmtp.proto.identity.associations import association_pb2  # noqa: E402
from pyxmtp.proto.mls.api.v1 import mls_pb2, mls_pb2_grpc  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

IMPLEMENTED = {
    "/xmtp.identity.api.v1.IdentityApi/PublishIdentityUpdate",
    "/xmtp.identity.api.v1.IdentityApi/GetIdentityUpdates",
    "/xmtp.identity.api.v1.IdentityApi/GetInboxIds",
    "/xmtp.mls.api.v1.MlsApi/UploadKeyPackage",
    "/xmtp.mls.api.v1.MlsApi/FetchKeyPackages",
    "/xmtp.mls.api.v1.MlsApi/QueryWelcomeMessages",
}
LIBXMTP_TIMEOUT = 20.0


# the in-test identity service ------------------------------------------------------------------------------


@dataclass
class IdentityLog:
    """In-memory identity log: per-inbox updates, states from our state machine, address → inbox."""

    updates: dict[str, list[identity_pb2.GetIdentityUpdatesResponse.IdentityUpdateLog]] = field(
        default_factory=dict
    )
    states: dict[str, AssociationState] = field(default_factory=dict)
    inbox_of: dict[str, str] = field(default_factory=dict)
    accepted: list[association_pb2.IdentityUpdate] = field(default_factory=list)
    rejected: list[tuple[association_pb2.IdentityUpdate, IdentityError]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    key_packages: int = 0
    sequence_id: int = 0

    def publish(self, update: association_pb2.IdentityUpdate) -> None:
        before = self.states.get(update.inbox_id)
        try:
            after = apply_update(before, update)
        except IdentityError as err:
            self.rejected.append((update, err))
            raise
        self.sequence_id += 1
        self.updates.setdefault(update.inbox_id, []).append(
            identity_pb2.GetIdentityUpdatesResponse.IdentityUpdateLog(
                sequence_id=self.sequence_id, server_timestamp_ns=time.time_ns(), update=update
            )
        )
        self.states[update.inbox_id] = after
        diff = before.diff(after) if before is not None else after.as_diff()
        for member in diff.new_members:
            if member.kind is MemberKind.ETHEREUM:
                self.inbox_of[member.address] = update.inbox_id
        for member in diff.removed_members:
            if member.kind is MemberKind.ETHEREUM and self.inbox_of.get(member.address) == update.inbox_id:
                del self.inbox_of[member.address]
        self.accepted.append(update)


class IdentityService(identity_pb2_grpc.IdentityApiServicer):
    def __init__(self, log: IdentityLog) -> None:
        self.log = log

    async def PublishIdentityUpdate(
        self, request: identity_pb2.PublishIdentityUpdateRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.PublishIdentityUpdateResponse:
        try:
            self.log.publish(request.identity_update)
        except IdentityError as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid identity update: {err}")
        return identity_pb2.PublishIdentityUpdateResponse()

    async def GetIdentityUpdates(
        self, request: identity_pb2.GetIdentityUpdatesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetIdentityUpdatesResponse:
        return identity_pb2.GetIdentityUpdatesResponse(
            responses=[
                identity_pb2.GetIdentityUpdatesResponse.Response(
                    inbox_id=r.inbox_id,
                    updates=[
                        u for u in self.log.updates.get(r.inbox_id, []) if u.sequence_id > r.sequence_id
                    ],
                )
                for r in request.requests
            ]
        )

    async def GetInboxIds(
        self, request: identity_pb2.GetInboxIdsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetInboxIdsResponse:
        responses = []
        for r in request.requests:
            response = identity_pb2.GetInboxIdsResponse.Response(identifier=r.identifier)
            inbox_id = self.log.inbox_of.get(r.identifier.lower())
            if inbox_id is not None:
                response.inbox_id = inbox_id
            responses.append(response)
        return identity_pb2.GetInboxIdsResponse(responses=responses)


class MlsService(mls_pb2_grpc.MlsApiServicer):
    def __init__(self, log: IdentityLog) -> None:
        self.log = log

    async def UploadKeyPackage(
        self, request: mls_pb2.UploadKeyPackageRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        assert request.key_package.key_package_tls_serialized[:4] == b"\x00\x01\x00\x03"  # mls10, suite 3
        self.log.key_packages += 1
        return empty_pb2.Empty()

    async def FetchKeyPackages(
        self, request: mls_pb2.FetchKeyPackagesRequest, context: grpc.aio.ServicerContext
    ) -> mls_pb2.FetchKeyPackagesResponse:
        return mls_pb2.FetchKeyPackagesResponse()

    async def QueryWelcomeMessages(
        self, request: mls_pb2.QueryWelcomeMessagesRequest, context: grpc.aio.ServicerContext
    ) -> mls_pb2.QueryWelcomeMessagesResponse:
        return mls_pb2.QueryWelcomeMessagesResponse()


class CallRecorder(grpc.aio.ServerInterceptor):
    def __init__(self, log: IdentityLog) -> None:
        self.log = log

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        self.log.calls.append(handler_call_details.method)
        return await continuation(handler_call_details)


@dataclass
class Node:
    log: IdentityLog
    url: str
    stub: identity_pb2_grpc.IdentityApiStub

    async def publish(self, update: association_pb2.IdentityUpdate) -> None:
        await self.stub.PublishIdentityUpdate(
            identity_pb2.PublishIdentityUpdateRequest(identity_update=update)
        )


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    log = IdentityLog()
    server = grpc.aio.server(interceptors=[CallRecorder(log)])
    identity_pb2_grpc.add_IdentityApiServicer_to_server(IdentityService(log), server)
    mls_pb2_grpc.add_MlsApiServicer_to_server(MlsService(log), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Node(log, f"http://127.0.0.1:{port}", identity_pb2_grpc.IdentityApiStub(channel))
        unexpected = set(log.calls) - IMPLEMENTED
        assert not unexpected, f"libxmtp called RPCs the test node does not serve: {unexpected}"
    finally:
        await channel.close()
        await server.stop(None)


# driving libxmtp -------------------------------------------------------------------------------------------


async def within(coro):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(coro, LIBXMTP_TIMEOUT)


async def connect(node: Node):  # type: ignore[no-untyped-def]
    return await within(v.connect_to_backend(node.url, None, False, None, "pyxmtp-interop/0.1", None, None))


def ffi_identifier(signer: LocalWalletSigner):  # type: ignore[no-untyped-def]
    return v.FfiIdentifier(identifier=signer.address, identifier_kind=v.FfiIdentifierKind.ETHEREUM)


async def new_client(api, signer: LocalWalletSigner, inbox_id: str, nonce: int = 0):  # type: ignore[no-untyped-def]
    db = v.DbOptions(db=None, encryption_key=None, max_db_pool_size=None, min_db_pool_size=None)
    return await within(
        v.create_client(
            api,
            api,
            db,
            inbox_id,
            ffi_identifier(signer),
            nonce,
            None,
            v.FfiDeviceSyncMode.DISABLED,
            None,
            None,
        )
    )


async def register_with_our_wallet(api, client, signer: LocalWalletSigner) -> str:  # type: ignore[no-untyped-def]
    """libxmtp asks for a wallet signature; our EIP-191 signer provides it. Returns libxmtp's text."""
    request = client.signature_request()
    assert request is not None
    text: str = await within(request.signature_text())
    assert set(await within(request.missing_address_signatures())) == {signer.address}
    await within(request.add_ecdsa_signature(signer.sign(text)))
    await within(client.register_identity(request))
    return text


def text_timestamp_ns(text: str) -> int:
    """The whole-second client time a signature text shows (all its ``Current time`` line keeps)."""
    line = next(line for line in text.split("\n") if line.startswith("Current time: "))
    moment = datetime.strptime(line.removeprefix("Current time: "), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


def installation_ids(ffi_state) -> list[bytes]:  # type: ignore[no-untyped-def]
    return [bytes(i.id) for i in ffi_state.installations]


def addresses(ffi_state) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(i.identifier for i in ffi_state.account_identities)


# 1. libxmtp registers, pyxmtp verifies ---------------------------------------------------------------------


async def test_libxmtp_registration_verified_by_pyxmtp(node: Node) -> None:
    wallet = LocalWalletSigner.generate()
    inbox_id = generate_inbox_id(wallet.address, 0)
    assert v.generate_inbox_id(ffi_identifier(wallet), 0) == inbox_id
    api = await connect(node)
    client = await new_client(api, wallet, inbox_id)
    text = await register_with_our_wallet(api, client, wallet)

    assert node.log.rejected == [] and len(node.log.accepted) == 1 and node.log.key_packages == 1
    update = node.log.accepted[0]
    # signature text and inbox id, byte for byte
    assert signature_text(update) == text
    assert update.inbox_id == inbox_id == client.inbox_id()
    installation_id = bytes(client.installation_id())
    create, add = update.actions[0].create_inbox, update.actions[1].add
    assert (create.initial_identifier, create.nonce) == (wallet.address, 0)
    assert add.new_member_identifier.installation_public_key == installation_id
    # the wallet signature (ours, one for both actions) and libxmtp's installation signature
    wallet_sig = create.initial_identifier_signature.erc_191.bytes
    assert wallet_sig == add.existing_member_signature.erc_191.bytes == wallet.sign(text)
    assert recover_address(text, wallet_sig) == wallet.address
    installation_sig = add.new_member_signature.installation_key
    assert installation_sig.public_key == installation_id
    verify_installation_signature(installation_id, text, installation_sig.bytes)
    verified = verify_update(update)
    assert [(s.signer, s.kind) for a in verified.actions for s in a.signatures] == [
        (wallet.identifier, SignatureKind.ERC191),
        (wallet.identifier, SignatureKind.ERC191),
        (MemberIdentifier.installation(installation_id), SignatureKind.INSTALLATION_KEY),
    ]

    # both sides agree on the state
    ours = node.log.states[inbox_id]
    theirs = await within(client.inbox_state(True))
    assert theirs.inbox_id == ours.inbox_id
    assert installation_ids(theirs) == ours.installations() == [installation_id]
    assert addresses(theirs) == ours.ethereum_addresses() == [wallet.address]
    assert theirs.recovery_identity.identifier == str(ours.recovery_identifier)
    assert theirs.installations[0].client_timestamp_ns == update.client_timestamp_ns

    # the node refuses forged and replayed copies; nobody's view changes
    forged = association_pb2.IdentityUpdate()
    forged.CopyFrom(update)
    tampered = bytearray(forged.actions[1].add.new_member_signature.installation_key.bytes)
    tampered[10] ^= 0x40
    forged.actions[1].add.new_member_signature.installation_key.bytes = bytes(tampered)
    for bad, rule in ((forged, "invalid_signature"), (update, "multiple_create")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await node.publish(bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and rule in (err.value.details() or "")
    assert [e.rule for _, e in node.log.rejected] == ["invalid_signature", "multiple_create"]
    assert installation_ids(await within(client.inbox_state(True))) == [installation_id]


# 2. pyxmtp builds and signs, libxmtp reads -----------------------------------------------------------------


async def test_pyxmtp_signed_updates_accepted_by_libxmtp(node: Node) -> None:
    api = await connect(node)

    # a whole inbox registered by pyxmtp: our installation key and our wallet
    wallet, installation = LocalWalletSigner.generate(), InstallationKey.generate()
    request = create_inbox_request(
        wallet.identifier, installation.public_key, nonce=1, client_timestamp_ns=time.time_ns()
    )
    request.sign_with(installation)
    request.sign_with(wallet)
    update = request.build_identity_update()
    verified = verify_update(update)  # the same verification libxmtp's update got above
    assert {s.signer for a in verified.actions for s in a.signatures} == {
        wallet.identifier,
        installation.identifier,
    }
    await node.publish(update)
    inbox_id = generate_inbox_id(wallet.address, 1)
    [theirs] = await within(v.inbox_state_from_inbox_ids(api, [inbox_id]))
    assert theirs.inbox_id == inbox_id
    assert installation_ids(theirs) == [installation.public_key]
    assert addresses(theirs) == [wallet.address]
    assert theirs.recovery_identity.identifier == wallet.address
    assert theirs.creation_signature_kind == v.FfiSignatureKind.ERC191
    assert await within(v.get_inbox_id_for_identifier(api, ffi_identifier(wallet))) == inbox_id

    # pyxmtp-built updates on an inbox libxmtp registered: link a second wallet, then unlink it
    owner, second = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    owner_inbox = generate_inbox_id(owner.address, 0)
    client = await new_client(api, owner, owner_inbox)
    await register_with_our_wallet(api, client, owner)
    link = (
        IdentityUpdateBuilder(owner_inbox, client_timestamp_ns=time.time_ns())
        .add_association(second.identifier, owner.identifier)
        .build()
    )
    assert "- Link address to inbox\n  (Address: " + second.address + ")" in link.signature_text
    link.sign_with(owner)
    link.sign_with(second)
    await node.publish(link.build_identity_update())
    assert addresses(await within(client.inbox_state(True))) == sorted([owner.address, second.address])
    unlink = (
        IdentityUpdateBuilder(owner_inbox, client_timestamp_ns=time.time_ns() + 1_000_000_000)
        .revoke_association(owner.identifier, second.identifier)
        .build()
    )
    unlink.sign_with(owner)
    await node.publish(unlink.build_identity_update())
    theirs = await within(client.inbox_state(True))
    assert addresses(theirs) == [owner.address] == node.log.states[owner_inbox].ethereum_addresses()
    assert installation_ids(theirs) == [bytes(client.installation_id())]
    assert node.log.rejected == []


# 3. a second libxmtp installation, added by an update our builder makes ------------------------------------


async def test_second_installation_added_through_our_builder(node: Node) -> None:
    wallet = LocalWalletSigner.generate()
    inbox_id = generate_inbox_id(wallet.address, 0)
    api = await connect(node)
    first = await new_client(api, wallet, inbox_id)
    await register_with_our_wallet(api, first, wallet)
    first_id = bytes(first.installation_id())

    second = await new_client(api, wallet, inbox_id)
    second_id = bytes(second.installation_id())
    libxmtp_request = second.signature_request()
    assert libxmtp_request is not None
    libxmtp_text = await within(libxmtp_request.signature_text())
    ours = add_installation_request(
        inbox_id, wallet.identifier, second_id, client_timestamp_ns=text_timestamp_ns(libxmtp_text)
    )
    assert ours.signature_text == libxmtp_text
    assert ours.missing_signatures() == [wallet.identifier, MemberIdentifier.installation(second_id)]
    await within(libxmtp_request.add_ecdsa_signature(wallet.sign(ours.signature_text)))
    await within(second.register_identity(libxmtp_request))

    assert node.log.rejected == []
    published = node.log.accepted[-1]
    assert signature_text(published) == libxmtp_text
    # the published update is exactly what our builder produces from the same parts
    rebuilt = add_installation_request(
        inbox_id, wallet.identifier, second_id, client_timestamp_ns=published.client_timestamp_ns
    )
    rebuilt.add_signature(published.actions[0].add.new_member_signature)  # libxmtp's installation signature
    rebuilt.sign_with(wallet)
    assert rebuilt.build_identity_update() == published

    state = node.log.states[inbox_id]
    assert state.installations() == [first_id, second_id]
    assert state.members[MemberIdentifier.installation(second_id)].added_by_entity == wallet.identifier
    for client in (first, second):
        theirs = await within(client.inbox_state(True))
        assert installation_ids(theirs) == [first_id, second_id]
        assert addresses(theirs) == [wallet.address]

    # libxmtp revokes the second installation; our builder and state machine agree
    revoke_request = await within(first.revoke_installations([second_id]))
    revoke_text = await within(revoke_request.signature_text())
    ours_revoke = (
        IdentityUpdateBuilder(inbox_id, client_timestamp_ns=text_timestamp_ns(revoke_text))
        .revoke_association(wallet.identifier, MemberIdentifier.installation(second_id))
        .build()
    )
    assert ours_revoke.signature_text == revoke_text
    await within(revoke_request.add_ecdsa_signature(wallet.sign(revoke_text)))
    await within(first.apply_signature_request(revoke_request))
    assert node.log.rejected == []
    assert signature_text(node.log.accepted[-1]) == revoke_text
    assert node.log.states[inbox_id].installations() == [first_id]
    assert installation_ids(await within(first.inbox_state(True))) == [first_id]
