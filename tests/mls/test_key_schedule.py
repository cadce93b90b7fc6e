"""Key schedule (RFC 9420 section 8): epoch chaining, joiner path, exporter, external init, persistence."""

from __future__ import annotations

import random

import pytest

from pyxmtp.mls.codec import encode
from pyxmtp.mls.crypto import derive_secret, expand_with_label, get_suite
from pyxmtp.mls.errors import DecodeError, DecryptError, LocalMLSError
from pyxmtp.mls.key_schedule import (
    EpochSecrets,
    advance_epoch,
    epoch_secrets_from_joiner,
    external_init_receive,
    external_init_send,
    joiner_secret,
    mls_exporter,
    welcome_secret,
    zero_secret,
)
from pyxmtp.mls.messages.group_info import GroupContext
from pyxmtp.mls.tree.secret_tree import RatchetType

SUITE = get_suite(3)


def context(epoch: int) -> GroupContext:
    return GroupContext(1, 3, b"group", epoch, b"T" * 32, b"C" * 32, ())


def rng(seed: int = 1) -> random.Random:
    return random.Random(seed)


def test_advance_epoch_follows_the_rfc_diagram() -> None:
    init, commit, psk = b"i" * 32, b"c" * 32, b"p" * 32
    gc = encode(context(1))
    joiner = expand_with_label(SUITE, SUITE.extract(init, commit), "joiner", gc, 32)
    member = SUITE.extract(joiner, psk)
    epoch = expand_with_label(SUITE, member, "epoch", gc, 32)
    schedule = advance_epoch(SUITE, init, commit, context(1), psk)
    assert schedule.joiner_secret == joiner == joiner_secret(SUITE, init, commit, gc)
    assert schedule.welcome_secret == derive_secret(SUITE, member, "welcome")
    s = schedule.secrets
    assert s.sender_data_secret == derive_secret(SUITE, epoch, "sender data")
    assert s.init_secret == derive_secret(SUITE, epoch, "init")
    assert s.epoch_authenticator == derive_secret(SUITE, epoch, "authentication")
    assert len({s.sender_data_secret, s.encryption_secret, s.exporter_secret, s.membership_key}) == 4


def test_no_psk_means_the_zero_vector_and_the_joiner_path_agrees() -> None:
    schedule = advance_epoch(SUITE, zero_secret(SUITE), zero_secret(SUITE), context(0))
    assert schedule == advance_epoch(SUITE, bytes(32), bytes(32), encode(context(0)), bytes(32))
    joined = epoch_secrets_from_joiner(SUITE, schedule.joiner_secret, None, context(0))
    assert joined == schedule.secrets
    assert welcome_secret(SUITE, schedule.joiner_secret, None) == schedule.welcome_secret


def test_every_input_changes_the_epoch() -> None:
    base = advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(1)).secrets
    assert advance_epoch(SUITE, b"j" * 32, b"c" * 32, context(1)).secrets != base
    assert advance_epoch(SUITE, b"i" * 32, b"d" * 32, context(1)).secrets != base
    assert advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(2)).secrets != base
    assert advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(1), b"p" * 32).secrets != base


def test_chaining_uses_the_previous_init_secret() -> None:
    e1 = advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(1)).secrets
    e2 = advance_epoch(SUITE, e1.init_secret, zero_secret(SUITE), context(2)).secrets
    assert e2.init_secret != e1.init_secret


def test_exporter() -> None:
    s = advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(1)).secrets
    out = s.exporter(SUITE, "XMTP export", b"ctx", 42)
    assert len(out) == 42
    assert out == mls_exporter(SUITE, s.exporter_secret, b"XMTP export", b"ctx", 42)
    derived = derive_secret(SUITE, s.exporter_secret, "XMTP export")
    assert out == expand_with_label(SUITE, derived, "exported", SUITE.hash(b"ctx"), 42)
    assert s.exporter(SUITE, "other", b"ctx", 42) != out
    assert s.exporter(SUITE, "XMTP export", b"ctx2", 42) != out


def test_external_init_both_sides_agree() -> None:
    s = advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(1)).secrets
    kem_output, init_secret = external_init_send(SUITE, s.external_pub(SUITE), rng().randbytes)
    assert len(init_secret) == 32
    assert external_init_receive(SUITE, s.external_private_key(SUITE), kem_output) == init_secret
    other = advance_epoch(SUITE, b"x" * 32, b"c" * 32, context(1)).secrets
    assert external_init_receive(SUITE, other.external_private_key(SUITE), kem_output) != init_secret
    with pytest.raises(DecryptError):
        external_init_receive(SUITE, s.external_private_key(SUITE), kem_output[:-1])


def test_epoch_secrets_persistence_and_repr() -> None:
    s = advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(1)).secrets
    data = s.to_bytes()
    assert EpochSecrets.from_bytes(data) == s
    assert s.init_secret.hex() not in repr(s) and s.init_secret not in repr(s).encode()
    with pytest.raises(DecodeError):
        EpochSecrets.from_bytes(data[:-1])
    with pytest.raises(DecodeError):
        EpochSecrets.from_bytes(data + b"\x00")
    with pytest.raises(DecodeError, match="same"):
        EpochSecrets.from_bytes(b"\x01a" + data[33:])


def test_secret_tree_of_the_epoch() -> None:
    s = advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(1)).secrets
    t = s.secret_tree(SUITE, 4)
    assert t.n_leaves == 4
    g, key, _ = t.next_key(0, RatchetType.application)
    assert g == 0 and len(key) == 32


def test_wrong_secret_lengths_are_caller_errors() -> None:
    with pytest.raises(LocalMLSError):
        advance_epoch(SUITE, b"i" * 31, b"c" * 32, context(1))
    with pytest.raises(LocalMLSError):
        advance_epoch(SUITE, b"i" * 32, b"c" * 32, context(1), b"p")
    with pytest.raises(LocalMLSError):
        welcome_secret(SUITE, b"j" * 16, None)


@pytest.mark.parametrize("suite_id", [1, 2, 4, 5, 6, 7])
def test_other_suites_use_their_hash_length(suite_id: int) -> None:
    suite = get_suite(suite_id)
    z = zero_secret(suite)
    s = advance_epoch(suite, z, z, encode(context(0))).secrets
    assert len(s.init_secret) == suite.hash_len
    kem_output, init_secret = external_init_send(suite, s.external_pub(suite), rng(suite_id).randbytes)
    assert external_init_receive(suite, s.external_private_key(suite), kem_output) == init_secret
