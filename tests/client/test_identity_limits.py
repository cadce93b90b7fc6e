"""The client holds every identity log a node serves to the node's own rules and bounds (security review,
issue 11 item 1): a lying node, or an older one that stored them, cannot make it accept an oversized or
over-long update, an 11th installation, a 257th member, a log past 256 entries or 384 KiB, or a replay whose
signatures were re-encoded. Each is an IdentityLogError naming the inbox and the rule; nothing of the refused
update is kept, the states before it and the other inboxes fetched with it are, and asking again never applies
it. Only an update without actions, which older nodes stored unsigned in anyone's log, reads as a no-op, as
libxmtp reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from pyxmtp.client import Client
from pyxmtp.client.api import NodeApi
from pyxmtp.client.identity import IdentityCache, IdentityLogError
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.limits import (
    IDENTITY_UPDATES_BATCH,
    MAX_GET_INBOX_IDS_REQUESTS,
    MAX_INBOX_LOG_ENTRIES,
    MAX_INSTALLATIONS_PER_INBOX,
    MAX_MEMBERS_PER_INBOX,
    MAX_SIGNATURES_PER_UPDATE,
)
from pyxmtp.node import Node
from pyxmtp.proto.identity.associations import association_pb2

from ..node.identity_helpers import add_members, add_wallet, inbox_of, reencode_v, register, revoke
from .conftest import new_client
from .lying_identity_node import Handler, Request, Response, forward_to, identity_server

Update = association_pb2.IdentityUpdate


@pytest.fixture
async def api(node: Node) -> AsyncIterator[NodeApi]:
    async with NodeApi(node.address, timeout=10) as a:
        yield a


def random_wallets(n: int) -> list[LocalWalletSigner]:
    return [LocalWalletSigner.generate() for _ in range(n)]


def revoke_strangers(inbox_id: str, owner: LocalWalletSigner, n: int) -> Update:
    """A valid update revoking ``n`` wallets that were never members (each action carries the owner's
    signature, as libxmtp builds a multi-revocation)."""
    return revoke(inbox_id, owner, *(w.identifier for w in random_wallets(n)))


# Each case: the updates an inbox owner signs after registering; the last one breaks a bound (the rule named).
Case = Callable[[str, LocalWalletSigner], list[Update]]


def too_large(inbox: str, owner: LocalWalletSigner) -> list[Update]:
    return [revoke_strangers(inbox, owner, 600)]  # 72 KB


def too_many_actions(inbox: str, owner: LocalWalletSigner) -> list[Update]:
    return [revoke_strangers(inbox, owner, 257)]


def eleventh_installation(inbox: str, owner: LocalWalletSigner) -> list[Update]:
    keys = [InstallationKey.generate() for _ in range(MAX_INSTALLATIONS_PER_INBOX)]
    return [add_members(inbox, owner, *keys)]


def member_257(inbox: str, owner: LocalWalletSigner) -> list[Update]:
    wallets = random_wallets(MAX_MEMBERS_PER_INBOX - 1)  # with the owner and its installation: 257
    batch = MAX_SIGNATURES_PER_UPDATE - 1
    return [add_members(inbox, owner, *wallets[i : i + batch]) for i in range(0, len(wallets), batch)]


def signatures_33(inbox: str, owner: LocalWalletSigner) -> list[Update]:
    return [add_members(inbox, owner, *random_wallets(MAX_SIGNATURES_PER_UPDATE))]


def entry_257(inbox: str, owner: LocalWalletSigner) -> list[Update]:
    return [revoke_strangers(inbox, owner, 1) for _ in range(MAX_INBOX_LOG_ENTRIES)]


def past_384_kib(inbox: str, owner: LocalWalletSigner) -> list[Update]:
    return [revoke_strangers(inbox, owner, 256) for _ in range(13)]  # 31 KB each


def reencoded_replay(inbox: str, owner: LocalWalletSigner) -> list[Update]:
    """Add a wallet, revoke it, then its AddAssociation again with ``v`` = 0/1: libxmtp would take the
    revoked wallet back."""
    second = LocalWalletSigner.generate()
    add = add_wallet(inbox, owner, second)
    return [add, revoke(inbox, owner, second.identifier), reencode_v(add)]


CASES: dict[str, tuple[Case, str]] = {
    "too_large": (too_large, "update_too_large"),
    "too_many_actions": (too_many_actions, "too_many_actions"),
    "installations": (eleventh_installation, "too_many_installations"),
    "signatures": (signatures_33, "too_many_signatures"),
    "members": (member_257, "too_many_members"),
    "entries": (entry_257, "inbox_log_full"),
    "bytes": (past_384_kib, "inbox_log_full"),
    "replay": (reencoded_replay, "replay"),
}


def serving_logs(logs: dict[str, list[Response.IdentityUpdateLog]]) -> Handler:
    """Answers each inbox asked about with its entries in ``logs`` after the sequence id asked from."""

    async def handler(request: Request) -> Response:
        return Response(
            responses=[
                Response.Response(
                    inbox_id=r.inbox_id,
                    updates=[e for e in logs.get(r.inbox_id, []) if e.sequence_id > r.sequence_id],
                )
                for r in request.requests
            ]
        )

    return handler


async def node_log(api: NodeApi, inbox_id: str) -> list[Response.IdentityUpdateLog]:
    return (await api.get_identity_updates([(inbox_id, 0)]))[inbox_id]


def appended(
    log: list[Response.IdentityUpdateLog], updates: list[Update]
) -> list[Response.IdentityUpdateLog]:
    last = log[-1]
    return [
        *log,
        *(
            Response.IdentityUpdateLog(
                sequence_id=last.sequence_id + i, server_timestamp_ns=last.server_timestamp_ns + i, update=u
            )
            for i, u in enumerate(updates, start=1)
        ),
    ]


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_a_log_breaking_a_bound_is_refused_and_nothing_of_it_applied(api: NodeApi, case: str) -> None:
    make, rule = CASES[case]
    owner, bob_wallet = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    inbox, bob = inbox_of(owner), inbox_of(bob_wallet)
    await api.publish_identity_update(register(owner, InstallationKey.generate()))
    await api.publish_identity_update(register(bob_wallet, InstallationKey.generate()))
    served = appended(await node_log(api, inbox), make(inbox, owner))
    bad = served[-1]
    logs = {inbox: served, bob: await node_log(api, bob)}

    async with identity_server(serving_logs(logs)) as lying:
        cache = IdentityCache()
        with pytest.raises(IdentityLogError) as info:
            await cache.fetch(lying.api, [inbox, bob])
        assert info.value.inbox_ids == [inbox]
        assert f"inbox {inbox}: update {bad.sequence_id} is refused ({rule})" in str(info.value)
        # every update before the refused one is kept, nothing of it; bob, fetched with it, is known
        assert cache.last_sequence_id(inbox) == served[-2].sequence_id
        good = IdentityCache()
        await good.fetch(lying.api, [bob])  # (a cache that never saw the bad update, for comparison)
        assert cache.state(bob) == good.state(bob) and cache.state(bob) is not None
        before = cache.state(inbox)
        assert before is not None and len(before.installations()) == 1
        # asking again asks from the last good update, and refuses the same update again
        with pytest.raises(IdentityLogError):
            await cache.fetch(lying.api, [inbox])
        assert lying.requests[-1] == [(inbox, served[-2].sequence_id)]
        assert cache.state(inbox) == before


async def test_a_client_refuses_an_oversized_update_an_older_node_stored(node: Node, tmp_path: Path) -> None:
    """Mallory's own validly signed 72 KB update, stored by a node from before the bound (written into a real
    node's store here): a victim's can_message refuses her log, and still answers for everyone else."""
    victim = await new_client(node, tmp_path / "victim.db")
    bob_wallet = LocalWalletSigner.generate()
    bob = await Client.create(node.address, bob_wallet, db_path=tmp_path / "bob.db")
    await bob.register(bob_wallet)
    bob_address = bob_wallet.address
    mallory = LocalWalletSigner.generate()
    mallory_inbox = inbox_of(mallory)
    await victim.api.publish_identity_update(register(mallory, InstallationKey.generate()))
    huge = revoke_strangers(mallory_inbox, mallory, 600)
    await node.store.append_inbox_log(
        mallory_inbox, huge.SerializeToString(), expected_length=1, added_addresses=(), removed_addresses=()
    )

    with pytest.raises(IdentityLogError, match="update_too_large") as info:
        await victim.can_message([mallory.address, bob_address])
    assert info.value.inbox_ids == [mallory_inbox]
    assert await victim.can_message([bob_address]) == {bob_address: True}
    await victim.close()
    await bob.close()


async def test_a_lying_node_cannot_bring_back_a_revoked_wallet_with_a_reencoded_replay(
    node: Node, api: NodeApi, tmp_path: Path
) -> None:
    """Alice added a second wallet and revoked it; a node serving the add again, ECDSA ``v`` re-encoded (which
    libxmtp's replay check lets through), is refused by Client.is_registered."""
    owner = LocalWalletSigner.generate()
    alice = await Client.create(node.address, owner, db_path=tmp_path / "alice.db")
    await alice.register(owner)
    second = LocalWalletSigner.generate()
    add = add_wallet(alice.inbox_id, owner, second)
    await api.publish_identity_update(add)
    await api.publish_identity_update(revoke(alice.inbox_id, owner, second.identifier))
    await alice.close()
    served = appended(await node_log(api, alice.inbox_id), [reencode_v(add)])

    async with identity_server(serving_logs({alice.inbox_id: served})) as lying:
        fooled = await Client.create(lying.api.address, owner, db_path=tmp_path / "alice.db", register=False)
        with pytest.raises(IdentityLogError, match="replay"):
            await fooled.is_registered()
        state = fooled.identities.state(alice.inbox_id)
        assert state is not None and second.address not in state.ethereum_addresses()
        await fooled.close()


async def test_empty_updates_an_older_node_stored_are_read_as_no_ops(node: Node, tmp_path: Path) -> None:
    """An attacker filled part of Alice's log with unsigned empty updates before the node refused them
    (written into a real node's store here): her clients still read the log, and she still adds a device."""
    owner = LocalWalletSigner.generate()
    alice = await Client.create(node.address, owner, db_path=tmp_path / "alice.db")
    await alice.register(owner)
    inbox_id, first_installation = alice.inbox_id, alice.installation_id
    await alice.close()
    empty = association_pb2.IdentityUpdate(inbox_id=inbox_id)
    for n in range(1, 6):
        empty.client_timestamp_ns = n
        await node.store.append_inbox_log(
            inbox_id, empty.SerializeToString(), expected_length=n, added_addresses=(), removed_addresses=()
        )
    fresh = await Client.create(node.address, owner, db_path=tmp_path / "alice.db")
    assert await fresh.is_registered()
    phone = await Client.create(node.address, owner, db_path=tmp_path / "phone.db")
    await phone.register(owner)
    assert await phone.is_registered()
    await fresh.identities.fetch(fresh.api, [inbox_id])
    state = fresh.identities.state(inbox_id)
    assert state is not None and set(state.installations()) == {first_installation, phone.installation_id}
    await fresh.close()
    await phone.close()


async def test_the_client_splits_long_lists_into_calls_the_node_takes(node: Node, api: NodeApi) -> None:
    """GetIdentityUpdates: 50 inboxes a call, as libxmtp (the node takes 64); GetInboxIds: 1000 (the node's
    limit), so asking about more than either still works."""
    owner = LocalWalletSigner.generate()
    inbox = inbox_of(owner)
    await api.publish_identity_update(register(owner, InstallationKey.generate()))
    strangers = [f"{n:064x}" for n in range(119)]
    handler, channel = forward_to(node)
    try:
        async with identity_server(handler) as recording:
            cache = IdentityCache()
            await cache.fetch(recording.api, [inbox, *strangers])
            assert [len(r) for r in recording.requests] == [
                IDENTITY_UPDATES_BATCH,
                IDENTITY_UPDATES_BATCH,
                20,
            ]
            assert cache.state(inbox) is not None
    finally:
        await channel.close()
    addresses = [owner.address] + [f"0x{n:040x}" for n in range(MAX_GET_INBOX_IDS_REQUESTS + 10)]
    found = await api.get_inbox_ids([(a, association_pb2.IDENTIFIER_KIND_ETHEREUM) for a in addresses])
    assert len(found) == len(addresses) and found[owner.address] == inbox
    assert sum(v is not None for v in found.values()) == 1
