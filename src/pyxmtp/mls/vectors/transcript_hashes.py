"""transcript-hashes.json: confirmed and interim transcript hashes of a commit and its confirmation tag
(RFC 9420 section 8.2)."""

from __future__ import annotations

from ..codec import decode
from ..constants import ContentType
from ..crypto import get_suite
from ..errors import CryptoError
from ..framing.content import AuthenticatedContent
from ..transcript import (
    confirmation_tag,
    confirmed_transcript_hash_of,
    interim_transcript_hash,
    verify_confirmation_tag,
)
from . import Case, VectorMismatch, expect


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    content = decode(AuthenticatedContent, _h(case["authenticated_content"]))
    expect("content_type", content.content.content_type, ContentType.commit)
    tag = content.auth.confirmation_tag
    assert tag is not None  # decode guarantees a tag for commits
    confirmed = confirmed_transcript_hash_of(suite, _h(case["interim_transcript_hash_before"]), content)
    expect("confirmed_transcript_hash_after", confirmed, _h(case["confirmed_transcript_hash_after"]))
    key = _h(case["confirmation_key"])
    expect("confirmation_tag", confirmation_tag(suite, key, confirmed), tag)
    verify_confirmation_tag(suite, key, confirmed, tag)
    try:
        verify_confirmation_tag(suite, key, confirmed, bytes([tag[0] ^ 1]) + tag[1:])
    except CryptoError:
        pass
    else:
        raise VectorMismatch("a tampered confirmation tag verified")
    expect(
        "interim_transcript_hash_after",
        interim_transcript_hash(suite, confirmed, tag),
        _h(case["interim_transcript_hash_after"]),
    )
