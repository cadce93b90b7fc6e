"""PSK secret (RFC 9420 section 8.4): chaining, validation of ids, resolution."""

from __future__ import annotations

import pytest

from pyxmtp.mls.constants import ResumptionPSKUsage
from pyxmtp.mls.crypto import expand_with_label, get_suite
from pyxmtp.mls.errors import MissingKeyError, ValidationError
from pyxmtp.mls.messages.proposals import ExternalPSK, PreSharedKeyID, ResumptionPSK, psk_label
from pyxmtp.mls.psk import psk_secret, resolve_psks, validate_psk_ids

SUITE = get_suite(3)


def ext(name: bytes, nonce: bytes = b"n" * 32) -> PreSharedKeyID:
    return PreSharedKeyID(ExternalPSK(name), nonce)


def test_empty_list_is_the_zero_vector() -> None:
    assert psk_secret(SUITE, []) == bytes(32)
    assert psk_secret(get_suite(5), []) == bytes(64)


def test_single_psk_by_hand() -> None:
    pid = ext(b"a")
    extracted = SUITE.extract(bytes(32), b"value")
    psk_input = expand_with_label(SUITE, extracted, "derived psk", psk_label(pid, 0, 1), 32)
    assert psk_secret(SUITE, [(pid, b"value")]) == SUITE.extract(psk_input, bytes(32))


def test_order_values_and_count_matter() -> None:
    a, b = (ext(b"a"), b"1"), (ext(b"b"), b"2")
    assert psk_secret(SUITE, [a, b]) != psk_secret(SUITE, [b, a])
    assert psk_secret(SUITE, [a]) != psk_secret(SUITE, [(a[0], b"other")])
    assert psk_secret(SUITE, [a, b]) != psk_secret(SUITE, [a])


def test_validate_psk_ids() -> None:
    resumption = PreSharedKeyID(ResumptionPSK(ResumptionPSKUsage.application, b"g", 3), b"r" * 32)
    validate_psk_ids(SUITE, [ext(b"a"), ext(b"b"), resumption])
    with pytest.raises(ValidationError, match="psk_nonce"):
        validate_psk_ids(SUITE, [ext(b"a", b"short")])
    with pytest.raises(ValidationError, match="twice"):
        validate_psk_ids(SUITE, [ext(b"a"), ext(b"a", b"m" * 32)])


def test_resolve_psks() -> None:
    store = {b"a": b"value-a"}

    def lookup(pid: PreSharedKeyID) -> bytes | None:
        return store.get(pid.psk.psk_id) if isinstance(pid.psk, ExternalPSK) else None

    assert resolve_psks([ext(b"a")], lookup) == [(ext(b"a"), b"value-a")]
    with pytest.raises(MissingKeyError):
        resolve_psks([ext(b"a"), ext(b"z")], lookup)
