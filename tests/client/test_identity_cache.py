"""IdentityCache against a real pyxmtp node on loopback, with real signed identity updates.

The node verifies what it accepts, so a log that does not verify cannot be published through it: those cases
use a lying node (.lying_identity_node) that serves a tampered (or substituted) log. The same server, forwarding
to the node, records what the cache asks for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from pyxmtp.client.api import NodeApi
from pyxmtp.client.identity import IdentityCache, IdentityLogError, IdentityNeeded
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.node import Node
from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.identity.associations import association_pb2

from ..node.identity_helpers import add_installation, add_wallet, inbox_of, register, revoke_wallet
from .lying_identity_node import forward_to, identity_server, serving

Request = identity_pb2.GetIdentityUpdatesRequest
Response = identity_pb2.GetIdentityUpdatesResponse


@pytest.fixture
async def api(node: Node) -> AsyncIterator[NodeApi]:
    async with NodeApi(node.address, timeout=10) as a:
        yield a


async def publish(api: NodeApi, update: association_pb2.IdentityUpdate) -> int:
    """Publish through the node; the sequence id the node gave it."""
    await api.publish_identity_update(update)
    inbox_id = update.inbox_id
    logs = await api.get_identity_updates([(inbox_id, 0)])
    return max(e.sequence_id for e in logs[inbox_id])


async def full_log(api: NodeApi, inbox_id: str) -> list[Response.IdentityUpdateLog]:
    return (await api.get_identity_updates([(inbox_id, 0)]))[inbox_id]


@dataclass
class Inbox:
    inbox_id: str
    owner: LocalWalletSigner
    first: InstallationKey
    #: the node's sequence id of each update published for it, in order
    seqs: list[int]


async def new_inbox(api: NodeApi) -> Inbox:
    owner, first = LocalWalletSigner.generate(), InstallationKey.generate()
    seq = await publish(api, register(owner, first))
    return Inbox(inbox_of(owner), owner, first, [seq])


def installations_at(cache: IdentityCache, inbox_id: str, seq: int) -> set[bytes]:
    return set(cache.states_for({inbox_id: seq})[inbox_id].installations())


# --- IdentityNeeded -----------------------------------------------------------------------------------------


async def test_states_for_names_exactly_the_missing_inboxes(api: NodeApi) -> None:
    alice, bob = await new_inbox(api), await new_inbox(api)
    unknown = "ab" * 32
    cache = IdentityCache()

    with pytest.raises(IdentityNeeded) as info:
        cache.states_for({alice.inbox_id: 0, bob.inbox_id: alice.seqs[0]})
    assert info.value.wanted == {alice.inbox_id: 0, bob.inbox_id: alice.seqs[0]}

    await cache.fetch(api, [alice.inbox_id])
    # alice is now known: only bob and the inbox nobody registered are named
    with pytest.raises(IdentityNeeded) as info:
        cache.states_for({alice.inbox_id: 0, bob.inbox_id: 0, unknown: 0})
    assert info.value.wanted == {bob.inbox_id: 0, unknown: 0}
    assert bob.inbox_id in str(info.value) and unknown in str(info.value)

    # a newer update to alice: known only up to an older sequence id, so asking for the new one names her
    phone = InstallationKey.generate()
    newer = await publish(api, add_installation(alice.inbox_id, alice.owner, phone))
    with pytest.raises(IdentityNeeded) as info:
        cache.states_for({alice.inbox_id: newer})
    assert info.value.wanted == {alice.inbox_id: newer}
    # ...while what the cache has still answers for the older sequence id and "latest known"
    assert installations_at(cache, alice.inbox_id, alice.seqs[0]) == {alice.first.public_key}
    assert installations_at(cache, alice.inbox_id, 0) == {alice.first.public_key}

    await cache.fetch(api, [alice.inbox_id, bob.inbox_id, unknown])
    states = cache.states_for({alice.inbox_id: newer, bob.inbox_id: 0})
    assert set(states[alice.inbox_id].installations()) == {alice.first.public_key, phone.public_key}
    assert states[bob.inbox_id].installations() == [bob.first.public_key]
    # the node has no log for the unregistered inbox: it is still needed, not invented
    with pytest.raises(IdentityNeeded) as info:
        cache.states_for({unknown: 0, alice.inbox_id: 0})
    assert info.value.wanted == {unknown: 0}
    assert cache.state(unknown) is None


# --- states after fetch -------------------------------------------------------------------------------------


async def test_states_at_latest_and_at_earlier_sequence_ids(api: NodeApi) -> None:
    alice = await new_inbox(api)
    other = await new_inbox(api)  # interleaves: alice's sequence ids have gaps
    second_wallet, phone = LocalWalletSigner.generate(), InstallationKey.generate()
    s_wallet = await publish(api, add_wallet(alice.inbox_id, alice.owner, second_wallet))
    s_phone = await publish(api, add_installation(alice.inbox_id, second_wallet, phone))
    s_between = await publish(api, add_installation(other.inbox_id, other.owner, InstallationKey.generate()))
    s_revoke = await publish(api, revoke_wallet(alice.inbox_id, alice.owner, second_wallet))
    assert alice.seqs[0] < s_wallet < s_phone < s_between < s_revoke

    cache = IdentityCache()
    await cache.fetch(api, [alice.inbox_id])
    first, phone_key = alice.first.public_key, phone.public_key

    latest = cache.states_for({alice.inbox_id: 0})[alice.inbox_id]
    assert latest.inbox_id == alice.inbox_id
    assert latest.installations() == [first]  # the revocation took the phone with its wallet
    assert second_wallet.address not in latest.ethereum_addresses()
    assert installations_at(cache, alice.inbox_id, s_revoke) == {first}

    assert installations_at(cache, alice.inbox_id, alice.seqs[0]) == {first}
    at_wallet = cache.states_for({alice.inbox_id: s_wallet})[alice.inbox_id]
    assert at_wallet.installations() == [first]
    assert second_wallet.address in at_wallet.ethereum_addresses()
    assert installations_at(cache, alice.inbox_id, s_phone) == {first, phone_key}
    # a sequence id of another inbox's update, between alice's: alice's state as of then
    assert installations_at(cache, alice.inbox_id, s_between) == {first, phone_key}
    # the same through state()
    phone_state = cache.state(alice.inbox_id, s_phone)
    assert phone_state is not None and phone_key in phone_state.installations()
    assert cache.state(alice.inbox_id) == latest


async def test_a_sequence_id_before_the_log_begins_is_an_identity_log_error(api: NodeApi) -> None:
    await new_inbox(api)  # takes the first sequence id
    alice = await new_inbox(api)
    assert alice.seqs[0] > 1
    cache = IdentityCache()
    await cache.fetch(api, [alice.inbox_id])
    with pytest.raises(IdentityLogError, match=alice.inbox_id):
        cache.states_for({alice.inbox_id: alice.seqs[0] - 1})


# --- incremental fetch --------------------------------------------------------------------------------------


async def test_a_second_fetch_asks_only_for_the_rest_of_the_log(node: Node, api: NodeApi) -> None:
    alice, bob = await new_inbox(api), await new_inbox(api)
    handler, channel = forward_to(node)
    try:
        async with identity_server(handler) as served:
            cache = IdentityCache()
            await cache.fetch(served.api, [])
            assert served.requests == []  # nothing asked for, no call

            await cache.fetch(served.api, [alice.inbox_id])
            assert served.requests == [[(alice.inbox_id, 0)]]

            phone = InstallationKey.generate()
            s_phone = await publish(api, add_installation(alice.inbox_id, alice.owner, phone))
            await cache.fetch(served.api, [alice.inbox_id, bob.inbox_id])
            assert sorted(served.requests[1]) == sorted([(alice.inbox_id, alice.seqs[0]), (bob.inbox_id, 0)])
            assert installations_at(cache, alice.inbox_id, s_phone) == {
                alice.first.public_key,
                phone.public_key,
            }
            assert installations_at(cache, alice.inbox_id, alice.seqs[0]) == {alice.first.public_key}

            # nothing new: it asks from the last sequence id it has, and the states stay as they were
            await cache.fetch(served.api, [alice.inbox_id])
            assert served.requests[2] == [(alice.inbox_id, s_phone)]
            assert installations_at(cache, alice.inbox_id, 0) == {alice.first.public_key, phone.public_key}

            # after forget, the whole log again
            cache.forget(alice.inbox_id)
            with pytest.raises(IdentityNeeded):
                cache.states_for({alice.inbox_id: 0})
            await cache.fetch(served.api, [alice.inbox_id])
            assert served.requests[3] == [(alice.inbox_id, 0)]
            assert installations_at(cache, alice.inbox_id, 0) == {alice.first.public_key, phone.public_key}
    finally:
        await channel.close()


async def test_a_server_that_ignores_the_cursor_does_not_break_the_cache(api: NodeApi) -> None:
    """Entries the cache already applied come back again: they are skipped, not replayed (which would fail)."""
    alice = await new_inbox(api)
    phone = InstallationKey.generate()
    s_phone = await publish(api, add_installation(alice.inbox_id, alice.owner, phone))
    served_log = await full_log(api, alice.inbox_id)

    async def whole_log_always(request: Request) -> Response:
        return Response(
            responses=[Response.Response(inbox_id=alice.inbox_id, updates=list(reversed(served_log)))]
        )

    async with identity_server(whole_log_always) as served:
        cache = IdentityCache()
        await cache.fetch(served.api, [alice.inbox_id])
        await cache.fetch(served.api, [alice.inbox_id])
        assert served.requests[1] == [(alice.inbox_id, s_phone)]
    assert installations_at(cache, alice.inbox_id, 0) == {alice.first.public_key, phone.public_key}
    assert installations_at(cache, alice.inbox_id, alice.seqs[0]) == {alice.first.public_key}


async def test_a_response_for_an_inbox_not_asked_for_is_ignored(api: NodeApi) -> None:
    alice, bob = await new_inbox(api), await new_inbox(api)
    alice_log, bob_log = await full_log(api, alice.inbox_id), await full_log(api, bob.inbox_id)

    async def with_extra(request: Request) -> Response:
        return Response(
            responses=[
                Response.Response(inbox_id=alice.inbox_id, updates=alice_log),
                Response.Response(inbox_id=bob.inbox_id, updates=bob_log),
            ]
        )

    async with identity_server(with_extra) as served:
        cache = IdentityCache()
        await cache.fetch(served.api, [alice.inbox_id])
    assert cache.state(alice.inbox_id) is not None
    assert cache.state(bob.inbox_id) is None


# --- logs that do not verify --------------------------------------------------------------------------------


def tampered_signature(entry: Response.IdentityUpdateLog) -> Response.IdentityUpdateLog:
    """The same update with one bit of its first installation signature flipped."""
    forged = Response.IdentityUpdateLog()
    forged.CopyFrom(entry)
    for action in forged.update.actions:
        kind = action.WhichOneof("kind")
        if kind == "add":
            ed = action.add.new_member_signature.installation_key
            ed.bytes = bytes([ed.bytes[0] ^ 1]) + ed.bytes[1:]
            return forged
        if kind == "create_inbox":
            ecdsa = action.create_inbox.initial_identifier_signature.erc_191
            ecdsa.bytes = bytes([ecdsa.bytes[0] ^ 1]) + ecdsa.bytes[1:]
            return forged
    raise AssertionError("no signature to tamper with")


def tampered_timestamp(entry: Response.IdentityUpdateLog) -> Response.IdentityUpdateLog:
    """The same signatures over a client timestamp a minute later (so a different signature text: the text
    shows the time to the second)."""
    forged = Response.IdentityUpdateLog()
    forged.CopyFrom(entry)
    forged.update.client_timestamp_ns += 60 * 10**9
    return forged


@pytest.mark.parametrize("tamper", [tampered_signature, tampered_timestamp], ids=["signature", "timestamp"])
@pytest.mark.parametrize("which", [0, 1], ids=["create", "add"])
async def test_a_tampered_update_is_an_identity_log_error(
    api: NodeApi,
    tamper: Callable[[Response.IdentityUpdateLog], Response.IdentityUpdateLog],
    which: int,
) -> None:
    alice = await new_inbox(api)
    await publish(api, add_installation(alice.inbox_id, alice.owner, InstallationKey.generate()))
    log = await full_log(api, alice.inbox_id)
    assert len(log) == 2
    bad_seq = log[which].sequence_id
    log[which] = tamper(log[which])

    async with identity_server(serving(alice.inbox_id, log)) as served:
        cache = IdentityCache()
        with pytest.raises(IdentityLogError) as info:
            await cache.fetch(served.api, [alice.inbox_id])
    text = str(info.value)
    assert alice.inbox_id in text and f"update {bad_seq} " in text
    # nothing unverified is ever answered: the forged installation is in no state the cache gives
    if which == 0:
        assert cache.state(alice.inbox_id) is None
    else:
        assert installations_at(cache, alice.inbox_id, 0) == {alice.first.public_key}


async def test_a_validly_signed_update_by_a_non_member_is_an_identity_log_error(api: NodeApi) -> None:
    """Correct signatures, but the 'existing member' vouching for the new installation is not in the inbox."""
    alice = await new_inbox(api)
    log = await full_log(api, alice.inbox_id)
    intruder, device = LocalWalletSigner.generate(), InstallationKey.generate()
    forged = Response.IdentityUpdateLog(
        sequence_id=log[-1].sequence_id + 5,
        server_timestamp_ns=log[-1].server_timestamp_ns + 1,
        update=add_installation(alice.inbox_id, intruder, device),
    )
    async with identity_server(serving(alice.inbox_id, [*log, forged])) as served:
        cache = IdentityCache()
        with pytest.raises(IdentityLogError, match=rf"{alice.inbox_id}.*update {forged.sequence_id}\b"):
            await cache.fetch(served.api, [alice.inbox_id])
    assert device.public_key not in cache.states_for({alice.inbox_id: 0})[alice.inbox_id].installations()
    # and the node itself refuses to log it
    with pytest.raises(Exception, match="PublishIdentityUpdate"):
        await api.publish_identity_update(forged.update)


async def test_another_inboxs_valid_log_served_for_an_inbox_is_refused(api: NodeApi) -> None:
    alice, mallory = await new_inbox(api), await new_inbox(api)
    mallory_log = await full_log(api, mallory.inbox_id)

    async def substitute(request: Request) -> Response:
        return Response(responses=[Response.Response(inbox_id=alice.inbox_id, updates=mallory_log)])

    async with identity_server(substitute) as served:
        cache = IdentityCache()
        with pytest.raises(
            IdentityLogError, match=f"inbox {alice.inbox_id}: update .* belongs to inbox {mallory.inbox_id}"
        ):
            await cache.fetch(served.api, [alice.inbox_id])
    assert cache.state(alice.inbox_id) is None  # nothing of the substitute was kept
    with pytest.raises(IdentityNeeded):
        cache.states_for({alice.inbox_id: 0})
