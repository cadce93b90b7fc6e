"""The bounds on identity updates and on the IdentityApi's lists, over the wire against a real node (SQLite and
PostgreSQL): each attack is refused with the status and the limit named, the victim's log is unchanged, and
the victim's next legitimate update still goes through (security review, issue 11 item 1)."""

from __future__ import annotations

import os
import time

import grpc
import pytest

from pyxmtp.identity.associations import get_state
from pyxmtp.identity.builder import IdentityUpdateBuilder
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.limits import (
    MAX_ACTIONS_PER_UPDATE,
    MAX_GET_IDENTITY_UPDATES_REQUESTS,
    MAX_GET_INBOX_IDS_REQUESTS,
    MAX_IDENTITY_UPDATE_BYTES,
    MAX_INBOX_LOG_BYTES,
    MAX_INBOX_LOG_ENTRIES,
    MAX_INSTALLATIONS_PER_INBOX,
    MAX_MEMBERS_PER_INBOX,
    MAX_SIGNATURES_PER_UPDATE,
)
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.signatures import erc191_signature
from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.identity.associations import association_pb2

from .conftest import Client
from .identity_helpers import (
    add_installation,
    add_members,
    add_wallet,
    inbox_ids_request,
    inbox_of,
    publish,
    register,
    revoke,
    updates_request,
)

#: libxmtp's GRPC_PAYLOAD_LIMIT: the most a libxmtp client receives in one answer.
LIBXMTP_RECEIVE_LIMIT = 25 * 1024 * 1024


async def refused(client: Client, update: association_pb2.IdentityUpdate) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.identity.PublishIdentityUpdate(publish(update))
    return info.value


async def log_of(client: Client, inbox_id: str) -> list[association_pb2.IdentityUpdate]:
    resp = await client.identity.GetIdentityUpdates(updates_request((inbox_id, 0)))
    return [entry.update for entry in resp.responses[0].updates]


async def installations_of(client: Client, inbox_id: str) -> int:
    """How many installations the inbox has, replaying the log the node serves."""
    return len(get_state(await log_of(client, inbox_id)).installations())


async def registered(client: Client) -> tuple[LocalWalletSigner, str, association_pb2.IdentityUpdate]:
    owner = LocalWalletSigner.generate()
    first = register(owner, InstallationKey.generate())
    await client.identity.PublishIdentityUpdate(publish(first))
    return owner, inbox_of(owner), first


# --- an update must carry at least one action, each with its signatures ----------------------------------


async def test_empty_updates_cannot_fill_an_inbox_log(client: Client) -> None:
    """Empty updates need no signature: 255 of them used to fill a victim's log for good."""
    owner, inbox, first = await registered(client)
    empty = association_pb2.IdentityUpdate(inbox_id=inbox)
    for ts in range(MAX_INBOX_LOG_ENTRIES - 1):
        empty.client_timestamp_ns = ts
        err = await refused(client, empty)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "no_actions" in (err.details() or "")
    assert await log_of(client, inbox) == [first]

    # the owner still adds an installation, then revokes it
    phone = InstallationKey.generate()
    add = add_installation(inbox, owner, phone)
    await client.identity.PublishIdentityUpdate(publish(add))
    remove = revoke(inbox, owner, phone.identifier)
    await client.identity.PublishIdentityUpdate(publish(remove))
    assert await log_of(client, inbox) == [first, add, remove]


@pytest.mark.parametrize("part", ["existing_member_signature", "new_member_signature"])
async def test_an_action_without_its_signatures_is_refused(client: Client, part: str) -> None:
    owner, inbox, first = await registered(client)
    unsigned = add_installation(inbox, owner, InstallationKey.generate())
    unsigned.actions[0].add.ClearField(part)  # type: ignore[arg-type]
    err = await refused(client, unsigned)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "missing_field" in (err.details() or "")
    kindless = add_installation(inbox, owner, InstallationKey.generate())
    getattr(kindless.actions[0].add, part).Clear()  # present, but no signature in it
    err = await refused(client, kindless)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "missing_field" in (err.details() or "")
    assert await log_of(client, inbox) == [first]


# --- the size and the actions of one update -------------------------------------------------------------


def bogus_revocations(inbox_id: str, count: int, signature_bytes: int = 65) -> association_pb2.IdentityUpdate:
    """``count`` revocations of made-up wallets carrying made-up signatures: refused before any is checked."""
    sig = erc191_signature(os.urandom(signature_bytes))
    action = association_pb2.IdentityAction(
        revoke=association_pb2.RevokeAssociation(
            member_to_revoke=MemberIdentifier.ethereum("0x" + "22" * 20).to_proto(),
            recovery_identifier_signature=sig,
        )
    )
    return association_pb2.IdentityUpdate(inbox_id=inbox_id, client_timestamp_ns=1, actions=[action] * count)


