"""Managing an inbox through a real node (the Client's methods over pyxmtp.client.inbox, and the module's
functions): linking and unlinking accounts, revoking installations (then dropped from our groups), changing the
recovery identifier, installation-key signatures, inbox states and key-package statuses; refused changes leave the
inbox as it was and publish nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyxmtp.client import Client, Conversation, InactiveConversation, InboxState
from pyxmtp.client.api import ApiCallError
from pyxmtp.client.inbox import (
    AccountAlreadyAssociated,
    InboxNotFound,
    InboxOperationError,
    KeyPackageLifetime,
    NotAMember,
    add_account,
    add_account_request,
    apply_signature_request,
    change_recovery_identifier,
    inbox_state,
    inbox_states,
    key_package_status,
    key_package_statuses,
    remove_account,
    revoke_all_other_installations,
    revoke_all_other_installations_request,
    revoke_installations,
    revoke_installations_request,
    revoke_installations_with_signer,
    sign_with_installation_key,
    update_group_installations,
    verify_signed_with_installation_key,
    verify_signed_with_public_key,
)
from pyxmtp.conversations.key_packages import KEY_PACKAGE_LIFETIME, create_xmtp_key_package
from pyxmtp.identity.builder import revoke_installations_request as build_revoke_request
from pyxmtp.identity.errors import AssociationError, SignatureRequestError
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.limits import MAX_INSTALLATIONS_PER_INBOX
from pyxmtp.identity.signature_request import WireSigner
from pyxmtp.mls.codec import encode
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.node import Node
from tests.identity.factories import PasskeySigner
from tests.identity.test_signature_request import PasskeyWireSigner

from .conftest import new_client


async def installation_of(node: Node, wallet: LocalWalletSigner, path: Path) -> Client:
    """A new installation of ``wallet``'s inbox, registered (the inbox made by the first)."""
    return await Client.create(node.address, wallet, db_path=path)


def tree_installations(conversation: Conversation) -> set[bytes]:
    """The installations in the conversation's MLS tree itself (not the identity logs' view of its members)."""
    return {i.installation_key for i in conversation._session.core.installations()}


async def log_length(client: Client, inbox_id: str) -> int:
    return len((await client.api.get_identity_updates([(inbox_id, 0)]))[inbox_id])


async def test_link_an_account_by_request_sign_apply_then_unlink_it(node: Node, tmp_path: Path) -> None:
    """node-sdk's "get a request, let the app sign, apply" flow: the installation has signed already, the new
    wallet signs the text; the node then maps the wallet to our inbox. Unlinking it, signed by the recovery
    wallet, takes it off again."""
    wallet, second = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    me = await installation_of(node, wallet, tmp_path / "me.db")
    request = await me.add_account_signature_request(second.address)
    assert request.missing_address_signatures() == [second.identifier]
    assert f"- Link address to inbox\n  (Address: {second.address})" in request.signature_text
    request.add_ecdsa_signature(second.sign(request.signature_text))
    state = await me.apply_signature_request(request)
    assert isinstance(state, InboxState) and state.inbox_id == me.inbox_id
    assert set(state.account_identifiers) == {wallet.identifier, second.identifier}
    assert await me.inbox_ids_of([second.address]) == {second.address: me.inbox_id}
    assert await me.apply_signature_request(request) == state  # applied twice: the second is a no-op
    own = await me.inbox_state(refresh=True)
    assert own == state and own.recovery_identifier == wallet.identifier
    assert own.installation_ids == [me.installation_id]
    assert (await inbox_state(me)) == own  # the module's function, on the same cache

    with pytest.raises(AccountAlreadyAssociated, match="this inbox already"):
        await me.add_account(second)
    state = await me.remove_account(second.address)  # signed by the creating wallet, the recovery identifier
    assert state.account_identifiers == (wallet.identifier,)
    assert await me.inbox_ids_of([second.address]) == {second.address: None}
    with pytest.raises(NotAMember):
        await remove_account(me, wallet, second.identifier)
    await me.close()


async def test_an_account_of_another_inbox_moves_only_when_allowed(node: Node, tmp_path: Path) -> None:
    me = await new_client(node, tmp_path / "me.db")
    bob_wallet = LocalWalletSigner.generate()
    bob = await installation_of(node, bob_wallet, tmp_path / "bob.db")
    with pytest.raises(AccountAlreadyAssociated) as err:
        await me.add_account(bob_wallet)
    assert err.value.inbox_id == bob.inbox_id and "allow_inbox_reassign" in str(err.value)
    assert await me.inbox_ids_of([bob_wallet.address]) == {bob_wallet.address: bob.inbox_id}
    await me.add_account(bob_wallet, allow_inbox_reassign=True)
    assert await me.inbox_ids_of([bob_wallet.address]) == {bob_wallet.address: me.inbox_id}
    await me.close()
    await bob.close()


