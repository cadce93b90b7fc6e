"""The bounds on identity updates and logs, and InboxLog admitting updates under them (unit level; the attacks
over the wire are in tests/node/test_identity_limits.py and tests/client/test_identity_limits.py)."""

from __future__ import annotations

import pytest

from pyxmtp.identity.actions import AddAssociation, RevokeAssociation
from pyxmtp.identity.associations import apply_update, get_state
from pyxmtp.identity.errors import AssociationError, LimitExceeded
from pyxmtp.identity.inbox import generate_inbox_id
from pyxmtp.identity.inbox_log import InboxLog
from pyxmtp.identity.limits import (
    MAX_ACTIONS_PER_UPDATE,
    MAX_IDENTITY_UPDATE_BYTES,
    MAX_INBOX_LOG_BYTES,
    MAX_INBOX_LOG_ENTRIES,
    MAX_INSTALLATIONS_PER_INBOX,
    MAX_SIGNATURES_PER_UPDATE,
    check_log_capacity,
    check_membership_bounds,
    check_update_shape,
)
from pyxmtp.identity.members import MemberIdentifier
from pyxmtp.identity.state import StateDraft
from pyxmtp.proto.identity.associations import association_pb2
from tests.identity.factories import TS, installation, make_update, register, wallet

A = wallet(1)
INBOX_A = generate_inbox_id(A.address, 0)


def at(seconds: int) -> int:
    return TS + seconds * 1_000_000_000


def add_installations(first: int, count: int, t: int) -> association_pb2.IdentityUpdate:
    keys = [installation(n) for n in range(first, first + count)]
    return make_update(INBOX_A, [(AddAssociation(k.identifier), [A, k]) for k in keys], at(t))


def revoke_installations(first: int, count: int, t: int) -> association_pb2.IdentityUpdate:
    keys = [installation(n) for n in range(first, first + count)]
    return make_update(INBOX_A, [(RevokeAssociation(k.identifier), [A]) for k in keys], at(t))


def test_the_bounds_honest_libxmtp_updates_stay_under() -> None:
    assert (MAX_INBOX_LOG_ENTRIES, MAX_INSTALLATIONS_PER_INBOX) == (256, 10)  # node-go's and libxmtp's
    # a registration, and revoking nine other installations at once, as libxmtp does
    check_update_shape(register(A, installation(1)))
    check_update_shape(revoke_installations(2, 9, 1))


def test_update_shape() -> None:
    empty = association_pb2.IdentityUpdate(inbox_id=INBOX_A)
    with pytest.raises(LimitExceeded) as err:
        check_update_shape(empty)
    assert err.value.rule == "no_actions" and err.value.in_update
    check_update_shape(empty, allow_empty=True)
    with pytest.raises(LimitExceeded, match="MAX_IDENTITY_UPDATE_BYTES") as err:
        check_update_shape(empty, MAX_IDENTITY_UPDATE_BYTES + 1, allow_empty=True)
    assert err.value.rule == "update_too_large"
    many = association_pb2.IdentityUpdate(
        inbox_id=INBOX_A, actions=[association_pb2.IdentityAction()] * (MAX_ACTIONS_PER_UPDATE + 1)
    )
    with pytest.raises(LimitExceeded, match="MAX_ACTIONS_PER_UPDATE") as err:
        check_update_shape(many)
    assert err.value.rule == "too_many_actions"
    # one signature serving many actions counts once
    check_update_shape(revoke_installations(1, MAX_SIGNATURES_PER_UPDATE + 1, 1))
    with pytest.raises(LimitExceeded, match="MAX_SIGNATURES_PER_UPDATE") as err:
        check_update_shape(add_installations(1, MAX_SIGNATURES_PER_UPDATE, 1))  # 32 keys and the wallet
    assert err.value.rule == "too_many_signatures"


def test_log_capacity() -> None:
    check_log_capacity(0)
    check_log_capacity(MAX_INBOX_LOG_ENTRIES - 1, MAX_INBOX_LOG_BYTES - 10, 10)
    for entries, size in [(MAX_INBOX_LOG_ENTRIES, 0), (1, MAX_INBOX_LOG_BYTES - 9)]:
        with pytest.raises(LimitExceeded) as err:
            check_log_capacity(entries, size, 10)
        assert err.value.rule == "inbox_log_full" and not err.value.in_update


