"""Inbox management between our client and real libxmtp clients (xmtp-bindings 0.1.8 = libxmtp 1.10.0) through a
pyxmtp node: the same signature texts for every identity change, each side's changes seen and obeyed by the other
(linked wallets, revoked installations leaving groups, a new recovery identifier), installation-key signatures
and key-package statuses checked both ways."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import Client, Dm
from pyxmtp.client.inbox import (
    add_account,
    change_recovery_identifier,
    inbox_states,
    key_package_statuses,
    revoke_installations,
    sign_with_installation_key,
    update_group_installations,
    verify_signed_with_public_key,
)
from pyxmtp.conversations.content import build_plaintext_envelope, encode_text
from pyxmtp.conversations.conversation import Conversation
from pyxmtp.identity import builder
from pyxmtp.identity.errors import AssociationError
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2
from tests.interop.libxmtp import User, texts, until, v

from .test_libxmtp_interop import group_options

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]


async def libxmtp_api(node: Node) -> Any:
    v.FfiIdentifier.__hash__ = lambda s: hash((s.identifier, s.identifier_kind))  # bindings 0.1.8 defect
    return await v.connect_to_backend(
        f"http://{node.address}", None, False, None, "pyxmtp-inbox-ops", None, None
    )


def ident(address: str) -> Any:
    return v.FfiIdentifier(identifier=address.lower(), identifier_kind=v.FfiIdentifierKind.ETHEREUM)


async def installation_of(node: Node, wallet: LocalWalletSigner, path: Path) -> Client:
    """A new installation of ``wallet``'s inbox, registered (the inbox made by the first)."""
    return await Client.create(node.address, wallet, db_path=path)


def tree_installations(conversation: Any, inbox_id: str | None = None) -> set[bytes]:
    """The installations in one of our conversations' MLS tree itself (of ``inbox_id`` only, if given)."""
    return {
        i.installation_key
        for i in conversation._session.core.installations()
        if inbox_id is None or i.inbox_id == inbox_id
    }


