"""Real, signed identity updates for the IdentityApi tests."""

from __future__ import annotations

import time

from pyxmtp.identity.builder import IdentityUpdateBuilder, create_inbox_request
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.identity.associations import association_pb2


def now_ns() -> int:
    return time.time_ns()


def register(
    wallet: LocalWalletSigner, installation: InstallationKey, nonce: int = 0
) -> association_pb2.IdentityUpdate:
    request = create_inbox_request(
        wallet.identifier, installation.public_key, nonce=nonce, client_timestamp_ns=now_ns()
    )
    request.sign_with(installation)
    request.sign_with(wallet)
    return request.build_identity_update()


def inbox_of(wallet: LocalWalletSigner, nonce: int = 0) -> str:
    return inbox_id_for(wallet.identifier, nonce)


def add_wallet(
    inbox_id: str, existing: LocalWalletSigner, new: LocalWalletSigner
) -> association_pb2.IdentityUpdate:
    request = (
        IdentityUpdateBuilder(inbox_id, client_timestamp_ns=now_ns())
        .add_association(new.identifier, existing.identifier)
        .build()
    )
    request.sign_with(existing)
    request.sign_with(new)
    return request.build_identity_update()


def add_installation(
    inbox_id: str, existing: LocalWalletSigner, installation: InstallationKey
) -> association_pb2.IdentityUpdate:
    request = (
        IdentityUpdateBuilder(inbox_id, client_timestamp_ns=now_ns())
        .add_association(installation.identifier, existing.identifier)
        .build()
    )
    request.sign_with(existing)
    request.sign_with(installation)
    return request.build_identity_update()


def revoke_wallet(
    inbox_id: str, recovery: LocalWalletSigner, member: LocalWalletSigner
) -> association_pb2.IdentityUpdate:
    request = (
        IdentityUpdateBuilder(inbox_id, client_timestamp_ns=now_ns())
        .revoke_association(recovery.identifier, member.identifier)
        .build()
    )
    request.sign_with(recovery)
    return request.build_identity_update()


def add_members(
    inbox_id: str, existing: LocalWalletSigner, *new: LocalWalletSigner | InstallationKey
) -> association_pb2.IdentityUpdate:
    """One update adding every one of ``new`` (wallets or installations), each vouched for by ``existing``."""
    builder = IdentityUpdateBuilder(inbox_id, client_timestamp_ns=now_ns())
    for member in new:
        builder.add_association(member.identifier, existing.identifier)
    request = builder.build()
    request.sign_with(existing)
    for member in new:
        request.sign_with(member)
    return request.build_identity_update()


def revoke(
    inbox_id: str, recovery: LocalWalletSigner, *members: MemberIdentifier
) -> association_pb2.IdentityUpdate:
    """One update revoking every one of ``members``, signed once by the recovery wallet (as libxmtp does)."""
    builder = IdentityUpdateBuilder(inbox_id, client_timestamp_ns=now_ns())
    for member in members:
        builder.revoke_association(recovery.identifier, member)
    request = builder.build()
    request.sign_with(recovery)
    return request.build_identity_update()


def reencode_v(update: association_pb2.IdentityUpdate) -> association_pb2.IdentityUpdate:
    """The same update with every ECDSA ``v`` moved from 27/28 to 0/1: libxmtp does not call that a replay."""
    copy = association_pb2.IdentityUpdate()
    copy.CopyFrom(update)
    for action in copy.actions:
        if action.WhichOneof("kind") == "add":
            for sig in (action.add.existing_member_signature, action.add.new_member_signature):
                if sig.WhichOneof("signature") == "erc_191":
                    b = sig.erc_191.bytes
                    sig.erc_191.bytes = b[:64] + bytes([b[64] - 27])
    return copy


def publish(update: association_pb2.IdentityUpdate) -> identity_pb2.PublishIdentityUpdateRequest:
    return identity_pb2.PublishIdentityUpdateRequest(identity_update=update)


def inbox_ids_request(*addresses: str) -> identity_pb2.GetInboxIdsRequest:
    Req = identity_pb2.GetInboxIdsRequest.Request
    return identity_pb2.GetInboxIdsRequest(requests=[Req(identifier=a, identifier_kind=1) for a in addresses])


def updates_request(*pairs: tuple[str, int]) -> identity_pb2.GetIdentityUpdatesRequest:
    Req = identity_pb2.GetIdentityUpdatesRequest.Request
    return identity_pb2.GetIdentityUpdatesRequest(requests=[Req(inbox_id=i, sequence_id=s) for i, s in pairs])