async def test_a_passkey_is_linked_through_a_wire_signer(node: Node, tmp_path: Path) -> None:
    me = await new_client(node, tmp_path / "me.db")
    passkey = PasskeyWireSigner(PasskeySigner(7))
    assert isinstance(passkey, WireSigner)
    state = await me.add_account(passkey)
    assert passkey.identifier in state.account_identifiers
    assert passkey.identifier in (await inbox_state(me, refresh=True)).account_identifiers
    other = await new_client(node, tmp_path / "other.db")
    association = await add_account(other, PasskeyWireSigner(PasskeySigner(8)))  # the module's function
    assert PasskeySigner(8).identifier in association.identifiers()
    await other.close()
    await me.close()


async def test_removing_the_account_that_registered_us_needs_consent(node: Node, tmp_path: Path) -> None:
    """Unlinking a wallet also revokes the installations it registered: refused while that includes this one,
    unless asked for; then this installation is gone from the inbox."""
    wallet, recovery = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    me = await installation_of(node, wallet, tmp_path / "me.db")
    await me.add_account(recovery)
    await change_recovery_identifier(me, wallet, recovery.identifier)
    with pytest.raises(InboxOperationError, match="also revokes this installation"):
        await me.remove_account(wallet.address, signer=recovery)
    state = await me.remove_account(wallet.identifier, signer=recovery, allow_self_revocation=True)
    assert state.installations == () and state.account_identifiers == (recovery.identifier,)
    with pytest.raises(InboxOperationError, match=r"not .* a member"):
        await add_account_request(
            me, LocalWalletSigner.generate().identifier
        )  # a revoked installation vouches
    await me.close()


async def test_a_revoked_installation_leaves_our_groups_and_cannot_send(node: Node, tmp_path: Path) -> None:
    """The phone revokes the laptop (signed by the recovery wallet); the phone's next membership commit removes
    it from their group with bob; bob follows; the laptop, having read that commit, can send nothing."""
    wallet = LocalWalletSigner.generate()
    phone = await installation_of(node, wallet, tmp_path / "phone.db")
    laptop = await installation_of(node, wallet, tmp_path / "laptop.db")
    bob = await new_client(node, tmp_path / "bob.db")
    group = await phone.conversations.create_group([bob.inbox_id], name="revocation")
    [bob_group] = await bob.conversations.sync()
    [laptop_group] = await laptop.conversations.sync()
    assert len(tree_installations(group)) == 3

    with pytest.raises(NotAMember):
        await phone.revoke_installations([b"\x07" * 32])
    state = await phone.revoke_installations([laptop.installation_id])  # our groups follow at once
    assert state.installation_ids == [phone.installation_id]
    assert tree_installations(group) == {phone.installation_id, bob.installation_id}
    assert {i for m in await group.members() for i in m.installation_ids} == tree_installations(group)
    assert (await phone.update_group_installations()).changed == []  # nothing left to do
    assert (await update_group_installations(phone.conversations.list())).changed == []

    await bob_group.sync()
    assert tree_installations(bob_group) == {phone.installation_id, bob.installation_id}
    await bob_group.send_text("after the revocation")
    await group.sync()
    assert group.texts()[-1] == "after the revocation"
    await laptop_group.sync()
    assert not laptop_group.is_active
    with pytest.raises(InactiveConversation):
        await laptop_group.send_text("from a revoked laptop")
    for client in (phone, laptop, bob):
        await client.close()


async def test_revoke_all_other_installations(node: Node, tmp_path: Path) -> None:
    wallet = LocalWalletSigner.generate()
    clients = [await installation_of(node, wallet, tmp_path / f"{i}.db") for i in range(3)]
    me = clients[0]
    request = await me.revoke_all_other_installations_signature_request()
    assert request is not None and request.missing_address_signatures() == [wallet.identifier]
    assert request.signature_text.count("- Revoke messaging access from app") == 2
    state = await me.revoke_all_other_installations()
    assert state.installation_ids == [me.installation_id]
    assert await revoke_all_other_installations_request(me) is None
    length = await log_length(me, me.inbox_id)
    assert await me.revoke_all_other_installations() == state  # nothing to do, nothing published
    assert (await revoke_all_other_installations(me, wallet)).installations() == [me.installation_id]
    assert await log_length(me, me.inbox_id) == length
    for client in clients:
        await client.close()


