"""check_leaves_belong / installations: the MLS tree held against real association states.

Every state here is computed by :func:`pyxmtp.identity.associations.get_state` from real, signed identity
updates (wallet and installation signatures), so "installation X is in inbox Y" means what the identity log
says, revocations included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from pyxmtp.conversations.credential import build_credential
from pyxmtp.conversations.group_context import Membership
from pyxmtp.conversations.membership import (
    Installation,
    MembershipError,
    check_leaves_belong,
    identity_requirements,
    installations,
)
from pyxmtp.identity.associations import get_state
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.identity.state import AssociationState
from pyxmtp.mls.group.events import Member
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.proto.identity.associations import association_pb2

from ..node.identity_helpers import add_installation, add_wallet, inbox_of, register, revoke_wallet


@dataclass
class Inbox:
    """A real inbox: its owner wallet, its first installation and its log so far."""

    inbox_id: str
    owner: LocalWalletSigner
    first: InstallationKey
    log: list[association_pb2.IdentityUpdate]
    #: installations added after the first
    more: list[InstallationKey] = field(default_factory=list)

    @property
    def state(self) -> AssociationState:
        return get_state(self.log)


def new_inbox() -> Inbox:
    owner, first = LocalWalletSigner.generate(), InstallationKey.generate()
    return Inbox(inbox_of(owner), owner, first, [register(owner, first)])


def leaf(index: int, inbox_id: str, installation: InstallationKey | bytes) -> Member:
    key = installation if isinstance(installation, bytes) else installation.public_key
    return Member(index, build_credential(inbox_id), key, os.urandom(32))


def check(
    members: list[Member],
    membership: dict[str, int],
    states: dict[str, AssociationState],
    *,
    expect_complete: bool = False,
    failed: tuple[bytes, ...] = (),
) -> None:
    check_leaves_belong(
        installations(members), Membership(membership, failed), states, expect_complete=expect_complete
    )


@pytest.fixture(scope="module")
def alice() -> Inbox:
    a = new_inbox()
    second = InstallationKey.generate()
    a.log.append(add_installation(a.inbox_id, a.owner, second))
    a.more.append(second)
    return a


@pytest.fixture(scope="module")
def bob() -> Inbox:
    return new_inbox()


# --- installations() ----------------------------------------------------------------------------------------


def test_installations_reads_inbox_and_key_of_every_leaf() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    got = installations([leaf(0, "inbox-a", k1), leaf(3, "inbox-b", k2)])
    assert got == [Installation(0, "inbox-a", k1), Installation(3, "inbox-b", k2)]


@pytest.mark.parametrize(
    "credential",
    [
        Credential.x509((b"\x30\x03\x02\x01\x01",)),
        Credential(0x0003, opaque_body=b"custom"),
        Credential.basic(b"\xff\xff\xff\xff"),  # basic, but not an MlsCredential protobuf
    ],
    ids=["x509", "custom-type", "basic-not-protobuf"],
)
def test_a_leaf_without_an_xmtp_credential_is_a_membership_error(credential: Credential) -> None:
    good = leaf(0, "inbox-a", os.urandom(32))
    bad = Member(4, credential, os.urandom(32), os.urandom(32))
    with pytest.raises(MembershipError, match=r"leaf 4\b"):
        installations([good, bad])


# --- check_leaves_belong ------------------------------------------------------------------------------------


def test_leaves_that_are_their_inboxes_installations_are_accepted(alice: Inbox, bob: Inbox) -> None:
    members = [
        leaf(0, alice.inbox_id, alice.first),
        leaf(1, alice.inbox_id, alice.more[0]),
        leaf(2, bob.inbox_id, bob.first),
    ]
    states = {alice.inbox_id: alice.state, bob.inbox_id: bob.state}
    membership = {alice.inbox_id: 0, bob.inbox_id: 0}
    check(members, membership, states)
    check(members, membership, states, expect_complete=True)


def test_a_leaf_whose_installation_is_not_in_its_inbox_is_refused(alice: Inbox) -> None:
    stranger = InstallationKey.generate()
    members = [leaf(0, alice.inbox_id, alice.first), leaf(5, alice.inbox_id, stranger)]
    with pytest.raises(MembershipError) as info:
        check(members, {alice.inbox_id: 0}, {alice.inbox_id: alice.state})
    text = str(info.value)
    assert "leaf 5" in text and alice.inbox_id in text and stranger.public_key.hex() in text


def test_a_leaf_claiming_another_members_installation_is_refused(alice: Inbox, bob: Inbox) -> None:
    """Bob's installation key under a credential naming Alice: the key is real, but not Alice's."""
    members = [leaf(0, alice.inbox_id, alice.first), leaf(1, alice.inbox_id, bob.first)]
    states = {alice.inbox_id: alice.state, bob.inbox_id: bob.state}
    with pytest.raises(MembershipError, match=rf"leaf 1\b.*{alice.inbox_id}"):
        check(members, {alice.inbox_id: 0, bob.inbox_id: 0}, states)


def test_a_leaf_naming_an_inbox_outside_the_membership_is_refused(alice: Inbox, bob: Inbox) -> None:
    # bob's leaf is a genuine installation of bob's inbox, and bob's state is even given: still not a member
    members = [leaf(0, alice.inbox_id, alice.first), leaf(2, bob.inbox_id, bob.first)]
    states = {alice.inbox_id: alice.state, bob.inbox_id: bob.state}
    with pytest.raises(MembershipError) as info:
        check(members, {alice.inbox_id: 0}, states)
    text = str(info.value)
    assert "leaf 2" in text and bob.inbox_id in text and "not a group member" in text


def test_a_member_without_a_state_is_refused(alice: Inbox, bob: Inbox) -> None:
    members = [leaf(0, alice.inbox_id, alice.first), leaf(1, bob.inbox_id, bob.first)]
    with pytest.raises(MembershipError, match=bob.inbox_id):
        check(members, {alice.inbox_id: 0, bob.inbox_id: 0}, {alice.inbox_id: alice.state})


def test_expect_complete_refuses_a_members_installation_missing_from_the_tree(
    alice: Inbox, bob: Inbox
) -> None:
    second: InstallationKey = alice.more[0]
    members = [leaf(0, alice.inbox_id, alice.first), leaf(1, bob.inbox_id, bob.first)]
    states = {alice.inbox_id: alice.state, bob.inbox_id: bob.state}
    membership = {alice.inbox_id: 0, bob.inbox_id: 0}

    check(members, membership, states)  # an existing member's view: a partial tree is fine
    with pytest.raises(MembershipError) as info:
        check(members, membership, states, expect_complete=True)
    text = str(info.value)
    assert alice.inbox_id in text and second.public_key.hex() in text
    assert alice.first.public_key.hex() not in text

    # listed as failed (its key package could not be used): accepted
    check(members, membership, states, expect_complete=True, failed=(second.public_key,))
    # some other installation listed as failed does not excuse it
    with pytest.raises(MembershipError):
        check(members, membership, states, expect_complete=True, failed=(os.urandom(32),))


def test_expect_complete_refuses_a_member_with_no_leaf_at_all(alice: Inbox, bob: Inbox) -> None:
    members = [leaf(0, alice.inbox_id, alice.first), leaf(1, alice.inbox_id, alice.more[0])]
    states = {alice.inbox_id: alice.state, bob.inbox_id: bob.state}
    membership = {alice.inbox_id: 0, bob.inbox_id: 0}
    check(members, membership, states)
    with pytest.raises(MembershipError, match=bob.inbox_id):
        check(members, membership, states, expect_complete=True)
    check(members, membership, states, expect_complete=True, failed=(bob.first.public_key,))
    # and a member whose state the caller did not supply is refused, not silently skipped
    with pytest.raises(MembershipError, match=bob.inbox_id):
        check(members, membership, {alice.inbox_id: alice.state}, expect_complete=True)


def test_a_revoked_installation_is_refused_later_but_accepted_earlier() -> None:
    """The wallet that added an installation is revoked: the installation goes with it (libxmtp's rule)."""
    inbox = new_inbox()
    second_wallet, phone = LocalWalletSigner.generate(), InstallationKey.generate()
    inbox.log.append(add_wallet(inbox.inbox_id, inbox.owner, second_wallet))
    inbox.log.append(add_installation(inbox.inbox_id, second_wallet, phone))
    earlier = get_state(inbox.log)
    inbox.log.append(revoke_wallet(inbox.inbox_id, inbox.owner, second_wallet))
    later = get_state(inbox.log)
    assert phone.public_key in earlier.installations()
    assert phone.public_key not in later.installations()
    assert inbox.first.public_key in later.installations()

    members = [leaf(0, inbox.inbox_id, inbox.first), leaf(1, inbox.inbox_id, phone)]
    membership = {inbox.inbox_id: 0}
    check(members, membership, {inbox.inbox_id: earlier}, expect_complete=True)
    with pytest.raises(MembershipError) as info:
        check(members, membership, {inbox.inbox_id: later})
    text = str(info.value)
    assert "leaf 1" in text and phone.public_key.hex() in text and inbox.inbox_id in text
    # the remaining installation alone is a complete tree at the later state
    check(members[:1], membership, {inbox.inbox_id: later}, expect_complete=True)
    # ...but not at the earlier one, where the phone was still an installation
    with pytest.raises(MembershipError, match=phone.public_key.hex()):
        check(members[:1], membership, {inbox.inbox_id: earlier}, expect_complete=True)


def test_identity_requirements_names_every_member_at_its_sequence_id() -> None:
    membership = Membership({"inbox-a": 0, "inbox-b": 17}, (b"\x01" * 32,))
    assert identity_requirements(membership) == {"inbox-a": 0, "inbox-b": 17}
