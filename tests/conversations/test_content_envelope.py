"""The MLS plaintext (PlaintextEnvelope), message ids and the sender HMAC, checked against the protocol reference
(section 7: the formulas recomputed here independently with hashlib/hmac)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pyxmtp.conversations.content import (
    ContentArgumentError,
    ContentDecodeError,
    DeviceSyncMessage,
    PlaintextEnvelope,
    build_plaintext_envelope,
    hmac_epoch,
    message_id,
    parse_plaintext_envelope,
    sender_hmac,
    sender_hmac_key,
    sender_hmac_key_for_epoch,
)
from pyxmtp.proto.device_sync import content_pb2 as device_sync_pb2
from pyxmtp.proto.mls.message_contents import content_pb2

# protocol reference 7.2: libxmtp 1.10.0 encode_text("hi")
HI_BYTES = bytes.fromhex(
    "0a120a08786d74702e6f7267120474657874180112110a08656e636f64696e6712055554462d3822026869"
)


# --- PlaintextEnvelope --------------------------------------------------------------------------------------
def test_plaintext_envelope_v1_bytes_and_parse() -> None:
    key = "1717171717171717171"
    data = build_plaintext_envelope(HI_BYTES, key)
    # hand-assembled: field 1 (v1) { field 1 content, field 2 idempotency_key }
    inner = b"\x0a" + bytes([len(HI_BYTES)]) + HI_BYTES + b"\x12" + bytes([len(key)]) + key.encode()
    assert data == b"\x0a" + bytes([len(inner)]) + inner
    parsed = parse_plaintext_envelope(data)
    assert parsed == PlaintextEnvelope(HI_BYTES, key)


def test_plaintext_envelope_v2_is_device_sync() -> None:
    v2 = content_pb2.PlaintextEnvelope.V2(
        idempotency_key="k", device_sync_request=device_sync_pb2.DeviceSyncRequest(pin="1234")
    )
    data = content_pb2.PlaintextEnvelope(v2=v2).SerializeToString()
    parsed = parse_plaintext_envelope(data)
    assert isinstance(parsed, DeviceSyncMessage)
    assert parsed.idempotency_key == "k"
    assert parsed.kind == "device_sync_request"
    assert parsed.v2.device_sync_request.pin == "1234"
    empty = parse_plaintext_envelope(
        content_pb2.PlaintextEnvelope(v2=content_pb2.PlaintextEnvelope.V2()).SerializeToString()
    )
    assert isinstance(empty, DeviceSyncMessage) and empty.kind is None


def test_plaintext_envelope_errors() -> None:
    with pytest.raises(ContentDecodeError, match="neither v1 nor v2"):
        parse_plaintext_envelope(b"")
    with pytest.raises(ContentDecodeError, match="PlaintextEnvelope"):
        parse_plaintext_envelope(b"\x0a\x05\x0a")
    with pytest.raises(ContentArgumentError):
        build_plaintext_envelope("text", "k")  # type: ignore[arg-type]
    with pytest.raises(ContentArgumentError):
        build_plaintext_envelope(b"", 5)  # type: ignore[arg-type]


# --- message id and sender HMAC -----------------------------------------------------------------------------
def test_message_id_formula() -> None:
    group_id = bytes(range(16))
    key = "1700000000123456789"
    expected = hashlib.sha256(b"\t".join([group_id, key.encode("ascii"), HI_BYTES])).digest()
    assert message_id(group_id, key, HI_BYTES) == expected
    assert len(expected) == 32
    assert message_id(group_id, key, HI_BYTES) != message_id(group_id, key + "0", HI_BYTES)
    assert message_id(b"g", "ké", b"c") == hashlib.sha256(b"g\tk\xc3\xa9\tc").digest()


def _hkdf_sha256(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 written out with the stdlib, independent of ``cryptography``."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def test_sender_hmac_key_derivation() -> None:
    root = bytes(range(42))
    group_id = bytes.fromhex("00112233445566778899aabbccddeeff")
    now = 1_700_000_000
    epoch = now // 2_592_000
    assert hmac_epoch(now) == epoch == 655
    expected = _hkdf_sha256(
        b"libXMTP HKDF salt!", root + group_id, group_id + epoch.to_bytes(8, "little"), 42
    )
    key = sender_hmac_key(root, group_id, now)
    assert key == expected
    assert len(key) == 42
    assert sender_hmac_key_for_epoch(root, group_id, epoch) == key
    # the same key for the whole 30-day epoch, a new one after it
    assert sender_hmac_key(root, group_id, epoch * 2_592_000) == key
    assert sender_hmac_key(root, group_id, (epoch + 1) * 2_592_000 - 1) == key
    assert sender_hmac_key(root, group_id, (epoch + 1) * 2_592_000) != key
    assert sender_hmac_key(root, group_id, now + 0.9) == key
    # per group and per root key
    assert sender_hmac_key(root, group_id[::-1], now) != key
    assert sender_hmac_key(root[::-1], group_id, now) != key
    # the epoch is a signed little-endian i64
    negative = _hkdf_sha256(
        b"libXMTP HKDF salt!", root + group_id, group_id + (-1).to_bytes(8, "little", signed=True), 42
    )
    assert sender_hmac_key_for_epoch(root, group_id, -1) == negative
    with pytest.raises(ContentArgumentError):
        sender_hmac_key_for_epoch(root, group_id, 2**63)


def test_sender_hmac() -> None:
    key = sender_hmac_key(b"\x07" * 42, b"group", 1_700_000_000)
    data = b"\x00\x01\x00\x02 some MLS message"
    mac = sender_hmac(key, data)
    assert mac == hmac.new(key, data, hashlib.sha256).digest()
    assert len(mac) == 32