async def test_a_revoke_not_signed_by_the_recovery_identifier_is_refused_by_client_and_node(
    node: Node, tmp_path: Path
) -> None:
    """A linked wallet is a member but not the recovery identifier: the client refuses its revoke before
    signing, a request built for it fails to apply locally, and the node refuses the same update published
    directly; each names the rule, and the inbox keeps its installations."""
    wallet, member = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    phone = await installation_of(node, wallet, tmp_path / "phone.db")
    laptop = await installation_of(node, wallet, tmp_path / "laptop.db")
    await add_account(phone, member)
    before = await inbox_state(phone, refresh=True)
    length = await log_length(phone, phone.inbox_id)

    with pytest.raises(AssociationError) as err:
        await revoke_installations(phone, member, [laptop.installation_id])
    assert err.value.rule == "missing_existing_member" and "not the recovery identifier" in str(err.value)
    with pytest.raises(AssociationError, match="not the recovery identifier"):
        await phone.revoke_installations([laptop.installation_id], signer=member)
    async with await Client.build(node.address, wallet.address, db_path=tmp_path / "built.db") as built:
        with pytest.raises(InboxOperationError, match="without a signer"):  # nothing to sign with by default
            await built.revoke_installations([laptop.installation_id])

    request = await revoke_installations_request(phone, [laptop.installation_id])
    with pytest.raises(SignatureRequestError) as refused:
        request.sign_with(member)  # the request asks for the recovery wallet
    assert refused.value.rule == "unknown_signer"

    forged = build_revoke_request(
        phone.inbox_id, member.identifier, [laptop.installation_id], client_timestamp_ns=phone.clock_ns()
    )
    forged.sign_with(member)
    with pytest.raises(AssociationError) as err:
        await apply_signature_request(phone, forged)
    assert err.value.rule == "missing_existing_member"
    assert await log_length(phone, phone.inbox_id) == length  # nothing was published

    with pytest.raises(ApiCallError) as api_err:
        await phone.api.publish_identity_update(forged.build_identity_update())
    assert (
        api_err.value.code.name == "INVALID_ARGUMENT" and "missing_existing_member" in api_err.value.details
    )
    assert await inbox_state(phone, refresh=True) == before
    assert await log_length(phone, phone.inbox_id) == length
    await phone.close()
    await laptop.close()


async def test_a_new_recovery_identifier_takes_over(node: Node, tmp_path: Path) -> None:
    wallet, new_recovery = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    phone = await installation_of(node, wallet, tmp_path / "phone.db")
    laptop = await installation_of(node, wallet, tmp_path / "laptop.db")
    state = await phone.change_recovery_identifier(new_recovery.address)
    assert state.recovery_identifier == new_recovery.identifier
    assert state.account_identifiers == (wallet.identifier,)  # the new one need not be a member
    with pytest.raises(AssociationError) as err:  # the creating wallet signs by default: no longer enough
        await phone.revoke_installations([laptop.installation_id])
    assert err.value.rule == "missing_existing_member"
    state = await phone.revoke_installations([laptop.installation_id], signer=new_recovery)
    assert state.installation_ids == [phone.installation_id]
    association = await change_recovery_identifier(phone, new_recovery, wallet.identifier)  # and back
    assert association.recovery_identifier == wallet.identifier
    await phone.close()
    await laptop.close()


async def test_an_inbox_at_its_installation_limit_revokes_without_a_client(
    node: Node, tmp_path: Path
) -> None:
    """With MAX_INSTALLATIONS_PER_INBOX installations a new one cannot register; the recovery wallet revokes one
    with no client of the inbox at hand (node-sdk's static revokeInstallations), then it can."""
    wallet = LocalWalletSigner.generate()
    clients = [
        await installation_of(node, wallet, tmp_path / f"{i}.db") for i in range(MAX_INSTALLATIONS_PER_INBOX)
    ]
    extra = await Client.create(node.address, wallet, db_path=tmp_path / "extra.db", register=False)
    with pytest.raises(ApiCallError, match="too_many_installations"):
        await extra.register()
    state = await revoke_installations_with_signer(
        extra.api, wallet, extra.inbox_id, [clients[0].installation_id]
    )
    assert clients[0].installation_id not in state.installations()
    await extra.register()
    assert await extra.is_registered()
    # node-sdk's static form, with a connection of its own
    after = await Client.revoke_installations_with_signer(
        node.address, wallet, extra.inbox_id, [clients[1].installation_id]
    )
    assert clients[1].installation_id not in after.installation_ids
    assert extra.installation_id in after.installation_ids
    for client in [*clients, extra]:
        await client.close()


