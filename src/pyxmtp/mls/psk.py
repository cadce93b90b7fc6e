"""Pre-shared keys in the key schedule (RFC 9420 section 8.4).

::

    psk_extracted_[i] = KDF.Extract(0, psk_[i])
    psk_input_[i]     = ExpandWithLabel(psk_extracted_[i], "derived psk", PSKLabel, KDF.Nh)
    psk_secret_[0]    = 0
    psk_secret_[i]    = KDF.Extract(psk_input_[i-1], psk_secret_[i-1])
    psk_secret        = psk_secret_[n]

with ``PSKLabel = {PreSharedKeyID id; uint16 index; uint16 count}`` (``index`` 0-based, ``count`` = n). An empty
list gives the all-zero ``Nh``-byte vector. Looking PSK values up (an external PSK store, the resumption PSK of
an earlier epoch) is the caller's job: :func:`resolve_psks` runs a caller-supplied lookup and turns a miss into
:class:`~pyxmtp.mls.errors.MissingKeyError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .crypto import CipherSuite, expand_with_label
from .errors import MissingKeyError, ValidationError
from .messages.proposals import PreSharedKeyID, psk_label

__all__ = ["PSKLookup", "psk_secret", "resolve_psks", "validate_psk_ids"]

PSKLookup = Callable[[PreSharedKeyID], "bytes | None"]
"""Returns the PSK value for an id, or None if unknown."""


def psk_secret(suite: CipherSuite, psks: Sequence[tuple[PreSharedKeyID, bytes]]) -> bytes:
    """``psk_secret`` over ``(PreSharedKeyID, psk value)`` pairs, in the order they appear in the commit or
    GroupSecrets; the zero vector when ``psks`` is empty."""
    nh = suite.hash_len
    zero = bytes(nh)
    acc = zero
    count = len(psks)
    for index, (psk_id, value) in enumerate(psks):
        extracted = suite.extract(zero, value)
        psk_input = expand_with_label(suite, extracted, "derived psk", psk_label(psk_id, index, count), nh)
        acc = suite.extract(psk_input, acc)
    return acc


def validate_psk_ids(suite: CipherSuite, psk_ids: Sequence[PreSharedKeyID]) -> None:
    """RFC 9420 section 8.4 / 12.2 checks on a list of PSK ids: every ``psk_nonce`` is ``Nh`` bytes and no id
    appears twice. Raises :class:`ValidationError`. (Usage rules for resumption PSKs depend on the commit kind
    and are the group engine's.)"""
    seen: set[tuple[object, ...]] = set()
    for psk_id in psk_ids:
        if len(psk_id.psk_nonce) != suite.hash_len:
            raise ValidationError(f"psk_nonce must be {suite.hash_len} bytes, got {len(psk_id.psk_nonce)}")
        ident = (psk_id.psk_type, psk_id.psk)
        if ident in seen:
            raise ValidationError(f"PSK {psk_id.psk!r} is listed twice")
        seen.add(ident)


def resolve_psks(psk_ids: Sequence[PreSharedKeyID], lookup: PSKLookup) -> list[tuple[PreSharedKeyID, bytes]]:
    """Pair every id with its value from ``lookup``; :class:`MissingKeyError` naming the first unknown id."""
    out: list[tuple[PreSharedKeyID, bytes]] = []
    for psk_id in psk_ids:
        value = lookup(psk_id)
        if value is None:
            raise MissingKeyError(f"unknown pre-shared key {psk_id.psk!r}")
        out.append((psk_id, value))
    return out
