"""Tampering, as properties (hypothesis): one flipped bit anywhere in a PrivateMessage (application data,
proposal, commit), a PublicMessage (proposal, commit, external commit) or a Welcome is rejected with a typed
:class:`~pyxmtp.mls.errors.RemoteMLSError` subclass, never another exception, and changes nothing: the
receiving group's serialized state is the same, and that state still accepts the untampered message; a
joiner's key package bundle still joins from the untampered Welcome. The same holds for rougher corruption
(truncation, appended bytes, an overwritten span).

test_group_wire.py flips bits of one fixed message of each kind (every bit, or every third); here the
scenario varies too: group size, wire-format policy, padding, payload and authenticated data sizes, commits
with and without a path, external commits, Welcomes with the ratchet tree inside or out of band, with and
without a path secret. The last test checks the PrivateMessage fast parser against the generic decoder on
the same mutations.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyxmtp.mls.codec import decode, encode
from pyxmtp.mls.errors import DecodeError, MLSError, RemoteMLSError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, parse_private_message
from pyxmtp.mls.group import ApplicationMessage, Group, GroupConfig, ProposalReceived, StagedCommit
from pyxmtp.mls.group import WireFormatPolicy as Policy
from pyxmtp.mls.key_packages import KeyPackageBundle
from tests.mls.helpers import InMemoryGroup

NOW = 1_700_000_000
POLICIES = (Policy.PURE_CIPHERTEXT, Policy.PURE_PLAINTEXT)
GROUP_KINDS = ("application", "proposal", "commit", "commit without path", "external commit")
WELCOME_KINDS = ("welcome", "welcome with path", "welcome without tree")
SEEDS = st.integers(0, 2)
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class GroupMessage:
    """A message for ``receiver`` (a group state kept as bytes: every example starts from it)."""

    receiver_state: bytes
    message: bytes
    expected: type  # what processing the untampered message gives


@dataclass(frozen=True)
class WelcomeMessage:
    welcome: bytes
    bundle: KeyPackageBundle
    join: Callable[[bytes], Group]


def scenario_group(seed: int, policy: Policy) -> tuple[InMemoryGroup, random.Random]:
    rnd = random.Random(f"tamper-{seed}-{policy.name}")
    config = GroupConfig(wire_format_policy=policy, padding_block=rnd.choice((0, 16, 64)))
    net = InMemoryGroup(seed=f"tamper-{seed}-{policy.name}", config=config)
    net.create("a")
    net.add("a", *(f"m{i}" for i in range(rnd.randint(1, 4))))
    return net, rnd


@functools.cache
def group_message(kind: str, policy: Policy, seed: int) -> GroupMessage:
    net, rnd = scenario_group(seed, policy)
    a = net["a"]
    expected: type = StagedCommit
    if kind == "application":
        message = a.create_message(
            rnd.randbytes(rnd.choice((0, 1, 100, 1000))), rng=net.rng, authenticated_data=rnd.randbytes(3)
        )
        expected = ApplicationMessage
    elif kind == "proposal":
        message = a.propose_remove(net.leaf("m0"), rng=net.rng, now=NOW)
        expected = ProposalReceived
    elif kind == "commit":
        staged = a.commit(rng=net.rng, now=NOW, force_path=True)
        assert staged.message is not None
        message = staged.message
    elif kind == "commit without path":
        staged = a.commit(rng=net.rng, now=NOW, add=[net.key_package("new").key_package])
        assert staged.message is not None and not staged.has_path
        message = staged.message
    else:
        assert kind == "external commit"
        _, message = Group.join_by_external_commit(
            a.group_info(),
            net.signer("outsider"),
            net.credential("outsider"),
            rng=net.rng,
            now=NOW,
        )
    receiver = net["m0"]
    return GroupMessage(receiver.to_bytes(), message, expected)


@functools.cache
def welcome_message(kind: str, seed: int) -> WelcomeMessage:
    policy = Policy.PURE_CIPHERTEXT
    net, rnd = scenario_group(seed, policy)
    if kind == "welcome without tree":
        config = GroupConfig(use_ratchet_tree_extension=False)
        for g in net.members.values():
            g.state.config = config
    bundle = net.key_package("joiner")
    staged = net["a"].commit(
        rng=net.rng, now=NOW, add=[bundle.key_package], force_path=kind == "welcome with path"
    )
    assert staged.welcome is not None
    net["a"].merge_pending_commit()
    tree = net["a"].ratchet_tree() if kind == "welcome without tree" else None
    signer = net.signer("joiner")

    def join(data: bytes) -> Group:
        return Group.join(data, bundle, signer, now=NOW, ratchet_tree=tree)

    del rnd
    return WelcomeMessage(staged.welcome, bundle, join)


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def rejected(operation: Callable[[], object]) -> RemoteMLSError:
    """Run ``operation``; it must raise a specific RemoteMLSError subclass (a peer's message is at fault)."""
    try:
        operation()
    except RemoteMLSError as exc:
        assert type(exc) is not RemoteMLSError, f"untyped rejection: {exc!r}"
        return exc
    except MLSError as exc:  # pragma: no cover - a failure
        raise AssertionError(f"a tampered message was blamed on the caller: {exc!r}") from exc
    raise AssertionError("a tampered message was accepted")


def check_group_message_rejected(fixture: GroupMessage, tampered: bytes) -> None:
    group = Group.from_bytes(fixture.receiver_state)
    rejected(lambda: group.process(tampered, now=NOW))
    assert group.to_bytes() == fixture.receiver_state
    assert isinstance(group.process(fixture.message, now=NOW), fixture.expected)


def check_welcome_rejected(fixture: WelcomeMessage, tampered: bytes) -> None:
    kept = fixture.bundle.to_bytes()
    rejected(lambda: fixture.join(tampered))
    assert fixture.bundle.to_bytes() == kept
    fixture.join(fixture.welcome)  # the bundle still joins from the real Welcome


@PROPS
@given(kind=st.sampled_from(GROUP_KINDS), policy=st.sampled_from(POLICIES), seed=SEEDS, data=st.data())
def test_a_flipped_bit_in_a_group_message_is_rejected_and_changes_nothing(
    kind: str, policy: Policy, seed: int, data: st.DataObject
) -> None:
    fixture = group_message(kind, policy, seed)
    bit = data.draw(st.integers(0, 8 * len(fixture.message) - 1), label="bit")
    check_group_message_rejected(fixture, flip(fixture.message, bit))


@PROPS
@given(kind=st.sampled_from(WELCOME_KINDS), seed=SEEDS, data=st.data())
def test_a_flipped_bit_in_a_welcome_is_rejected_and_the_key_package_stays_usable(
    kind: str, seed: int, data: st.DataObject
) -> None:
    fixture = welcome_message(kind, seed)
    bit = data.draw(st.integers(0, 8 * len(fixture.welcome) - 1), label="bit")
    check_welcome_rejected(fixture, flip(fixture.welcome, bit))


@st.composite
def corrupted(draw: st.DrawFn, original: bytes) -> bytes:
    """Truncated, extended, or with a span overwritten (never the original)."""
    how = draw(st.sampled_from(("truncate", "extend", "overwrite")))
    if how == "truncate":
        return original[: draw(st.integers(0, len(original) - 1))]
    if how == "extend":
        return original + draw(st.binary(min_size=1, max_size=40))
    start = draw(st.integers(0, len(original) - 1))
    span = draw(st.binary(min_size=1, max_size=min(16, len(original) - start)))
    out = original[:start] + span + original[start + len(span) :]
    if out == original:
        out = flip(out, 8 * start)
    return out


@PROPS
@given(kind=st.sampled_from(GROUP_KINDS + WELCOME_KINDS), policy=st.sampled_from(POLICIES), data=st.data())
def test_truncated_extended_or_overwritten_messages_are_rejected(
    kind: str, policy: Policy, data: st.DataObject
) -> None:
    if kind in WELCOME_KINDS:
        welcome = welcome_message(kind, 0)
        check_welcome_rejected(welcome, data.draw(corrupted(welcome.welcome)))
    else:
        fixture = group_message(kind, policy, 0)
        check_group_message_rejected(fixture, data.draw(corrupted(fixture.message)))


def generic_body(data: bytes) -> object:
    try:
        return decode(MLSMessage, data).body
    except DecodeError:
        return None


@PROPS
@given(kind=st.sampled_from(GROUP_KINDS), policy=st.sampled_from(POLICIES), data=st.data())
def test_the_private_message_fast_parser_agrees_with_the_decoder(
    kind: str, policy: Policy, data: st.DataObject
) -> None:
    message = group_message(kind, policy, 0).message
    mutated = data.draw(st.one_of(corrupted(message), st.just(message)))
    if data.draw(st.booleans(), label="flip a bit too"):
        mutated = flip(mutated, data.draw(st.integers(0, 8 * len(mutated) - 1))) if mutated else mutated
    fast = parse_private_message(mutated)
    body = generic_body(mutated)
    if isinstance(body, PrivateMessage):
        assert fast == body
        assert fast.to_mls_message_bytes() == encode(MLSMessage(body)) == mutated
    else:
        assert fast is None