async def test_inbox_states_of_several_inboxes(node: Node, tmp_path: Path) -> None:
    """The module's function, the client's method and its preferences give the same states, each inbox once in
    the order asked; an inbox without an identity log is an error naming every such inbox."""
    me = await new_client(node, tmp_path / "me.db")
    bob = await new_client(node, tmp_path / "bob.db")
    asked = [me.inbox_id, bob.inbox_id, me.inbox_id]
    mine, bobs = await inbox_states(me, asked)
    assert (mine.inbox_id, bobs.inbox_id) == (me.inbox_id, bob.inbox_id)
    assert bobs.installation_ids == [bob.installation_id]
    assert bobs.installations[0].client_timestamp_ns is not None
    assert await me.inbox_states_for(asked) == [mine, bobs]
    assert await me.preferences.fetch_inbox_states(asked) == [mine, bobs]
    nobody, nobody_else = "00" * 32, "01" * 32
    with pytest.raises(InboxNotFound) as err:
        await inbox_states(me, [bob.inbox_id, nobody])
    assert err.value.inbox_ids == [nobody]
    with pytest.raises(InboxNotFound) as err:
        await me.inbox_states_for([nobody, bob.inbox_id, nobody_else], refresh=True)
    assert err.value.inbox_ids == [nobody, nobody_else] and isinstance(err.value, LookupError)
    with pytest.raises(ValueError):
        await inbox_states(me, ["not an inbox id"])
    unregistered = await Client.create(node.address, LocalWalletSigner.generate(), register=False)
    with pytest.raises(InboxNotFound):
        await unregistered.inbox_state()
    await unregistered.close()
    await me.close()
    await bob.close()


async def test_signatures_with_the_installation_key(node: Node, tmp_path: Path) -> None:
    me = await new_client(node, tmp_path / "me.db")
    bob = await new_client(node, tmp_path / "bob.db")
    signature = sign_with_installation_key(me, "proof of installation")
    assert me.sign_with_installation_key("proof of installation") == signature  # Ed25519: deterministic
    assert verify_signed_with_installation_key(me, "proof of installation", signature)
    assert me.verify_signed_with_installation_key("proof of installation", signature)
    assert verify_signed_with_public_key("proof of installation", signature, me.installation_id)
    assert Client.verify_signed_with_public_key("proof of installation", signature, me.installation_id)
    assert not verify_signed_with_installation_key(bob, "proof of installation", signature)
    assert not bob.verify_signed_with_installation_key("proof of installation", signature)
    assert not verify_signed_with_public_key("proof of installation!", signature, me.installation_id)
    assert not verify_signed_with_public_key("proof of installation", signature[:63], me.installation_id)
    assert not verify_signed_with_public_key("proof of installation", signature, b"\x00" * 5)
    await me.close()
    await bob.close()


async def test_key_package_statuses(node: Node, tmp_path: Path) -> None:
    me = await new_client(node, tmp_path / "me.db")
    nobody = b"\x05" * 32
    statuses = await key_package_statuses(me, [me.installation_id, nobody, me.installation_id])
    assert list(statuses) == [me.installation_id, nobody]
    assert await me.fetch_key_package_statuses([me.installation_id, nobody]) == statuses
    mine = statuses[me.installation_id]
    assert mine.valid and mine.lifetime is not None
    assert mine.lifetime.not_after - mine.lifetime.not_before == KEY_PACKAGE_LIFETIME + 3600
    assert not statuses[nobody].valid and statuses[nobody].lifetime is None
    await me.close()


def test_key_package_status_of_hostile_or_stale_packages() -> None:
    """Served under another installation's id, expired, or not a key package: each a reason, never a crash."""
    suite = get_suite(3)
    signer = suite.generate_signature_key(lambda n: bytes(range(n)))
    data = encode(create_xmtp_key_package("ab" * 32, signer, rng=os.urandom, now=1_000_000).key_package)
    own_id = signer.public_bytes()
    status = key_package_status(own_id, data, 1_000_000)
    assert status.valid and status.lifetime == KeyPackageLifetime(
        1_000_000 - 3600, 1_000_000 + KEY_PACKAGE_LIFETIME
    )
    other = key_package_status(b"\x09" * 32, data, 1_000_000)
    assert other.lifetime is None and "key package for" in (other.validation_error or "")
    expired = key_package_status(own_id, data, 1_000_000 + KEY_PACKAGE_LIFETIME)
    assert expired.lifetime == status.lifetime and "expired" in (expired.validation_error or "")
    garbage = key_package_status(own_id, data[:-5], 1_000_000)
    assert garbage.lifetime is None and garbage.validation_error
