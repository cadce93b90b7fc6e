"""Transcript hashes and the confirmation tag (RFC 9420 sections 6.1 and 8.2).

::

    confirmed_transcript_hash_[n] = Hash(interim_transcript_hash_[n-1] || ConfirmedTranscriptHashInput_[n])
    interim_transcript_hash_[n]   = Hash(confirmed_transcript_hash_[n] || InterimTranscriptHashInput_[n])
    confirmation_tag              = MAC(confirmation_key_[n], confirmed_transcript_hash_[n])

``ConfirmedTranscriptHashInput = {wire_format, FramedContent content, opaque signature<V>}`` of the commit and
``InterimTranscriptHashInput = {MAC confirmation_tag}``.

Order in a commit: sign the content; :func:`confirmed_transcript_hash` (it goes into the new GroupContext);
run the key schedule; :func:`confirmation_tag` with the new epoch's ``confirmation_key``;
:func:`interim_transcript_hash` with that tag. A new group starts with an empty confirmed transcript hash and
computes its interim hash from that and the epoch-0 confirmation tag (RFC 9420 section 11).
"""

from __future__ import annotations

import hmac

from .codec import encode_varint
from .crypto import CipherSuite
from .errors import CryptoError
from .framing.content import AuthenticatedContent, FramedContent
from .messages.group_info import confirmed_transcript_hash_input

__all__ = [
    "InvalidConfirmationTag",
    "confirmation_tag",
    "confirmed_transcript_hash",
    "confirmed_transcript_hash_of",
    "interim_transcript_hash",
    "verify_confirmation_tag",
]


class InvalidConfirmationTag(CryptoError):
    """A commit's or GroupInfo's confirmation tag does not match the confirmed transcript hash."""


def confirmed_transcript_hash(
    suite: CipherSuite,
    interim_transcript_hash: bytes,
    wire_format: int,
    content: FramedContent,
    signature: bytes,
) -> bytes:
    """The new confirmed transcript hash from the previous epoch's interim hash and the signed commit."""
    return suite.hash(
        interim_transcript_hash + confirmed_transcript_hash_input(wire_format, content, signature)
    )


def confirmed_transcript_hash_of(
    suite: CipherSuite, interim_transcript_hash: bytes, commit: AuthenticatedContent
) -> bytes:
    """:func:`confirmed_transcript_hash` of an AuthenticatedContent (its confirmation tag is not used)."""
    return confirmed_transcript_hash(
        suite, interim_transcript_hash, commit.wire_format, commit.content, commit.auth.signature
    )


def interim_transcript_hash(
    suite: CipherSuite, confirmed_transcript_hash: bytes, confirmation_tag: bytes
) -> bytes:
    """The interim transcript hash from this epoch's confirmed hash and the commit's confirmation tag."""
    return suite.hash(confirmed_transcript_hash + encode_varint(len(confirmation_tag)) + confirmation_tag)


def confirmation_tag(suite: CipherSuite, confirmation_key: bytes, confirmed_transcript_hash: bytes) -> bytes:
    """``MAC(confirmation_key, confirmed_transcript_hash)``."""
    return suite.mac(confirmation_key, confirmed_transcript_hash)


def verify_confirmation_tag(
    suite: CipherSuite, confirmation_key: bytes, confirmed_transcript_hash: bytes, tag: bytes
) -> None:
    """Raise :class:`InvalidConfirmationTag` unless ``tag`` is the confirmation tag (constant-time compare)."""
    if not hmac.compare_digest(suite.mac(confirmation_key, confirmed_transcript_hash), tag):
        raise InvalidConfirmationTag("confirmation tag does not match the confirmed transcript hash")