def test_installation_bound_refuses_only_an_update_that_raises_the_count_past_it() -> None:
    created = get_state([register(A, installation(0))])
    full = apply_update(created, add_installations(1, MAX_INSTALLATIONS_PER_INBOX - 1, 1))
    check_membership_bounds(created, full)
    over = apply_update(full, add_installations(100, 1, 2))
    with pytest.raises(LimitExceeded, match="MAX_INSTALLATIONS_PER_INBOX") as err:
        check_membership_bounds(full, over)
    assert err.value.rule == "too_many_installations"
    # from above the bound (a log older than it), fewer is allowed, and so is as many
    fewer = apply_update(over, revoke_installations(100, 1, 3))
    check_membership_bounds(over, fewer)
    check_membership_bounds(over, over)


def test_inbox_log_append_checks_the_bounds_and_leaves_itself_unchanged() -> None:
    log = InboxLog().append(register(A, installation(0)))
    assert (log.entries, log.size) == (1, register(A, installation(0)).ByteSize())
    too_many = add_installations(1, MAX_INSTALLATIONS_PER_INBOX, 1)
    with pytest.raises(LimitExceeded):
        log.append(too_many)
    assert log.entries == 1 and log.state is not None and len(log.state.installations()) == 1
    # an empty update: refused, or (reading an older log) a no-op entry
    empty = association_pb2.IdentityUpdate(inbox_id=INBOX_A, client_timestamp_ns=at(2))
    with pytest.raises(LimitExceeded):
        log.append(empty)
    read = log.append(empty, allow_empty=True)
    assert read.entries == 2 and read.state == log.state
    with pytest.raises(AssociationError, match="not_created"):
        InboxLog().append(empty, allow_empty=True)


def test_inbox_log_refuses_a_reencoded_replay() -> None:
    b = wallet(2)
    add_b = make_update(INBOX_A, [(AddAssociation(b.identifier), [A, b])], at(1))
    log = (
        InboxLog()
        .append(register(A, installation(0)))
        .append(add_b)
        .append(make_update(INBOX_A, [(RevokeAssociation(b.identifier), [A])], at(2)))
    )
    again = association_pb2.IdentityUpdate()
    again.CopyFrom(add_b)
    for sig in (again.actions[0].add.existing_member_signature, again.actions[0].add.new_member_signature):
        sig.erc_191.bytes = sig.erc_191.bytes[:64] + bytes([sig.erc_191.bytes[64] - 27])
    apply_update(log.state, again)  # libxmtp's rule lets it through...
    with pytest.raises(AssociationError, match="replay"):  # ...the log does not
        log.append(again)


def test_replay_of_a_stored_log_applies_the_rules_but_not_the_bounds() -> None:
    """A log stored before the bounds existed stays usable: its owner can revoke back under them."""
    first = register(A, installation(0))
    crowd = add_installations(1, 2 * MAX_INSTALLATIONS_PER_INBOX, 1)
    empty = association_pb2.IdentityUpdate(inbox_id=INBOX_A, client_timestamp_ns=at(2))
    stored = [(u, u.ByteSize()) for u in (first, empty, crowd)]
    log = InboxLog.replay(stored)
    assert log.entries == 3 and log.size == sum(n for _, n in stored)
    assert log.state is not None and len(log.state.installations()) == 2 * MAX_INSTALLATIONS_PER_INBOX + 1
    cleanup = log.append(revoke_installations(1, 2 * MAX_INSTALLATIONS_PER_INBOX, 3))
    assert cleanup.state is not None and len(cleanup.state.installations()) == 1
    with pytest.raises(LimitExceeded):
        InboxLog().append(first).append(empty)


def test_a_frozen_draft_cannot_change_the_state_it_made() -> None:
    owner = MemberIdentifier.ethereum(A.address)
    draft = StateDraft.new(INBOX_A, owner, None)
    state = draft.freeze([b"sig"])
    with pytest.raises(RuntimeError, match="frozen"):
        draft.remove([owner])
    assert owner in state.members and state.has_seen(b"sig")
    edited = state.edit()
    edited.remove([owner])
    assert owner in state.members and not edited.freeze([]).members
