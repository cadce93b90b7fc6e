"""A message of a kept past epoch is read only if its sender still holds its leaf: a removed (or revoked)
installation, sending from the epoch before its removal, is never taken, and never for whoever took its leaf
(libxmtp's rule: the sender's credential must be the one now at that leaf)."""

from __future__ import annotations

import os

from pyxmtp.conversations.conversation import Conversation, Received, Skipped
from pyxmtp.mls.group import Group

from .test_conversation import NOW, Device, device, new_group, states_of, text_message


def trio() -> tuple[list[Device], list[Conversation]]:
    """alice (creator), bob and carol in one group."""
    people = [device(), device(), device()]
    alice = people[0]
    a = new_group(alice)
    bundles = [p.key_package() for p in people[1:]]
    staged = a.commit_membership(
        {p.inbox_id: 1 for p in people}, add=[b.key_package for b in bundles], rng=os.urandom, now=NOW
    )
    a.merge_own_commit()
    assert staged.welcome is not None
    states = states_of(*people)
    joined = [
        Conversation.join(staged.welcome, bundle, p.signer, p.inbox_id, states, now=NOW)
        for p, bundle in zip(people[1:], bundles, strict=True)
    ]
    return people, [a, *joined]


def leaf_of(conversation: Conversation, device: Device) -> int:
    [leaf] = [i.leaf_index for i in conversation.installations() if i.inbox_id == device.inbox_id]
    return leaf


def test_a_removed_member_whose_leaf_was_taken_cannot_speak_as_its_new_holder() -> None:
    (alice, bob, carol), (a, b, c) = trio()
    dave = device()
    stale = Conversation.from_bytes(b.to_bytes(), bob.inbox_id)  # bob's state before he is removed
    bob_leaf = leaf_of(a, bob)
    # one commit removes bob and adds dave, who takes bob's leaf
    staged = a.commit_membership(
        {alice.inbox_id: 1, carol.inbox_id: 1, dave.inbox_id: 1},
        add=[dave.key_package().key_package],
        remove=[bob_leaf],
        rng=os.urandom,
        now=NOW,
    )
    a.merge_own_commit()
    assert staged.message is not None
    states = states_of(alice, bob, carol, dave)
    c.process(staged.message, now=NOW, states_for=states)
    assert leaf_of(c, dave) == bob_leaf
    assert isinstance(c.group, Group) and c.group.member_in_epoch(c.epoch - 1, bob_leaf) is not None

    forged = text_message(stale, "speaking as dave", key="forged")
    result = c.process(forged, now=NOW, states_for=states)
    assert isinstance(result, Skipped) and "has left the group" in result.reason
    # a message alice sent in that same past epoch is still read (its sender holds its leaf)
    result = a.process(text_message(c, "carol at the new epoch"), now=NOW, states_for=states)
    assert isinstance(result, Received) and result.sender.inbox_id == carol.inbox_id


def test_a_removed_member_leaving_a_blank_leaf_is_skipped_not_an_error() -> None:
    (alice, bob, carol), (a, b, c) = trio()
    stale = Conversation.from_bytes(b.to_bytes(), bob.inbox_id)
    staged = a.commit_membership(
        {alice.inbox_id: 1, carol.inbox_id: 1}, remove=[leaf_of(a, bob)], rng=os.urandom, now=NOW
    )
    a.merge_own_commit()
    assert staged.message is not None
    states = states_of(alice, bob, carol)
    c.process(staged.message, now=NOW, states_for=states)
    result = c.process(text_message(stale, "still here?"), now=NOW, states_for=states)
    assert isinstance(result, Skipped)


def test_a_past_epoch_message_from_a_member_still_there_is_read() -> None:
    (alice, bob, carol), (a, b, c) = trio()
    late = text_message(b, "sent before the rename")  # bob, at the epoch before the commit below
    staged = a.commit_metadata({"group_name": "renamed"}, rng=os.urandom, now=NOW)
    a.merge_own_commit()
    assert staged.message is not None
    states = states_of(alice, bob, carol)
    c.process(staged.message, now=NOW, states_for=states)
    result = c.process(late, now=NOW, states_for=states)
    assert isinstance(result, Received) and result.sender.inbox_id == bob.inbox_id
    assert result.epoch == c.epoch - 1
