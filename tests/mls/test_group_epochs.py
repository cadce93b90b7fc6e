"""Past epochs, out-of-order delivery, forward secrecy in the serialized state, and the lifecycle table."""

from __future__ import annotations

import itertools

import pytest

from pyxmtp.mls.errors import MissingKeyError, StateError, WrongEpochError
from pyxmtp.mls.group import ApplicationMessage, Group, GroupConfig, GroupStatus
from pyxmtp.mls.group.errors import OwnMessageError
from pyxmtp.mls.group.transitions import TRANSITIONS, GroupInput, next_status
from pyxmtp.mls.messages.proposals import Proposal, ReInit
from pyxmtp.mls.tree.secret_tree import RatchetType, SecretTree
from tests.mls.helpers import InMemoryGroup

NOW = 1_700_000_000


def two(seed: int = 0, **config: object) -> InMemoryGroup:
    net = InMemoryGroup(seed=seed, config=GroupConfig(**config))  # type: ignore[arg-type]
    net.create("a")
    net.add("a", "b")
    return net


@pytest.mark.parametrize("keep", [0, 1, 3])
def test_messages_of_past_epochs_decrypt_within_the_window(keep: int) -> None:
    net = two(max_past_epochs=keep)
    late = []
    for _ in range(keep + 1):
        late.append((net["a"].epoch, net["a"].create_message(b"late %d" % net["a"].epoch, rng=net.rng)))
        net.update("a")
    b = net["b"]
    assert len(b.past_epochs) == keep
    (_, too_old), *readable = late
    assert len(readable) == keep
    for epoch, data in readable:
        event = b.process(data, now=NOW)
        assert (
            isinstance(event, ApplicationMessage)
            and event.epoch == epoch
            and event.data == b"late %d" % epoch
        )
    before = b.to_bytes()
    with pytest.raises(WrongEpochError):
        b.process(too_old, now=NOW)
    assert b.to_bytes() == before


def test_only_application_messages_of_past_epochs_are_accepted() -> None:
    net = two(seed=1)
    proposal = net["a"].propose_remove(1, rng=net.rng, now=NOW)
    net["a"].state.proposals.clear()
    net.update("b")
    with pytest.raises(WrongEpochError):
        net["b"].process(proposal, now=NOW)


def test_future_epoch_is_rejected() -> None:
    net = two(seed=2)
    staged = net["a"].commit(rng=net.rng, now=NOW, force_path=True)
    net["a"].merge_pending_commit()
    message = net["a"].create_message(b"from the future", rng=net.rng)
    with pytest.raises(WrongEpochError):
        net["b"].process(message, now=NOW)
    assert staged.message is not None
    net.deliver("a", staged.message)
    assert isinstance(net["b"].process(message, now=NOW), ApplicationMessage)


def test_out_of_order_within_the_tolerance_and_replay() -> None:
    net = two(seed=3, out_of_order_tolerance=2)
    messages = [net["a"].create_message(b"%d" % i, rng=net.rng) for i in range(6)]
    b = net["b"]
    for i in (5, 4):  # after 5 the head is 6: generations 4 and 5 are within 2 of it
        event = b.process(messages[i], now=NOW)
        assert isinstance(event, ApplicationMessage) and event.data == b"%d" % i and event.generation == i
    with pytest.raises(MissingKeyError):
        b.process(messages[3], now=NOW)  # outside the window: deleted
    before = b.to_bytes()
    with pytest.raises(MissingKeyError):
        b.process(messages[5], now=NOW)  # replay: the key was used
    assert b.to_bytes() == before


def _secret_tree_copy(group: Group) -> SecretTree:
    return SecretTree.from_bytes(group.state.current.secret_tree.to_bytes())


def test_a_used_message_key_is_gone_from_the_serialized_state() -> None:
    net = two(seed=4)
    b = net["b"]
    messages = [net["a"].create_message(b"m%d" % i, rng=net.rng) for i in range(4)]
    keys = [_secret_tree_copy(b).stage(0, RatchetType.application, g).key for g in range(4)]
    b.process(messages[3], now=NOW)
    state = b.to_bytes()
    assert keys[3] not in state  # used
    assert keys[1] in state  # skipped, kept for out-of-order delivery
    b.process(messages[1], now=NOW)
    assert keys[1] not in b.to_bytes()


def test_secrets_of_epochs_beyond_the_window_are_gone() -> None:
    net = two(seed=5, max_past_epochs=2)
    b = net["b"]
    old = b.state.current
    old_secrets = [
        old.secrets.sender_data_secret,
        old.secrets.exporter_secret,
        old.secrets.init_secret,
        old.secrets.membership_key,
        old.secrets.resumption_psk,
        *old.secret_tree._nodes.values(),  # the secret tree's live node secrets
    ]
    net.update("a")
    assert old.secrets.sender_data_secret in b.to_bytes()  # kept for late application messages
    assert old.secrets.init_secret not in b.to_bytes()  # never needed again
    net.update("a")
    net.update("a")
    state = b.to_bytes()
    assert b.past_epochs == (old.number + 1, old.number + 2)
    for secret in old_secrets:
        assert secret not in state


def test_the_transition_table() -> None:
    for status, event in itertools.product(GroupStatus, GroupInput):
        allowed = TRANSITIONS[status].get(event)
        if allowed is None:
            with pytest.raises(StateError):
                next_status(status, event)
        else:
            assert next_status(status, event) is allowed


def test_a_removed_member_is_inactive_but_reads_late_messages() -> None:
    net = two(seed=6)
    late = net["a"].create_message(b"before removal", rng=net.rng)
    net.remove("a", "b")
    b = net["b"]
    assert b.status is GroupStatus.INACTIVE
    with pytest.raises(StateError):
        b.create_message(b"x", rng=net.rng)
    with pytest.raises(StateError):
        b.commit(rng=net.rng, now=NOW)
    with pytest.raises(StateError):
        b.export_secret("x", b"", 16)
    event = b.process(late, now=NOW)
    assert isinstance(event, ApplicationMessage) and event.data == b"before removal"
    restored = Group.from_bytes(b.to_bytes())
    assert restored.status is GroupStatus.INACTIVE
    with pytest.raises(WrongEpochError):
        restored.process(net["a"].create_message(b"after", rng=net.rng), now=NOW)


def test_our_own_private_message_coming_back() -> None:
    net = two(seed=7)
    data = net["a"].create_message(b"mine", rng=net.rng)
    before = net["a"].to_bytes()
    with pytest.raises(OwnMessageError):
        net["a"].process(data, now=NOW)
    assert net["a"].to_bytes() == before
    assert isinstance(net["b"].process(data, now=NOW), ApplicationMessage)


def test_a_reinit_commit_ends_the_group() -> None:
    net = two(seed=8)
    staged = net.commit("a", proposals=[Proposal(ReInit(b"next group", 1, 3, ()))])
    assert staged.reinit is not None and not staged.has_path
    for name in ("a", "b"):
        assert net.members[name].status is GroupStatus.INACTIVE
        with pytest.raises(StateError):
            net.members[name].create_message(b"x", rng=net.rng)
