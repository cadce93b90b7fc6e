"""Message protection (RFC 9420 sections 6.1-6.3): signatures, membership tags, PublicMessage and
PrivateMessage protect / unprotect, two-phase consumption and forward secrecy."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest

from pyxmtp.mls.codec import decode, encode, encode_varint
from pyxmtp.mls.constants import ContentType, WireFormat
from pyxmtp.mls.crypto import get_suite
from pyxmtp.mls.crypto.suites import ComposedCipherSuite
from pyxmtp.mls.errors import (
    DecodeError,
    DecryptError,
    EncodeError,
    InvalidSignature,
    LocalMLSError,
    MissingKeyError,
    ValidationError,
)
from pyxmtp.mls.framing.content import AuthenticatedContent, ContentBody, FramedContent, Sender
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, PublicMessage
from pyxmtp.mls.framing.protection import (
    InvalidMembershipTag,
    authenticate,
    content_tbs,
    membership_tag,
    no_padding,
    pad_to_multiple,
    protect_private,
    protect_public,
    random_padding,
    sign_content,
    unprotect_private,
    unprotect_public,
    verify_content,
)
from pyxmtp.mls.framing.sender_data import encrypt_sender_data, one_shot_aead, sender_data_aad
from pyxmtp.mls.messages.commit import Commit
from pyxmtp.mls.messages.group_info import GroupContext
from pyxmtp.mls.messages.proposals import Proposal, Remove
from pyxmtp.mls.tree.secret_tree import RatchetConfig, RatchetType, SecretTree, TooDistantInFutureError

SUITE = get_suite(3)
CONTEXT = GroupContext(1, 3, b"group-id", 9, b"T" * 32, b"C" * 32, ())
CONTEXT_BYTES = encode(CONTEXT)
ENCRYPTION_SECRET = b"e" * 32
SENDER_DATA_SECRET = b"s" * 32
MEMBERSHIP_KEY = b"m" * 32
KEY = SUITE.generate_signature_key(random.Random(1).randbytes)
OTHER_KEY = SUITE.generate_signature_key(random.Random(2).randbytes)
PUB = KEY.public_bytes()
N_LEAVES = 4
SENDER_LEAF = 2
SENDER = Sender.member(SENDER_LEAF)


def rng(seed: int = 0) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def trees() -> tuple[SecretTree, SecretTree]:
    return (
        SecretTree(SUITE, ENCRYPTION_SECRET, N_LEAVES),
        SecretTree(SUITE, ENCRYPTION_SECRET, N_LEAVES),
    )


def framed(body: ContentBody, sender: Sender = SENDER, ad: bytes = b"ad") -> FramedContent:
    return FramedContent(b"group-id", 9, sender, ad, body)


PROPOSAL = Proposal(Remove(1))
COMMIT = Commit((), None)
TAG = b"t" * 32


def signed(body: ContentBody, wire_format: WireFormat, sender: Sender = SENDER) -> AuthenticatedContent:
    tag = TAG if isinstance(body, Commit) else None
    return authenticate(SUITE, KEY, wire_format, framed(body, sender), CONTEXT, tag)


def send(
    body: ContentBody,
    sender_tree: SecretTree,
    seed: int = 0,
    padding: Callable[[int, Callable[[int], bytes]], int] = no_padding,
) -> bytes:
    ac = signed(body, WireFormat.private_message)
    message = protect_private(SUITE, ac, sender_tree, SENDER_DATA_SECRET, rng(seed), padding)
    return encode(MLSMessage(message))


def receive(data: bytes, receiver: SecretTree) -> AuthenticatedContent:
    message = decode(MLSMessage, data).body
    assert isinstance(message, PrivateMessage)
    opened = unprotect_private(SUITE, message, receiver, SENDER_DATA_SECRET)
    verify_content(SUITE, PUB, opened.content, CONTEXT_BYTES)
    opened.commit()
    return opened.content


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# --- vectors ---------------------------------------------------------------------------------------------------


# --- signatures ------------------------------------------------------------------------------------------------
def test_signature_covers_the_tbs_and_context() -> None:
    content = framed(b"hello")
    sig = sign_content(SUITE, KEY, WireFormat.public_message, content, CONTEXT)
    ac = signed(b"hello", WireFormat.public_message)
    assert ac.auth.signature == sig  # Ed25519 is deterministic
    verify_content(SUITE, PUB, ac, CONTEXT)
    verify_content(SUITE, PUB, ac, CONTEXT_BYTES)
    with pytest.raises(InvalidSignature):
        verify_content(SUITE, OTHER_KEY.public_bytes(), ac, CONTEXT)
    with pytest.raises(InvalidSignature):
        verify_content(SUITE, PUB, ac, dataclasses.replace(CONTEXT, epoch=10))
    as_private = AuthenticatedContent(WireFormat.private_message, ac.content, ac.auth)
    with pytest.raises(InvalidSignature):  # the wire format is signed
        verify_content(SUITE, PUB, as_private, CONTEXT)


def test_tbs_includes_context_only_for_member_and_new_member_commit() -> None:
    for sender in (Sender.member(1), Sender.new_member_commit()):
        assert content_tbs(WireFormat.public_message, framed(b"x", sender), CONTEXT).endswith(CONTEXT_BYTES)
        with pytest.raises(LocalMLSError):
            content_tbs(WireFormat.public_message, framed(b"x", sender), None)
    for sender in (Sender.external(0), Sender.new_member_proposal()):
        tbs = content_tbs(WireFormat.public_message, framed(PROPOSAL, sender), CONTEXT)
        assert tbs == content_tbs(WireFormat.public_message, framed(PROPOSAL, sender), None)
        assert not tbs.endswith(CONTEXT_BYTES)


def test_fast_tbs_equals_the_generic_encoding() -> None:
    from pyxmtp.mls.framing.content import framed_content_tbs

    for body in (b"", b"x" * 100, PROPOSAL, COMMIT):
        for sender in (Sender.member(0), Sender.member(70000), Sender.external(3)):
            c = framed(body, sender, ad=b"a" * 70)
            assert content_tbs(WireFormat.private_message, c, CONTEXT) == framed_content_tbs(
                WireFormat.private_message, c, CONTEXT
            )
    with pytest.raises(EncodeError):
        content_tbs(WireFormat.public_message, framed(b"x", Sender.member(1 << 32)), CONTEXT)


def test_commit_needs_a_confirmation_tag() -> None:
    with pytest.raises(EncodeError):
        authenticate(SUITE, KEY, WireFormat.public_message, framed(COMMIT), CONTEXT)
    with pytest.raises(EncodeError):
        authenticate(SUITE, KEY, WireFormat.public_message, framed(b"app"), CONTEXT, TAG)


# --- PublicMessage ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [PROPOSAL, COMMIT, b"application"])
def test_public_message_round_trip(body: ContentBody) -> None:
    ac = signed(body, WireFormat.public_message)
    message = protect_public(SUITE, ac, CONTEXT_BYTES, MEMBERSHIP_KEY)
    assert message.membership_tag == membership_tag(SUITE, MEMBERSHIP_KEY, ac, CONTEXT)
    received = decode(MLSMessage, encode(MLSMessage(message))).body
    assert isinstance(received, PublicMessage)
    got = unprotect_public(SUITE, received, CONTEXT, MEMBERSHIP_KEY)
    assert got == ac
    verify_content(SUITE, PUB, got, CONTEXT)


def test_membership_tag_is_checked() -> None:
    message = protect_public(SUITE, signed(PROPOSAL, WireFormat.public_message), CONTEXT, MEMBERSHIP_KEY)
    with pytest.raises(InvalidMembershipTag):
        unprotect_public(SUITE, message, CONTEXT, b"n" * 32)
    with pytest.raises(InvalidMembershipTag):
        unprotect_public(SUITE, message, dataclasses.replace(CONTEXT, tree_hash=b"U" * 32), MEMBERSHIP_KEY)
    assert message.membership_tag is not None
    bad = dataclasses.replace(message, membership_tag=flip(message.membership_tag, 0))
    with pytest.raises(InvalidMembershipTag):
        unprotect_public(SUITE, bad, CONTEXT, MEMBERSHIP_KEY)
    changed = dataclasses.replace(
        message, content=dataclasses.replace(message.content, authenticated_data=b"x")
    )
    with pytest.raises(InvalidMembershipTag):
        unprotect_public(SUITE, changed, CONTEXT, MEMBERSHIP_KEY)
    with pytest.raises(LocalMLSError):
        unprotect_public(SUITE, message, CONTEXT, None)


def test_non_member_public_messages_have_no_membership_tag() -> None:
    ac = authenticate(SUITE, KEY, WireFormat.public_message, framed(PROPOSAL, Sender.external(0)), None)
    message = protect_public(SUITE, ac, None, None)
    assert message.membership_tag is None
    assert unprotect_public(SUITE, message, None, None) == ac
    verify_content(SUITE, PUB, ac, None)


def test_public_protect_argument_checks() -> None:
    with pytest.raises(LocalMLSError):
        protect_public(SUITE, signed(PROPOSAL, WireFormat.private_message), CONTEXT, MEMBERSHIP_KEY)
    with pytest.raises(LocalMLSError):
        protect_public(SUITE, signed(PROPOSAL, WireFormat.public_message), CONTEXT, None)


# --- PrivateMessage --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [PROPOSAL, COMMIT, b"application data", b""])
def test_private_message_round_trip(body: ContentBody) -> None:
    sender, receiver = trees()
    data = send(body, sender)
    got = receive(data, receiver)
    assert got == signed(body, WireFormat.private_message)
    assert got.content.sender == Sender.member(SENDER_LEAF)


def test_content_types_use_their_own_ratchets() -> None:
    sender, receiver = trees()
    send(b"app", sender)
    send(PROPOSAL, sender)
    assert sender.next_generation(SENDER_LEAF, RatchetType.application) == 1
    assert sender.next_generation(SENDER_LEAF, RatchetType.handshake) == 1
    message = decode(MLSMessage, send(b"app2", sender)).body
    assert isinstance(message, PrivateMessage)
    opened = unprotect_private(SUITE, message, receiver, SENDER_DATA_SECRET)
    assert (opened.leaf_index, opened.generation) == (SENDER_LEAF, 1)


def test_padding_policies() -> None:
    sender, receiver = trees()
    plain = decode(MLSMessage, send(b"x" * 10, sender)).body
    padded = decode(MLSMessage, send(b"x" * 10, sender, padding=pad_to_multiple(64))).body
    assert isinstance(plain, PrivateMessage) and isinstance(padded, PrivateMessage)
    assert len(padded.ciphertext) % 64 == 0 and len(padded.ciphertext) > len(plain.ciphertext)
    receive(encode(MLSMessage(plain)), receiver)
    opened = unprotect_private(SUITE, padded, receiver, SENDER_DATA_SECRET)
    assert opened.padding == len(padded.ciphertext) - len(plain.ciphertext)
    policy = random_padding(100)
    draws = [policy(0, rng(i)) for i in range(50)]
    assert all(0 <= d <= 100 for d in draws) and len(set(draws)) > 10
    assert random_padding(0)(5, rng()) == 0
    with pytest.raises(LocalMLSError):
        pad_to_multiple(0)


def test_reuse_guard_comes_from_rng_and_changes_the_nonce() -> None:
    s1, _ = trees()
    s2, _ = trees()
    a = decode(MLSMessage, send(b"same", s1, seed=1)).body
    b = decode(MLSMessage, send(b"same", s2, seed=2)).body
    assert isinstance(a, PrivateMessage) and isinstance(b, PrivateMessage)
    assert a.ciphertext != b.ciphertext  # same key, different guard
    s3, _ = trees()
    c = decode(MLSMessage, send(b"same", s3, seed=1)).body
    assert c == a  # deterministic given the rng


@pytest.mark.parametrize(
    "where", ["ciphertext", "encrypted_sender_data", "authenticated_data", "epoch", "content_type"]
)
def test_tampering_is_rejected_and_leaves_the_tree_unchanged(where: str) -> None:
    sender, receiver = trees()
    receive(send(b"first", sender), receiver)  # the leaf is derived, generation 0 used
    message = decode(MLSMessage, send(b"second", sender)).body
    assert isinstance(message, PrivateMessage)
    if where == "ciphertext":
        bad = dataclasses.replace(message, ciphertext=flip(message.ciphertext, len(message.ciphertext) // 2))
    elif where == "encrypted_sender_data":
        bad = dataclasses.replace(message, encrypted_sender_data=flip(message.encrypted_sender_data, 0))
    elif where == "authenticated_data":
        bad = dataclasses.replace(message, authenticated_data=b"other")
    elif where == "epoch":
        bad = dataclasses.replace(message, epoch=10)
    else:
        bad = dataclasses.replace(message, content_type=ContentType.proposal)
    before = receiver.to_bytes()
    with pytest.raises(DecryptError):
        unprotect_private(SUITE, bad, receiver, SENDER_DATA_SECRET)
    assert receiver.to_bytes() == before
    assert receive(encode(MLSMessage(message)), receiver).content.body == b"second"


def test_bit_flip_for_an_underived_leaf_leaves_the_tree_unchanged() -> None:
    sender, receiver = trees()
    message = decode(MLSMessage, send(b"hello", sender)).body
    assert isinstance(message, PrivateMessage)
    before = receiver.to_bytes()
    bad = dataclasses.replace(message, ciphertext=flip(message.ciphertext, 3))
    with pytest.raises(DecryptError):
        unprotect_private(SUITE, bad, receiver, SENDER_DATA_SECRET)
    assert receiver.to_bytes() == before and receiver.stored_nodes == (3,)


def test_bad_signature_then_no_commit_keeps_the_key() -> None:
    sender, receiver = trees()
    message = decode(MLSMessage, send(b"hello", sender)).body
    assert isinstance(message, PrivateMessage)
    before = receiver.to_bytes()
    opened = unprotect_private(SUITE, message, receiver, SENDER_DATA_SECRET)
    with pytest.raises(InvalidSignature):
        verify_content(SUITE, OTHER_KEY.public_bytes(), opened.content, CONTEXT)
    assert receiver.to_bytes() == before  # not committed
    receive(encode(MLSMessage(message)), receiver)


def test_replay_after_commit_is_missing_key() -> None:
    sender, receiver = trees()
    data = send(b"once", sender)
    receive(data, receiver)
    with pytest.raises(MissingKeyError):
        receive(data, receiver)


def test_out_of_order_and_forward_distance() -> None:
    sender = SecretTree(SUITE, ENCRYPTION_SECRET, N_LEAVES)
    receiver = SecretTree(SUITE, ENCRYPTION_SECRET, N_LEAVES, RatchetConfig(3, 5))
    messages = [send(f"m{i}".encode(), sender) for i in range(11)]
    assert receive(messages[3], receiver).content.body == b"m3"
    assert receive(messages[1], receiver).content.body == b"m1"
    with pytest.raises(MissingKeyError):  # window [1, 4): 0 is too old
        receive(messages[0], receiver)
    with pytest.raises(TooDistantInFutureError):  # 10 - 4 > 5
        receive(messages[10], receiver)
    assert receive(messages[8], receiver).content.body == b"m8"  # 8 - 4 <= 5
    assert receive(messages[10], receiver).content.body == b"m10"  # now 10 - 9 <= 5


def test_sender_leaf_outside_the_tree() -> None:
    big = SecretTree(SUITE, ENCRYPTION_SECRET, 8)
    ac = authenticate(SUITE, KEY, WireFormat.private_message, framed(b"x", Sender.member(6)), CONTEXT)
    message = protect_private(SUITE, ac, big, SENDER_DATA_SECRET, rng())
    with pytest.raises(ValidationError):
        unprotect_private(SUITE, message, SecretTree(SUITE, ENCRYPTION_SECRET, 4), SENDER_DATA_SECRET)


def test_non_zero_padding_and_malformed_plaintext_are_decode_errors() -> None:
    def craft(plaintext: bytes) -> PrivateMessage:
        sender, _ = trees()
        generation, key, nonce = sender.next_key(SENDER_LEAF, RatchetType.application)
        guard = b"\x00" * 4
        aad_head = sender_data_aad(b"group-id", 9, ContentType.application)
        ciphertext = one_shot_aead(SUITE).seal(key, nonce, aad_head + encode_varint(0), plaintext)
        esd = encrypt_sender_data(
            SUITE, SENDER_DATA_SECRET, SENDER_LEAF, generation, guard, aad_head, ciphertext
        )
        return PrivateMessage(b"group-id", 9, ContentType.application, b"", esd, ciphertext)

    good = encode_varint(2) + b"hi" + encode_varint(3) + b"sig"
    _, receiver = trees()
    opened = unprotect_private(SUITE, craft(good + bytes(5)), receiver, SENDER_DATA_SECRET)
    assert opened.padding == 5 and opened.content.content.body == b"hi"
    for bad in (good + b"\x00\x01", good[:-1], b"\xc0", encode_varint(70)[:1], b"\x40\x02hi"):
        _, receiver = trees()
        before = receiver.to_bytes()
        with pytest.raises(DecodeError):
            unprotect_private(SUITE, craft(bad), receiver, SENDER_DATA_SECRET)
        assert receiver.to_bytes() == before


def test_private_protect_argument_checks() -> None:
    sender, _ = trees()
    with pytest.raises(LocalMLSError):
        protect_private(SUITE, signed(b"x", WireFormat.public_message), sender, SENDER_DATA_SECRET, rng())
    external = authenticate(
        SUITE, KEY, WireFormat.private_message, framed(PROPOSAL, Sender.external(0)), None
    )
    with pytest.raises(LocalMLSError):
        protect_private(SUITE, external, sender, SENDER_DATA_SECRET, rng())
    with pytest.raises(LocalMLSError):
        protect_private(
            SUITE, signed(b"x", WireFormat.private_message), sender, SENDER_DATA_SECRET, lambda n: b""
        )


@pytest.mark.parametrize("suite_id", [1, 2, 4, 5, 6, 7])
def test_every_suite_round_trips(suite_id: int) -> None:
    suite = get_suite(suite_id)
    key = suite.generate_signature_key(rng(suite_id))
    context = encode(dataclasses.replace(CONTEXT, cipher_suite=suite_id))
    nh = suite.hash_len
    sender, receiver = (SecretTree(suite, b"e" * nh, 2) for _ in range(2))
    for body in (b"x" * 100, PROPOSAL):
        ac = authenticate(suite, key, WireFormat.private_message, framed(body, Sender.member(1)), context)
        message = protect_private(suite, ac, sender, b"s" * nh, rng(), pad_to_multiple(16))
        opened = unprotect_private(suite, decode(PrivateMessage, encode(message)), receiver, b"s" * nh)
        verify_content(suite, key.public_bytes(), opened.content, context)
        opened.commit()
        assert opened.content == ac


# --- forward secrecy -------------------------------------------------------------------------------------------
def test_used_message_keys_are_deleted_and_not_cached() -> None:
    assert isinstance(SUITE, ComposedCipherSuite)
    cache = SUITE.aead.cached_key_object
    cache_before = cache.cache_info().currsize  # type: ignore[attr-defined]
    sender, receiver = trees()
    key_receiver = SecretTree(SUITE, ENCRYPTION_SECRET, N_LEAVES)
    key, nonce = key_receiver.consume(SENDER_LEAF, RatchetType.application, 0)
    receive(send(b"secret", sender), receiver)
    assert key not in receiver.to_bytes() and key not in sender.to_bytes()
    assert nonce not in receiver.to_bytes()
    assert cache.cache_info().currsize == cache_before  # type: ignore[attr-defined]
