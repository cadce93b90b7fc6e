"""Transcript hashes and confirmation tags (RFC 9420 section 8.2)."""

from __future__ import annotations

import pytest

from pyxmtp.mls.codec import encode_varint
from pyxmtp.mls.constants import WireFormat
from pyxmtp.mls.crypto import get_suite
from pyxmtp.mls.errors import CryptoError
from pyxmtp.mls.framing.content import AuthenticatedContent, FramedContent, FramedContentAuthData, Sender
from pyxmtp.mls.messages.commit import Commit
from pyxmtp.mls.messages.group_info import confirmed_transcript_hash_input
from pyxmtp.mls.transcript import (
    InvalidConfirmationTag,
    confirmation_tag,
    confirmed_transcript_hash,
    confirmed_transcript_hash_of,
    interim_transcript_hash,
    verify_confirmation_tag,
)

SUITE = get_suite(3)


def commit_content(epoch: int, signature: bytes = b"s" * 64, tag: bytes = b"t" * 32) -> AuthenticatedContent:
    content = FramedContent(b"group", epoch, Sender.member(0), b"", Commit((), None))
    return AuthenticatedContent(WireFormat.public_message, content, FramedContentAuthData(signature, tag))


def test_definitions() -> None:
    ac = commit_content(4)
    interim = b"i" * 32
    want = SUITE.hash(interim + confirmed_transcript_hash_input(1, ac.content, ac.auth.signature))
    assert confirmed_transcript_hash_of(SUITE, interim, ac) == want
    assert confirmed_transcript_hash(SUITE, interim, 1, ac.content, ac.auth.signature) == want
    tag = confirmation_tag(SUITE, b"k" * 32, want)
    assert tag == SUITE.mac(b"k" * 32, want)
    assert interim_transcript_hash(SUITE, want, tag) == SUITE.hash(want + encode_varint(32) + tag)


def test_hash_binds_signature_and_wire_format_not_the_tag() -> None:
    interim = b""
    base = confirmed_transcript_hash_of(SUITE, interim, commit_content(4))
    assert confirmed_transcript_hash_of(SUITE, interim, commit_content(4, tag=b"x" * 32)) == base
    assert confirmed_transcript_hash_of(SUITE, interim, commit_content(4, signature=b"z" * 64)) != base
    private = commit_content(4)
    private = AuthenticatedContent(WireFormat.private_message, private.content, private.auth)
    assert confirmed_transcript_hash_of(SUITE, interim, private) != base


def test_chain_over_two_commits() -> None:
    interim0 = b""
    c1 = confirmed_transcript_hash_of(SUITE, interim0, commit_content(0))
    t1 = confirmation_tag(SUITE, b"k1" * 16, c1)
    i1 = interim_transcript_hash(SUITE, c1, t1)
    c2 = confirmed_transcript_hash_of(SUITE, i1, commit_content(1))
    assert c2 != confirmed_transcript_hash_of(SUITE, interim0, commit_content(1))
    assert len({c1, i1, c2}) == 3


def test_verify_confirmation_tag() -> None:
    confirmed = b"c" * 32
    tag = confirmation_tag(SUITE, b"k" * 32, confirmed)
    verify_confirmation_tag(SUITE, b"k" * 32, confirmed, tag)
    with pytest.raises(InvalidConfirmationTag):
        verify_confirmation_tag(SUITE, b"k" * 32, confirmed, tag[:-1] + bytes([tag[-1] ^ 1]))
    with pytest.raises(CryptoError):
        verify_confirmation_tag(SUITE, b"j" * 32, confirmed, tag)
    with pytest.raises(InvalidConfirmationTag):
        verify_confirmation_tag(SUITE, b"k" * 32, confirmed, b"")