def text_time_ns(text: str) -> int:
    """The client time a signature text shows (whole seconds), in ns: our request at that time has its text."""
    line = next(line for line in text.splitlines() if line.startswith("Current time: "))
    moment = datetime.strptime(line.removeprefix("Current time: "), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 10**9


def their_installations(members: list[Any], inbox_id: str) -> set[bytes]:
    """The installations of ``inbox_id`` a libxmtp group lists."""
    return {bytes(i) for m in members if m.inbox_id == inbox_id for i in m.installation_ids}


async def test_every_change_has_libxmtps_signature_text_and_our_signatures_apply_there(
    node: Node, tmp_path: Path
) -> None:
    """libxmtp builds each identity change; ours, for the same inbox, action and second, has the same text byte
    for byte. Our wallet signer signs libxmtp's requests and libxmtp applies them; libxmtp's static revoke of
    our inbox has our text too."""
    api = await libxmtp_api(node)
    key = os.urandom(32)
    wallet = LocalWalletSigner(key)
    alice = await User.register(api, key)
    alice_tablet = await User.register(api, key)
    inbox_id = alice.inbox_id
    phone_id, tablet_id = bytes(alice.client.installation_id()), bytes(alice_tablet.client.installation_id())
    phone = MemberIdentifier.installation(phone_id)
    second, third = LocalWalletSigner.generate(), LocalWalletSigner.generate()

    request = await alice.client.add_identity(ident(second.address))
    text = await request.signature_text()
    ours = builder.add_account_request(
        inbox_id, second.identifier, phone, client_timestamp_ns=text_time_ns(text)
    )
    assert ours.signature_text == text
    assert await request.missing_address_signatures() == [second.address]  # libxmtp's key signed
    await request.add_ecdsa_signature(second.sign(text))
    await alice.client.apply_signature_request(request)

    request = await alice.client.revoke_identity(ident(second.address))
    text = await request.signature_text()
    ours = builder.revoke_members_request(
        inbox_id, wallet.identifier, [second.identifier], client_timestamp_ns=text_time_ns(text)
    )
    assert ours.signature_text == text
    await request.add_ecdsa_signature(wallet.sign(text))
    await alice.client.apply_signature_request(request)

    request = await alice.client.revoke_all_other_installations_signature_request()
    text = await request.signature_text()
    ours = builder.revoke_installations_request(
        inbox_id, wallet.identifier, [tablet_id], client_timestamp_ns=text_time_ns(text)
    )
    assert ours.signature_text == text
    request = await alice.client.revoke_installations([tablet_id, phone_id])
    text = await request.signature_text()
    ours = builder.revoke_installations_request(
        inbox_id, wallet.identifier, [tablet_id, phone_id], client_timestamp_ns=text_time_ns(text)
    )
    assert ours.signature_text == text

    request = await alice.client.change_recovery_identifier(ident(third.address))
    text = await request.signature_text()
    ours = builder.change_recovery_request(
        inbox_id, wallet.identifier, third.identifier, client_timestamp_ns=text_time_ns(text)
    )
    assert ours.signature_text == text
    await request.add_ecdsa_signature(wallet.sign(text))
    await alice.client.apply_signature_request(request)
    state = await alice.client.inbox_state(True)
    assert state.recovery_identity.identifier == third.address
    assert [a.identifier for a in state.account_identities] == [wallet.address]

    # libxmtp's client-less revoke, of our inbox, signed by our recovery wallet, applied by libxmtp
    mine = LocalWalletSigner.generate()
    me = await installation_of(node, mine, tmp_path / "me.db")
    laptop = await installation_of(node, mine, tmp_path / "laptop.db")
    request = v.revoke_installations(api, ident(mine.address), me.inbox_id, [laptop.installation_id])
    text = await request.signature_text()
    ours = builder.revoke_installations_request(
        me.inbox_id, mine.identifier, [laptop.installation_id], client_timestamp_ns=text_time_ns(text)
    )
    assert ours.signature_text == text
    await request.add_ecdsa_signature(mine.sign(text))
    await v.apply_signature_request(api, request)
    [own] = await inbox_states(me, [me.inbox_id], refresh=True)
    assert own.installation_ids == [me.installation_id]
    await me.close()
    await laptop.close()


async def test_we_link_a_wallet_libxmtp_finds_us_by_it_and_we_unlink_it(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    wallet, second = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    me = await installation_of(node, wallet, tmp_path / "me.db")
    await add_account(me, second)

    assert await v.get_inbox_id_for_identifier(api, ident(second.address)) == me.inbox_id
    assert (await alice.client.can_message([ident(second.address)]))[ident(second.address)]
    [seen] = await alice.client.addresses_from_inbox_id(True, [me.inbox_id])
    assert {a.identifier for a in seen.account_identities} == {wallet.address, second.address}
    assert seen.recovery_identity.identifier == wallet.address

    # libxmtp's view of both inboxes is ours
    [theirs_of_me, theirs_of_alice] = await v.inbox_state_from_inbox_ids(api, [me.inbox_id, alice.inbox_id])
    ours = await inbox_states(me, [me.inbox_id, alice.inbox_id], refresh=True)
    for theirs, state in zip((theirs_of_me, theirs_of_alice), ours, strict=True):
        assert theirs.inbox_id == state.inbox_id
        assert theirs.recovery_identity.identifier == str(state.recovery_identifier)
        assert {a.identifier for a in theirs.account_identities} == {
            str(a) for a in state.account_identifiers
        }
        assert {(bytes(i.id), i.client_timestamp_ns) for i in theirs.installations} == {
            (i.id, i.client_timestamp_ns) for i in state.installations
        }

    options = v.FfiCreateDmOptions(message_disappearing_settings=None)
    dm = await alice.client.conversations().find_or_create_dm_by_identity(ident(second.address), options)
    await dm.send_text("found you by your second wallet")
    [joined] = await me.conversations.sync()
    assert isinstance(joined, Dm) and joined.peer_inbox_id == alice.inbox_id
    await joined.sync()
    assert joined.texts() == ["found you by your second wallet"]

    await me.remove_account(second.address)  # the creating wallet signs, as the recovery identifier
    assert await v.get_inbox_id_for_identifier(api, ident(second.address)) is None
    [seen] = await alice.client.addresses_from_inbox_id(True, [me.inbox_id])
    assert [a.identifier for a in seen.account_identities] == [wallet.address]
    await me.close()


async def test_we_revoke_an_installation_and_it_leaves_libxmtps_groups_and_ours(
    node: Node, tmp_path: Path
) -> None:
    """Our phone revokes our laptop. In alice's (libxmtp) group, alice's next membership commit removes the
    laptop; in the phone's own group with alice, the phone's commit does, and libxmtp accepts it. The laptop
    then reads nothing new, cannot send, and what it sends from its old epoch no member takes."""
    api = await libxmtp_api(node)
    alice, dave = await User.register(api), await User.register(api)
    wallet = LocalWalletSigner.generate()
    phone = await installation_of(node, wallet, tmp_path / "phone.db")
    laptop = await installation_of(node, wallet, tmp_path / "laptop.db")
    theirs = await alice.client.conversations().create_group([phone.inbox_id], group_options("alice's"))
    ours = await phone.conversations.create_group([alice.inbox_id], name="phone's")
    await theirs.send_text("hello from alice")
    await phone.conversations.sync()
    await laptop.conversations.sync()
    phone_theirs, laptop_theirs = (
        phone.conversations.get_conversation_by_id(bytes(theirs.id())),
        laptop.conversations.get_conversation_by_id(bytes(theirs.id())),
    )
    laptop_ours = laptop.conversations.get_conversation_by_id(ours.group_id)
    assert phone_theirs is not None and laptop_theirs is not None and laptop_ours is not None
    await laptop_theirs.sync()
    snapshot = laptop_theirs._session.core.to_bytes()  # the laptop's state before it is removed

    await revoke_installations(phone, wallet, [laptop.installation_id])
    [seen] = await v.inbox_state_from_inbox_ids(api, [phone.inbox_id])
    assert [bytes(i.id) for i in seen.installations] == [phone.installation_id]

    # libxmtp's next membership commit (adding dave) also removes the revoked installation
    await theirs.add_members([dave.inbox_id])
    assert their_installations(await theirs.list_members(), phone.inbox_id) == {phone.installation_id}
    await phone_theirs.sync()
    assert tree_installations(phone_theirs, phone.inbox_id) == {phone.installation_id}

    # our commit removes it from our group; libxmtp follows it
    result = await update_group_installations(phone.conversations.list())
    assert result.changed == [ours.group_id] and not result.failed
    await alice.client.conversations().sync()
    alice_ours = alice.client.conversation(ours.group_id)
    await alice_ours.sync()
    assert their_installations(await alice_ours.list_members(), phone.inbox_id) == {phone.installation_id}
    await alice_ours.send_text("alice after our commit")

    async def phone_reads_alice() -> bool:
        await ours.sync()
        return ours.texts()[-1:] == ["alice after our commit"]

    await until(phone_reads_alice, "our client to read alice after its commit")

    # the laptop is out of both, and from its old epoch it can make no member read anything
    for conversation in (laptop_theirs, laptop_ours):
        await conversation.sync()
        assert not conversation.is_active
    stale = Conversation.from_bytes(snapshot, laptop.inbox_id)
    content, _ = encode_text("from the revoked laptop")
    data = stale.encrypt(build_plaintext_envelope(content, "stale-1"), rng=os.urandom)
    await laptop.api.send_group_messages(
        [mls_pb2.GroupMessageInput(v1=mls_pb2.GroupMessageInput.V1(data=data, should_push=True))]
    )
    await theirs.send_text("alice, after the stale message")
    await phone_theirs.sync()
    assert phone_theirs.texts()[-1] == "alice, after the stale message"
    assert "from the revoked laptop" not in phone_theirs.texts()
    await theirs.sync()
    assert "from the revoked laptop" not in await texts(theirs)
    await dave.client.conversations().sync()
    dave_group = dave.client.conversation(theirs.id())
    await dave_group.sync()
    assert await texts(dave_group) == ["alice, after the stale message"]
    for client in (phone, laptop):
        await client.close()


async def test_libxmtp_revokes_one_of_its_installations_and_we_drop_it(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    key = os.urandom(32)
    alice_phone = await User.register(api, key)
    alice_tablet = await User.register(api, key)
    tablet_id = bytes(alice_tablet.client.installation_id())
    me = await installation_of(node, LocalWalletSigner.generate(), tmp_path / "me.db")
    group = await me.conversations.create_group([alice_phone.inbox_id], name="two tablets")
    assert tablet_id in tree_installations(group)

    request = await alice_phone.client.revoke_installations([tablet_id])
    await request.add_ecdsa_signature(LocalWalletSigner(key).sign(await request.signature_text()))
    await alice_phone.client.apply_signature_request(request)
    [alice_state] = await inbox_states(me, [alice_phone.inbox_id], refresh=True)
    assert alice_state.installation_ids == [bytes(alice_phone.client.installation_id())]

    assert (await me.update_group_installations()).changed == [group.group_id]
    assert tablet_id not in tree_installations(group)
    await group.send_text("without the tablet")
    await alice_phone.client.conversations().sync()
    theirs = alice_phone.client.conversation(group.group_id)
    await theirs.sync()
    assert await texts(theirs) == ["without the tablet"]
    assert their_installations(await theirs.list_members(), alice_phone.inbox_id) == {
        bytes(alice_phone.client.installation_id())
    }
    await alice_tablet.client.conversations().sync()
    tablet_group = alice_tablet.client.conversation(group.group_id)
    await tablet_group.sync()
    assert not tablet_group.is_active()
    await me.close()


async def test_a_new_recovery_address_is_libxmtps_too_and_the_old_one_cannot_revoke(
    node: Node, tmp_path: Path
) -> None:
    api = await libxmtp_api(node)
    wallet, recovery = LocalWalletSigner.generate(), LocalWalletSigner.generate()
    phone = await installation_of(node, wallet, tmp_path / "phone.db")
    laptop = await installation_of(node, wallet, tmp_path / "laptop.db")
    await change_recovery_identifier(phone, wallet, recovery.identifier)
    [seen] = await v.inbox_state_from_inbox_ids(api, [phone.inbox_id])
    assert seen.recovery_identity.identifier == recovery.address

    with pytest.raises(AssociationError) as err:  # refused by our client
        await revoke_installations(phone, wallet, [laptop.installation_id])
    assert err.value.rule == "missing_existing_member"
    request = v.revoke_installations(api, ident(wallet.address), phone.inbox_id, [laptop.installation_id])
    await request.add_ecdsa_signature(wallet.sign(await request.signature_text()))
    with pytest.raises(v.FfiError):  # and by the node, when libxmtp publishes it
        await v.apply_signature_request(api, request)
    [own] = await inbox_states(phone, [phone.inbox_id], refresh=True)
    assert set(own.installation_ids) == {phone.installation_id, laptop.installation_id}

    # the new recovery address revokes, through libxmtp; our client sees it
    request = v.revoke_installations(api, ident(recovery.address), phone.inbox_id, [laptop.installation_id])
    await request.add_ecdsa_signature(recovery.sign(await request.signature_text()))
    await v.apply_signature_request(api, request)
    [own] = await inbox_states(phone, [phone.inbox_id], refresh=True)
    assert own.installation_ids == [phone.installation_id]
    await phone.close()
    await laptop.close()


async def test_installation_key_signatures_verify_both_ways(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    me = await installation_of(node, LocalWalletSigner.generate(), tmp_path / "me.db")
    text = "a text both sides can sign"

    ours = sign_with_installation_key(me, text)
    alice.client.verify_signed_with_public_key(text, ours, me.installation_id)  # raises if it does not verify
    with pytest.raises(v.FfiError):
        alice.client.verify_signed_with_public_key(text + "!", ours, me.installation_id)
    with pytest.raises(v.FfiError):  # an identity-update signature is not an app signature
        alice.client.verify_signed_with_public_key(text, me.installation.sign(text), me.installation_id)

    theirs = alice.client.sign_with_installation_key(text)
    alice.client.verify_signed_with_installation_key(text, theirs)
    alice_id = bytes(alice.client.installation_id())
    assert verify_signed_with_public_key(text, theirs, alice_id)
    assert not verify_signed_with_public_key(text, theirs, me.installation_id)
    assert not verify_signed_with_public_key(text + "!", theirs, alice_id)
    await me.close()


async def test_key_package_statuses_match_libxmtps(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    me = await installation_of(node, LocalWalletSigner.generate(), tmp_path / "me.db")
    nobody = os.urandom(32)
    ids = [bytes(alice.client.installation_id()), me.installation_id, nobody]
    theirs = await alice.client.get_key_package_statuses_for_installation_ids(ids)
    ours = await key_package_statuses(me, ids)
    for installation_id in ids[:2]:
        lifetime = theirs[installation_id].lifetime
        assert theirs[installation_id].validation_error is None and ours[installation_id].valid
        assert ours[installation_id].lifetime is not None
        assert (lifetime.not_before, lifetime.not_after) == (
            ours[installation_id].lifetime.not_before,  # type: ignore[union-attr]
            ours[installation_id].lifetime.not_after,  # type: ignore[union-attr]
        )
    assert theirs[nobody].lifetime is None and theirs[nobody].validation_error
    assert ours[nobody].lifetime is None and not ours[nobody].valid
    await me.close()
