"""IdentityApi through a real node: full verification, log, address log, limits (sections 1.3, 8.3, 8.7)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from pyxmtp.identity.builder import create_inbox_request
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signatures import scw_signature
from pyxmtp.node import Node
from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.identity.associations import association_pb2

from .conftest import Client, StartNode, connect
from .identity_helpers import (
    add_installation,
    add_wallet,
    inbox_ids_request,
    inbox_of,
    publish,
    reencode_v,
    register,
    revoke_wallet,
    updates_request,
)


async def inbox_ids(client: Client, *addresses: str) -> list[str | None]:
    resp = await client.identity.GetInboxIds(inbox_ids_request(*addresses))
    assert [r.identifier for r in resp.responses] == list(addresses)
    return [r.inbox_id if r.HasField("inbox_id") else None for r in resp.responses]


async def test_registration_is_readable_at_once(client: Client) -> None:
    wallet, installation = LocalWalletSigner.generate(), InstallationKey.generate()
    update = register(wallet, installation, nonce=1)
    inbox = inbox_of(wallet, 1)
    assert await inbox_ids(client, wallet.address) == [None]
    await client.identity.PublishIdentityUpdate(publish(update))
    resp = await client.identity.GetIdentityUpdates(updates_request((inbox, 0), ("ff" * 32, 0)))
    mine, unknown = resp.responses
    assert mine.inbox_id == inbox and unknown.inbox_id == "ff" * 32 and not unknown.updates
    [entry] = mine.updates
    assert entry.update == update and entry.sequence_id > 0 and entry.server_timestamp_ns > 0
    assert await inbox_ids(client, wallet.address, "0x" + "00" * 20) == [inbox, None]
    after = await client.identity.GetIdentityUpdates(updates_request((inbox, entry.sequence_id)))
    assert not after.responses[0].updates


async def test_address_log_follows_adds_and_revocations(client: Client) -> None:
    owner, second, installation = (
        LocalWalletSigner.generate(),
        LocalWalletSigner.generate(),
        InstallationKey.generate(),
    )
    inbox = inbox_of(owner)
    await client.identity.PublishIdentityUpdate(publish(register(owner, installation)))
    await client.identity.PublishIdentityUpdate(publish(add_wallet(inbox, owner, second)))
    assert await inbox_ids(client, second.address) == [inbox]
    await client.identity.PublishIdentityUpdate(publish(revoke_wallet(inbox, owner, second)))
    assert await inbox_ids(client, second.address, owner.address) == [None, inbox]

    # the revoked address can start its own inbox; then it resolves to that one
    own_inbox = inbox_of(second, 5)
    await client.identity.PublishIdentityUpdate(
        publish(register(second, InstallationKey.generate(), nonce=5))
    )
    assert await inbox_ids(client, second.address) == [own_inbox]
    resp = await client.identity.GetIdentityUpdates(updates_request((inbox, 0)))
    seqs = [u.sequence_id for u in resp.responses[0].updates]
    assert len(seqs) == 3 and seqs == sorted(seqs)


async def rejected(
    client: Client, request: identity_pb2.PublishIdentityUpdateRequest
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.identity.PublishIdentityUpdate(request)
    return info.value


async def test_invalid_updates_are_rejected_with_the_rule_and_not_stored(client: Client) -> None:
    wallet, installation = LocalWalletSigner.generate(), InstallationKey.generate()
    inbox = inbox_of(wallet)
    good = register(wallet, installation)

    forged = identity_pb2.PublishIdentityUpdateRequest()
    forged.identity_update.CopyFrom(good)
    sig = bytearray(forged.identity_update.actions[0].create_inbox.initial_identifier_signature.erc_191.bytes)
    sig[5] ^= 1
    forged.identity_update.actions[0].create_inbox.initial_identifier_signature.erc_191.bytes = bytes(sig)
    err = await rejected(client, forged)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    wrong_inbox = identity_pb2.PublishIdentityUpdateRequest()
    wrong_inbox.identity_update.CopyFrom(good)
    wrong_inbox.identity_update.inbox_id = "ab" * 32
    err = await rejected(client, wrong_inbox)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    not_created = add_wallet(inbox, wallet, LocalWalletSigner.generate())
    err = await rejected(client, publish(not_created))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "not_created" in (err.details() or "")

    err = await rejected(client, identity_pb2.PublishIdentityUpdateRequest())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "required" in (err.details() or "")

    resp = await client.identity.GetIdentityUpdates(updates_request((inbox, 0)))
    assert not resp.responses[0].updates
    assert await inbox_ids(client, wallet.address) == [None]

    await client.identity.PublishIdentityUpdate(publish(good))
    err = await rejected(client, publish(register(wallet, InstallationKey.generate())))  # a second creation
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "multiple_create" in (err.details() or "")
    add = add_installation(inbox, wallet, InstallationKey.generate())
    await client.identity.PublishIdentityUpdate(publish(add))
    # the same signatures in an update that is not the same bytes (an unknown field 100 added)
    replay = association_pb2.IdentityUpdate.FromString(add.SerializeToString() + b"\xa0\x06\x01")
    err = await rejected(client, publish(replay))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "replay" in (err.details() or "")
    resp = await client.identity.GetIdentityUpdates(updates_request((inbox, 0)))
    assert [u.update for u in resp.responses[0].updates] == [good, add]


async def test_an_exact_retry_of_a_stored_update_answers_ok_and_is_not_stored_twice(
    node: Node, client: Client
) -> None:
    """Issue 12: the first try was stored but its answer lost; libxmtp retries the same bytes."""
    wallet, installation = LocalWalletSigner.generate(), InstallationKey.generate()
    inbox = inbox_of(wallet)
    first = register(wallet, installation)
    await client.identity.PublishIdentityUpdate(publish(first))
    phone = add_installation(inbox, wallet, InstallationKey.generate())
    await client.identity.PublishIdentityUpdate(publish(phone))
    # retries, even after a later update, and concurrently with each other
    await client.identity.PublishIdentityUpdate(publish(first))
    await asyncio.gather(*(client.identity.PublishIdentityUpdate(publish(phone)) for _ in range(3)))
    log = await node.store.inbox_log(inbox)
    assert [r.update for r in log] == [first.SerializeToString(), phone.SerializeToString()]
    # and the inbox goes on: the next update is stored after them
    laptop = add_installation(inbox, wallet, InstallationKey.generate())
    await client.identity.PublishIdentityUpdate(publish(laptop))
    resp = await client.identity.GetIdentityUpdates(updates_request((inbox, 0)))
    assert [u.update for u in resp.responses[0].updates] == [first, phone, laptop]


@pytest.mark.parametrize("inbox_id", ["AB" * 32, "ab" * 31, "ab" * 31 + "\x00b", "not hex " * 8])
async def test_an_update_for_what_cannot_be_an_inbox_id_is_refused_before_any_lookup(
    client: Client, inbox_id: str
) -> None:
    """Found by the fuzz test: PostgreSQL cannot even look up a text with a NUL in it."""
    update = register(LocalWalletSigner.generate(), InstallationKey.generate())
    update.inbox_id = inbox_id
    err = await rejected(client, publish(update))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "is not an inbox id" in (err.details() or "")


async def test_lookups_of_ids_that_cannot_be_stored_find_nothing(client: Client) -> None:
    resp = await client.identity.GetIdentityUpdates(updates_request(("ab\x00" * 21 + "a", 0), ("", 0)))
    assert [list(r.updates) for r in resp.responses] == [[], []]
    assert await inbox_ids(client, "0x\x00" + "00" * 19, "") == [None, None]


async def test_concurrent_publishes_to_one_inbox_are_serialized(client: Client) -> None:
    wallet = LocalWalletSigner.generate()
    inbox = inbox_of(wallet)
    creates = [register(wallet, InstallationKey.generate()) for _ in range(4)]
    results = await asyncio.gather(
        *(client.identity.PublishIdentityUpdate(publish(u)) for u in creates), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(
        isinstance(r, grpc.aio.AioRpcError) and "multiple_create" in (r.details() or "")
        for r in results
        if isinstance(r, BaseException)
    )
    adds = [add_installation(inbox, wallet, InstallationKey.generate()) for _ in range(5)]
    await asyncio.gather(*(client.identity.PublishIdentityUpdate(publish(u)) for u in adds))
    resp = await client.identity.GetIdentityUpdates(updates_request((inbox, 0)))
    assert len(resp.responses[0].updates) == 6


async def test_inbox_log_is_capped_at_256_entries(node: Node, client: Client) -> None:
    wallet = LocalWalletSigner.generate()
    inbox = inbox_of(wallet)
    for i in range(256):
        await node.store.append_inbox_log(
            inbox, b"", expected_length=i, added_addresses=(), removed_addresses=()
        )
    err = await rejected(client, publish(register(wallet, InstallationKey.generate())))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "inbox log is full" in (err.details() or "")
    assert len(await node.store.inbox_log(inbox)) == 256


class FixedVerifier:
    """A smart-contract-wallet verifier that accepts one known (account, signature) pair."""

    def verify(self, account_id: str, block_number: int | None, signature: bytes, hash: bytes) -> bool:
        if signature == b"boom":
            raise RuntimeError("rpc unavailable")
        return account_id == "eip155:1:0x" + "11" * 20 and signature == b"good"


def scw_request(
    *sigs: tuple[str, bytes, int | None],
) -> identity_pb2.VerifySmartContractWalletSignaturesRequest:
    Sig = identity_pb2.VerifySmartContractWalletSignatureRequestSignature
    return identity_pb2.VerifySmartContractWalletSignaturesRequest(
        signatures=[
            Sig(account_id=a, signature=s, hash=b"h" * 32, **({"block_number": b} if b is not None else {}))
            for a, s, b in sigs
        ]
    )


async def test_scw_verification_needs_a_configured_verifier(client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.identity.VerifySmartContractWalletSignatures(
            scw_request(("eip155:1:0x" + "11" * 20, b"good", 1))
        )
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "smart contract wallet verifier" in (info.value.details() or "")


async def test_scw_verification_through_the_pluggable_verifier(start_node: StartNode) -> None:
    node = await start_node(scw_verifier=FixedVerifier())
    c = connect(node.address)
    account = "eip155:1:0x" + "11" * 20
    resp = await c.identity.VerifySmartContractWalletSignatures(
        scw_request((account, b"good", 7), (account, b"bad", None), (account, b"boom", None))
    )
    good, bad, boom = resp.responses
    assert good.is_valid and good.block_number == 7 and not good.HasField("error")
    assert not bad.is_valid and bad.HasField("error")
    assert not boom.is_valid and "rpc unavailable" in boom.error
    await c.channel.close()


def scw_registration(signature: bytes) -> identity_pb2.PublishIdentityUpdateRequest:
    """A new inbox owned by the smart-contract wallet eip155:1:0x1111..., carrying ``signature`` as its
    ERC-6492 signature (built with the accepted one, then swapped: the builder only takes what verifies)."""
    installation = InstallationKey.generate()
    owner = MemberIdentifier.ethereum("0x" + "11" * 20)
    request = create_inbox_request(
        owner, installation.public_key, nonce=0, client_timestamp_ns=time.time_ns()
    )
    request.sign_with(installation)
    request.add_signature(scw_signature("eip155:1:0x" + "11" * 20, 1, b"good"), scw_verifier=FixedVerifier())
    update = request.build_identity_update()
    update.actions[0].create_inbox.initial_identifier_signature.erc_6492.signature = signature
    update.actions[1].add.existing_member_signature.erc_6492.signature = signature
    return publish(update)


async def test_smart_contract_wallet_updates_go_through_the_verifier(
    start_node: StartNode, tmp_path: Path
) -> None:
    with_verifier = await start_node(scw_verifier=FixedVerifier(), data_dir=tmp_path / "a")
    without = await start_node(data_dir=tmp_path / "b")
    a, b = connect(with_verifier.address), connect(without.address)
    err = await rejected(b, scw_registration(b"good"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "no_scw_verifier" in (err.details() or "")
    err = await rejected(a, scw_registration(b"boom"))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "scw_verifier_failed" in (err.details() or "")
    err = await rejected(a, scw_registration(b"bad"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "invalid_signature" in (err.details() or "")
    await a.identity.PublishIdentityUpdate(scw_registration(b"good"))
    assert await inbox_ids(a, "0x" + "11" * 20) == [
        inbox_id_for(MemberIdentifier.ethereum("0x" + "11" * 20), 0)
    ]
    assert await inbox_ids(b, "0x" + "11" * 20) == [None]
    await a.channel.close()
    await b.channel.close()


async def test_reencoded_replay_of_a_revoked_wallet_is_refused(client: Client) -> None:
    """Stricter than xmtp-node-go: re-publishing an old AddAssociation with re-encoded signatures would bring a
    revoked wallet back (libxmtp's replay check keys on the signature bytes as sent); the node refuses it."""
    owner, second = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    inbox = inbox_of(owner)
    await client.identity.PublishIdentityUpdate(publish(register(owner, InstallationKey.generate())))
    add = add_wallet(inbox, owner, second)
    await client.identity.PublishIdentityUpdate(publish(add))
    await client.identity.PublishIdentityUpdate(publish(revoke_wallet(inbox, owner, second)))

    err = await rejected(client, publish(reencode_v(add)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "replay" in (err.details() or "")
    assert await inbox_ids(client, second.address) == [None]
    resp = await client.identity.GetIdentityUpdates(updates_request((inbox, 0)))
    assert len(resp.responses[0].updates) == 3
