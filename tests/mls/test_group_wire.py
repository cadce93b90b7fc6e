"""Wire-format policy, and tampered messages: a flipped bit in a PrivateMessage, a PublicMessage or a Welcome
is rejected with a typed error and the group state is unchanged."""

from __future__ import annotations

import pytest

from pyxmtp.mls.codec import encode
from pyxmtp.mls.constants import WireFormat
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.framing.content import FramedContent, FramedContentAuthData, Sender
from pyxmtp.mls.framing.messages import MLSMessage, PublicMessage
from pyxmtp.mls.framing.protection import authenticate, membership_tag
from pyxmtp.mls.group import Group, GroupConfig, WireFormatPolicy
from pyxmtp.mls.group.errors import WireFormatError, WrongGroupError
from tests.mls.helpers import InMemoryGroup, SeededRandom

NOW = 1_700_000_000


def pair(policy: WireFormatPolicy, seed: int = 0) -> InMemoryGroup:
    net = InMemoryGroup(seed=seed, config=GroupConfig(wire_format_policy=policy))
    net.create("a")
    net.add("a", "b")
    return net


def wire_format_of(data: bytes) -> int:
    return int.from_bytes(data[2:4], "big")


@pytest.mark.parametrize(
    ("sender", "receiver", "accepted"),
    [
        (WireFormatPolicy.PURE_CIPHERTEXT, WireFormatPolicy.PURE_CIPHERTEXT, True),
        (WireFormatPolicy.PURE_CIPHERTEXT, WireFormatPolicy.PURE_PLAINTEXT, False),
        (WireFormatPolicy.PURE_PLAINTEXT, WireFormatPolicy.PURE_CIPHERTEXT, False),
        (WireFormatPolicy.PURE_PLAINTEXT, WireFormatPolicy.MIXED_CIPHERTEXT, True),
        (WireFormatPolicy.MIXED_CIPHERTEXT, WireFormatPolicy.MIXED_PLAINTEXT, True),
        (WireFormatPolicy.MIXED_PLAINTEXT, WireFormatPolicy.PURE_PLAINTEXT, True),
    ],
)
def test_handshake_wire_format_policy(
    sender: WireFormatPolicy, receiver: WireFormatPolicy, accepted: bool
) -> None:
    net = pair(WireFormatPolicy.MIXED_CIPHERTEXT)
    net["a"].state.config = GroupConfig(wire_format_policy=sender)
    net["b"].state.config = GroupConfig(wire_format_policy=receiver)
    proposal = net["a"].propose_update(rng=net.rng, now=NOW)
    commit = net["a"].commit(rng=net.rng, now=NOW).message
    assert commit is not None
    expected = (
        WireFormat.private_message
        if sender.outgoing is WireFormat.private_message
        else WireFormat.public_message
    )
    assert wire_format_of(proposal) == wire_format_of(commit) == expected
    b = net["b"]
    before = b.to_bytes()
    if accepted:
        b.process(proposal, now=NOW)
        b.merge_staged_commit(b.process(commit, now=NOW))  # type: ignore[arg-type]
        net["a"].merge_pending_commit()
        net.check_agreement()
    else:
        for data in (proposal, commit):
            with pytest.raises(WireFormatError):
                b.process(data, now=NOW)
        assert b.to_bytes() == before


@pytest.mark.parametrize("policy", list(WireFormatPolicy))
def test_application_messages_are_always_private(policy: WireFormatPolicy) -> None:
    net = pair(policy)
    data = net["a"].create_message(b"x", rng=net.rng)
    assert wire_format_of(data) == WireFormat.private_message
    state = net["a"].state
    epoch = state.current
    framed = FramedContent(epoch.context.group_id, epoch.number, Sender.member(0), b"", b"in the clear")
    content = authenticate(state.suite, state.signer, WireFormat.public_message, framed, epoch.context_bytes)
    tag = membership_tag(state.suite, epoch.secrets.membership_key, content, epoch.context_bytes)
    public = encode(MLSMessage(PublicMessage(framed, FramedContentAuthData(content.auth.signature), tag)))
    with pytest.raises(WireFormatError):
        net["b"].process(public, now=NOW)


def test_other_wire_formats_and_other_groups_are_refused() -> None:
    net = pair(WireFormatPolicy.PURE_CIPHERTEXT)
    with pytest.raises(WireFormatError):
        net["b"].process(net["a"].group_info(), now=NOW)
    other = InMemoryGroup(seed=9)
    other.create("x")
    other.add("x", "y")
    with pytest.raises(WrongGroupError):
        net["b"].process(other["x"].create_message(b"hi", rng=other.rng), now=NOW)


def flipped(data: bytes, positions: range | list[int]) -> list[bytes]:
    out = []
    for i in positions:
        b = bytearray(data)
        b[i // 8] ^= 1 << (i % 8)
        out.append(bytes(b))
    return out


def assert_all_rejected(group: Group, variants: list[bytes]) -> None:
    before = group.to_bytes()
    for data in variants:
        with pytest.raises(MLSError):
            group.process(data, now=NOW)
        assert group.to_bytes() == before


def test_every_bit_flip_of_a_private_application_message() -> None:
    net = pair(WireFormatPolicy.PURE_CIPHERTEXT, seed=1)
    data = net["a"].create_message(b"tamper with me", rng=net.rng, authenticated_data=b"ad")
    assert_all_rejected(net["b"], flipped(data, range(8 * len(data))))
    assert net["b"].process(data, now=NOW).data == b"tamper with me"  # type: ignore[union-attr]


def test_every_bit_flip_of_a_private_commit() -> None:
    net = pair(WireFormatPolicy.PURE_CIPHERTEXT, seed=2)
    staged = net["a"].commit(rng=net.rng, now=NOW, force_path=True)
    assert staged.message is not None
    data = staged.message
    assert_all_rejected(net["b"], flipped(data, range(0, 8 * len(data), 3)))


def test_every_bit_flip_of_a_public_commit_and_proposal() -> None:
    net = pair(WireFormatPolicy.PURE_PLAINTEXT, seed=3)
    proposal = net["a"].propose_remove(1, rng=net.rng, now=NOW)
    assert_all_rejected(net["b"], flipped(proposal, range(8 * len(proposal))))
    net["a"].state.proposals.clear()
    staged = net["a"].commit(rng=net.rng, now=NOW, force_path=True)
    assert staged.message is not None
    assert_all_rejected(net["b"], flipped(staged.message, range(0, 8 * len(staged.message), 3)))


def test_bit_flips_of_a_welcome() -> None:
    net = InMemoryGroup(seed=4)
    net.create("a")
    net.add("a", "b")
    bundle = net.key_package("c")
    staged = net["a"].commit(rng=net.rng, now=NOW, add=[bundle.key_package])
    assert staged.welcome is not None
    welcome = staged.welcome
    rng = SeededRandom(4)
    positions = sorted(
        {int.from_bytes(rng(4), "big") % (8 * len(welcome)) for _ in range(250)} | set(range(64))
    )
    for data in flipped(welcome, positions):
        with pytest.raises(MLSError):
            Group.join(data, bundle, net.signer("c"), now=NOW)
    joined = Group.join(welcome, bundle, net.signer("c"), now=NOW)
    net["a"].merge_pending_commit()
    assert joined.epoch_authenticator == net["a"].epoch_authenticator