async def test_an_oversized_update_is_refused_before_it_is_verified(client: Client) -> None:
    """One update of 45 000 revocations (5 MB) used to be verified and stored."""
    owner, inbox, first = await registered(client)
    huge = bogus_revocations(inbox, 45_000)
    assert huge.ByteSize() > 5_000_000
    err = await refused(client, huge)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_too_large" in (err.details() or "") and "MAX_IDENTITY_UPDATE_BYTES" in (
        err.details() or ""
    )
    few_but_large = bogus_revocations(inbox, 2, signature_bytes=MAX_IDENTITY_UPDATE_BYTES // 2)
    err = await refused(client, few_but_large)
    assert "update_too_large" in (err.details() or "")

    many = bogus_revocations(inbox, MAX_ACTIONS_PER_UPDATE + 1)
    assert many.ByteSize() <= MAX_IDENTITY_UPDATE_BYTES
    err = await refused(client, many)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "too_many_actions" in (err.details() or "") and "MAX_ACTIONS_PER_UPDATE" in (err.details() or "")

    # valid signatures, but more than 32 distinct ones: refused before any is checked
    wallets = [LocalWalletSigner.generate() for _ in range(MAX_SIGNATURES_PER_UPDATE)]
    err = await refused(client, add_members(inbox, owner, *wallets))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "too_many_signatures" in (err.details() or "")
    assert "MAX_SIGNATURES_PER_UPDATE" in (err.details() or "")

    assert await log_of(client, inbox) == [first]
    wallet = LocalWalletSigner.generate()
    await client.identity.PublishIdentityUpdate(publish(add_wallet(inbox, owner, wallet)))
    assert len(await log_of(client, inbox)) == 2


# --- installations and members per inbox ----------------------------------------------------------------


async def test_an_inbox_holds_at_most_ten_installations(client: Client) -> None:
    owner, inbox, _ = await registered(client)
    # one update may not take a new inbox past the limit either
    crowd = [InstallationKey.generate() for _ in range(MAX_INSTALLATIONS_PER_INBOX)]
    err = await refused(client, add_members(inbox, owner, *crowd))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "too_many_installations" in (err.details() or "")
    assert "MAX_INSTALLATIONS_PER_INBOX" in (err.details() or "")

    nine = crowd[:-1]
    await client.identity.PublishIdentityUpdate(publish(add_members(inbox, owner, *nine)))
    assert await installations_of(client, inbox) == MAX_INSTALLATIONS_PER_INBOX
    err = await refused(client, add_installation(inbox, owner, crowd[-1]))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "too_many_installations" in (
        err.details() or ""
    )
    assert len(await log_of(client, inbox)) == 2

    # revoked installations do not count: revoke one, and the eleventh key joins
    await client.identity.PublishIdentityUpdate(publish(revoke(inbox, owner, nine[0].identifier)))
    await client.identity.PublishIdentityUpdate(publish(add_installation(inbox, owner, crowd[-1])))
    assert await installations_of(client, inbox) == MAX_INSTALLATIONS_PER_INBOX
    # one update that adds one and revokes another leaves ten: allowed
    newcomer = InstallationKey.generate()
    request = (
        IdentityUpdateBuilder(inbox, client_timestamp_ns=time.time_ns())
        .add_association(newcomer.identifier, owner.identifier)
        .revoke_association(owner.identifier, nine[1].identifier)
        .build()
    )
    request.sign_with(owner)
    request.sign_with(newcomer)
    await client.identity.PublishIdentityUpdate(publish(request.build_identity_update()))
    state = get_state(await log_of(client, inbox))
    assert (
        len(state.installations()) == MAX_INSTALLATIONS_PER_INBOX
        and newcomer.public_key in state.installations()
    )


async def test_an_inbox_holds_at_most_256_members(client: Client) -> None:
    owner, inbox, _ = await registered(client)  # two members: the wallet and its installation
    wallets = [LocalWalletSigner.generate() for _ in range(MAX_MEMBERS_PER_INBOX - 1)]
    batch = MAX_SIGNATURES_PER_UPDATE - 1  # the owner's signature and one per new wallet
    for start in range(0, 8 * batch, batch):  # 2 + 248 members
        await client.identity.PublishIdentityUpdate(
            publish(add_members(inbox, owner, *wallets[start : start + batch]))
        )
    err = await refused(client, add_members(inbox, owner, *wallets[8 * batch :]))  # 257
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "too_many_members" in (err.details() or "") and "MAX_MEMBERS_PER_INBOX" in (err.details() or "")

    await client.identity.PublishIdentityUpdate(publish(add_members(inbox, owner, *wallets[8 * batch : -1])))
    err = await refused(client, add_wallet(inbox, owner, wallets[-1]))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "too_many_members" in (err.details() or "")
    resp = await client.identity.GetInboxIds(inbox_ids_request(wallets[-2].address, wallets[-1].address))
    assert [r.inbox_id if r.HasField("inbox_id") else None for r in resp.responses] == [inbox, None]

    # the recovery wallet revokes every added wallet in one update (one signature); then the last one joins
    await client.identity.PublishIdentityUpdate(
        publish(revoke(inbox, owner, *(w.identifier for w in wallets[:-1])))
    )
    await client.identity.PublishIdentityUpdate(publish(add_wallet(inbox, owner, wallets[-1])))
    assert len(await log_of(client, inbox)) == 1 + 9 + 2


# --- the size of an inbox's log -------------------------------------------------------------------------


async def test_an_inbox_log_holds_at_most_384_kib(client: Client) -> None:
    """The owner's own big updates (256 revocations each, 31 KB) fill the log by bytes well before 256
    entries: the refusal names the limit, and a GetIdentityUpdates answer stays bounded."""
    owner, inbox, first = await registered(client)
    stored = first.ByteSize()
    while True:
        update = revoke(inbox, owner, *(LocalWalletSigner.generate().identifier for _ in range(256)))
        if stored + update.ByteSize() > MAX_INBOX_LOG_BYTES:
            break
        await client.identity.PublishIdentityUpdate(publish(update))
        stored += update.ByteSize()
    err = await refused(client, update)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "inbox_log_full" in (err.details() or "") and "MAX_INBOX_LOG_BYTES" in (err.details() or "")
    log = await log_of(client, inbox)
    assert (
        len(log) < MAX_INBOX_LOG_ENTRIES and sum(u.ByteSize() for u in log) == stored <= MAX_INBOX_LOG_BYTES
    )


def test_the_largest_identity_updates_answer_fits_what_a_libxmtp_client_receives() -> None:
    """64 inboxes, each with a full log (256 entries, 384 KiB, the largest sequence ids and timestamps)."""
    Response = identity_pb2.GetIdentityUpdatesResponse
    entry_update_bytes = MAX_INBOX_LOG_BYTES // MAX_INBOX_LOG_ENTRIES
    padding = "x" * (entry_update_bytes - 3)  # inbox_id field: tag, two length bytes, text
    one = Response.Response(
        inbox_id="ab" * 32,
        updates=[
            Response.IdentityUpdateLog(
                sequence_id=2**64 - 1,
                server_timestamp_ns=2**64 - 1,
                update=association_pb2.IdentityUpdate(inbox_id=padding),
            )
            for _ in range(MAX_INBOX_LOG_ENTRIES)
        ],
    )
    assert sum(u.update.ByteSize() for u in one.updates) == MAX_INBOX_LOG_BYTES
    whole = Response(responses=[one] * MAX_GET_IDENTITY_UPDATES_REQUESTS)
    assert whole.ByteSize() <= LIBXMTP_RECEIVE_LIMIT


# --- request lists --------------------------------------------------------------------------------------


async def test_request_lists_are_bounded(client: Client) -> None:
    owner, inbox, first = await registered(client)
    addresses = [owner.address] + ["0x" + f"{i:040x}" for i in range(MAX_GET_INBOX_IDS_REQUESTS - 1)]
    resp = await client.identity.GetInboxIds(inbox_ids_request(*addresses))
    assert len(resp.responses) == MAX_GET_INBOX_IDS_REQUESTS and resp.responses[0].inbox_id == inbox
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.identity.GetInboxIds(inbox_ids_request(*addresses, "0x" + "ff" * 20))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"limit {MAX_GET_INBOX_IDS_REQUESTS}" in (info.value.details() or "")

    wanted = [(inbox, 0)] * MAX_GET_IDENTITY_UPDATES_REQUESTS
    resp = await client.identity.GetIdentityUpdates(updates_request(*wanted))
    assert [[u.update for u in r.updates] for r in resp.responses] == [[first]] * len(wanted)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.identity.GetIdentityUpdates(updates_request(*wanted, (inbox, 0)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"limit {MAX_GET_IDENTITY_UPDATES_REQUESTS}" in (info.value.details() or "")
