"""XMTP welcome wrapping (protocol reference, section 5): wire layout, round trips, every tampering, pointers.

The interop tests open our wraps with an independent HPKE (``@hpke/core`` with ``@hpke/hybridkem-x-wing`` on KEM
id 0x004D, and its DHKEM-X25519) and unwrap theirs; see :mod:`tests.mls.test_xwing` for how that peer is found.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest

from pyxmtp.conversations import welcome_wrap as ww
from pyxmtp.conversations.welcome_wrap import (
    CURVE25519,
    CURVE25519_WRAPPER,
    SYMMETRIC_KEY,
    UNSPECIFIED,
    WELCOME_HPKE_INFO,
    XWING,
    XWING_WRAPPER,
    InvalidWrapperKey,
    MalformedWrapperData,
    UnsupportedWrapperAlgorithm,
    WelcomePointer,
    WelcomeUnwrapError,
    WelcomeWrapError,
    WelcomeWrapUsageError,
    WrapperKeyPair,
)
from pyxmtp.mls.codec import encode
from pyxmtp.mls.crypto.hpke import DHKEM_X25519_HKDF_SHA256
from pyxmtp.mls.crypto.keys import HPKEPrivateKey
from pyxmtp.mls.errors import DecryptError, LocalMLSError, RemoteMLSError
from tests.mls.test_xwing import run_peer

WELCOME = b"\x00\x01\x00\x03" + bytes(range(256)) * 4  # stands in for a TLS MLSMessage Welcome
METADATA = b"\x08\x08"  # WelcomeMetadata { message_cursor = 8 }


def seeded(seed: int) -> Callable[[int], bytes]:
    gen = random.Random(seed)
    return lambda n: gen.randbytes(n)


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def xwing_recipient() -> WrapperKeyPair:
    return ww.generate_wrapper_key_pair(os.urandom)


def x25519_recipient() -> HPKEPrivateKey:
    return DHKEM_X25519_HKDF_SHA256.generate_key_pair(os.urandom)


def recipients() -> list[tuple[int, bytes, HPKEPrivateKey]]:
    """``(algorithm, hpke_public_key, private key)`` for X-Wing, Curve25519 and unspecified (= Curve25519)."""
    x = xwing_recipient()
    c = x25519_recipient()
    return [
        (XWING, x.public_key, x.private_key),
        (CURVE25519, c.public_bytes(), c),
        (UNSPECIFIED, c.public_bytes(), c),
    ]


# --- parameters ---------------------------------------------------------------------------------------------


def test_info_is_the_exact_encrypt_context() -> None:
    assert bytes.fromhex("134d4c5320312e30204d4c535f57454c434f4d4500") == WELCOME_HPKE_INFO


def test_suites() -> None:
    assert CURVE25519_WRAPPER.suite_id == bytes.fromhex("48504b45002000010003")
    assert XWING_WRAPPER.suite_id == bytes.fromhex("48504b45004d00010003")
    assert ww.wrapper_hpke(UNSPECIFIED) is ww.wrapper_hpke(CURVE25519) is CURVE25519_WRAPPER
    assert ww.wrapper_hpke(XWING) is XWING_WRAPPER
    assert (XWING_WRAPPER.kem.public_key_len, XWING_WRAPPER.kem.enc_len) == (1216, 1120)
    for bad in (SYMMETRIC_KEY, 4, -1, 0x4D):
        with pytest.raises(UnsupportedWrapperAlgorithm, match=f"algorithm {bad}"):
            ww.wrapper_hpke(bad)


# --- layout and round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2], ids=["xwing", "curve25519", "unspecified"])
def test_round_trip(index: int) -> None:
    algorithm, public_key, private_key = recipients()[index]
    data, metadata = ww.wrap_welcome(WELCOME, METADATA, public_key, algorithm, os.urandom)
    assert ww.unwrap_welcome(data, metadata, private_key, algorithm) == (WELCOME, METADATA)
    assert ww.unwrap_welcome(data, metadata, private_key.to_bytes(), algorithm) == (WELCOME, METADATA)
    kem_output, ciphertext = ww.decode_hpke_ciphertext(data)
    assert len(kem_output) == (1120 if algorithm == XWING else 32)
    assert len(ciphertext) == len(WELCOME) + 16
    assert len(metadata) == len(METADATA) + 16 == 18  # the observed 18 bytes for cursor 8


def test_wire_layout_is_one_context_two_seals() -> None:
    pair = xwing_recipient()
    data, metadata = ww.wrap_welcome(WELCOME, METADATA, pair.public_key, XWING, os.urandom)
    assert data[:2] == bytes.fromhex("4460")  # kem_output<V>: a 2-byte varint 1120
    kem_output, ciphertext = ww.decode_hpke_ciphertext(data)
    assert data == ww.encode_hpke_ciphertext(kem_output, ciphertext)
    ctx = XWING_WRAPPER.setup_receiver(pair.private_key, kem_output, WELCOME_HPKE_INFO)
    assert ctx.open(b"", ciphertext) == WELCOME  # sequence 0, aad empty
    assert ctx.open(b"", metadata) == METADATA  # sequence 1 of the same context
    fresh = XWING_WRAPPER.setup_receiver(pair.private_key, kem_output, WELCOME_HPKE_INFO)
    with pytest.raises(DecryptError):
        fresh.open(b"", metadata)  # not sealed at sequence 0
    with pytest.raises(DecryptError):
        XWING_WRAPPER.setup_receiver(pair.private_key, kem_output, b"").open(b"", ciphertext)  # info matters


def test_empty_metadata() -> None:
    pair = xwing_recipient()
    data, metadata = ww.wrap_welcome(WELCOME, b"", pair.public_key, XWING, os.urandom)
    assert len(metadata) == 16  # cursor 0 encodes to nothing, sealed to a bare tag
    assert ww.unwrap_welcome(data, metadata, pair.private_key, XWING) == (WELCOME, b"")
    assert ww.unwrap_welcome(data, b"", pair.private_key, XWING) == (
        WELCOME,
        b"",
    )  # an empty field is skipped


def test_large_welcome_uses_long_varints() -> None:
    pair = xwing_recipient()
    big = os.urandom(70000)
    data, metadata = ww.wrap_welcome(big, METADATA, pair.public_key, XWING, os.urandom)
    assert data[1122] >> 6 == 2  # ciphertext<V>: a 4-byte varint
    assert ww.unwrap_welcome(data, metadata, pair.private_key, XWING) == (big, METADATA)


def test_wraps_are_fresh() -> None:
    pair = xwing_recipient()
    first = ww.wrap_welcome(WELCOME, METADATA, pair.public_key, XWING, os.urandom)
    second = ww.wrap_welcome(WELCOME, METADATA, pair.public_key, XWING, os.urandom)
    assert first[0][:1122] != second[0][:1122] and first[1] != second[1]


# --- tampering and wrong inputs (all remote errors) ---------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1], ids=["xwing", "curve25519"])
def test_tampering_every_part(index: int) -> None:
    algorithm, public_key, private_key = recipients()[index]
    data, metadata = ww.wrap_welcome(WELCOME, METADATA, public_key, algorithm, os.urandom)
    enc_len = 1120 if algorithm == XWING else 32
    head = 2 if algorithm == XWING else 1  # the kem_output<V> length prefix
    ct_start = head + enc_len + 2  # ciphertext<V> has a 2-byte prefix here
    positions = {
        "kem_output first byte": head,
        "kem_output last byte": head + enc_len - 1,
        "ciphertext first byte": ct_start,
        "ciphertext tag": len(data) - 1,
    }
    if algorithm == XWING:
        positions["kem_output X25519 half"] = head + 1100
    for what, at in positions.items():
        with pytest.raises(WelcomeUnwrapError, match="welcome data"):
            ww.unwrap_welcome(flip(data, at), metadata, private_key, algorithm)
            pytest.fail(f"a flipped {what} went unnoticed")
    for at in (0, len(metadata) - 1):
        with pytest.raises(WelcomeUnwrapError, match="welcome_metadata"):
            ww.unwrap_welcome(data, flip(metadata, at), private_key, algorithm)
    other_data, other_metadata = ww.wrap_welcome(WELCOME, METADATA, public_key, algorithm, os.urandom)
    with pytest.raises(WelcomeUnwrapError, match="welcome_metadata"):
        ww.unwrap_welcome(data, other_metadata, private_key, algorithm)  # metadata of another context
    with pytest.raises(WelcomeUnwrapError):
        ww.unwrap_welcome(
            data[:head] + other_data[head : head + enc_len] + data[head + enc_len :],
            metadata,
            private_key,
            algorithm,
        )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d[:-1],  # truncated ciphertext
        lambda d: d + b"\x00",  # trailing byte
        lambda d: b"",
        lambda d: b"\xc0" + d[1:],  # invalid varint prefix 0b11
        lambda d: d[:3],
    ],
    ids=["truncated", "trailing", "empty", "bad-varint", "short"],
)
def test_malformed_data(mangle: Callable[[bytes], bytes]) -> None:
    pair = xwing_recipient()
    data, metadata = ww.wrap_welcome(WELCOME, METADATA, pair.public_key, XWING, os.urandom)
    with pytest.raises(MalformedWrapperData, match="HPKECiphertext"):
        ww.unwrap_welcome(mangle(data), metadata, pair.private_key, XWING)


def test_kem_output_of_the_wrong_length() -> None:
    pair = xwing_recipient()
    data, metadata = ww.wrap_welcome(WELCOME, METADATA, pair.public_key, XWING, os.urandom)
    kem_output, ciphertext = ww.decode_hpke_ciphertext(data)
    for bad in (kem_output[:-1], kem_output + b"\x00", b""):
        with pytest.raises(WelcomeUnwrapError, match="kem_output"):
            ww.unwrap_welcome(ww.encode_hpke_ciphertext(bad, ciphertext), metadata, pair.private_key, XWING)


def test_wrong_key() -> None:
    for algorithm, public_key, _ in recipients():
        data, metadata = ww.wrap_welcome(WELCOME, METADATA, public_key, algorithm, os.urandom)
        wrong = xwing_recipient().private_key if algorithm == XWING else x25519_recipient()
        with pytest.raises(WelcomeUnwrapError, match="does not decrypt"):
            ww.unwrap_welcome(data, metadata, wrong, algorithm)
        with pytest.raises(WelcomeUnwrapError):
            ww.unwrap_welcome(data, metadata, wrong.to_bytes(), algorithm)


def test_wrong_algorithm() -> None:
    x = xwing_recipient()
    c = x25519_recipient()
    x_data, x_metadata = ww.wrap_welcome(WELCOME, METADATA, x.public_key, XWING, os.urandom)
    c_data, c_metadata = ww.wrap_welcome(WELCOME, METADATA, c.public_bytes(), CURVE25519, os.urandom)
    # the key object named by hpke_public_key does not fit the (peer-chosen) algorithm
    with pytest.raises(WelcomeUnwrapError, match="needs a DHKEM"):
        ww.unwrap_welcome(x_data, x_metadata, x.private_key, CURVE25519)
    with pytest.raises(WelcomeUnwrapError, match="needs a X-Wing"):
        ww.unwrap_welcome(c_data, c_metadata, c, XWING)
    # raw stored bytes are read per the algorithm: a 32-byte X-Wing seed read as X25519 does not open
    with pytest.raises(WelcomeUnwrapError):
        ww.unwrap_welcome(x_data, x_metadata, x.private_key_bytes(), CURVE25519)
    with pytest.raises(WelcomeUnwrapError):
        ww.unwrap_welcome(c_data, c_metadata, c.to_bytes(), XWING)
    for bad in (SYMMETRIC_KEY, 9):
        with pytest.raises(UnsupportedWrapperAlgorithm):
            ww.unwrap_welcome(x_data, x_metadata, x.private_key, bad)


def test_every_peer_error_is_remote_and_misuse_is_local() -> None:
    assert issubclass(WelcomeWrapError, RemoteMLSError)
    for cls in (MalformedWrapperData, WelcomeUnwrapError, UnsupportedWrapperAlgorithm, InvalidWrapperKey):
        assert issubclass(cls, WelcomeWrapError)
    assert issubclass(WelcomeUnwrapError, DecryptError)
    assert issubclass(WelcomeWrapUsageError, LocalMLSError) and not issubclass(
        WelcomeWrapUsageError, RemoteMLSError
    )
    pair = xwing_recipient()
    data, metadata = ww.wrap_welcome(WELCOME, METADATA, pair.public_key, XWING, os.urandom)
    with pytest.raises(WelcomeWrapUsageError, match="HPKEPrivateKey or bytes"):
        ww.unwrap_welcome(data, metadata, "not a key", XWING)  # type: ignore[arg-type]
    with pytest.raises(WelcomeWrapUsageError, match="stored private key"):
        ww.unwrap_welcome(data, metadata, bytes(31), XWING)


def test_bad_recipient_keys_when_wrapping() -> None:
    x = xwing_recipient()
    c = x25519_recipient()
    for public_key, algorithm in (
        (c.public_bytes(), XWING),
        (x.public_key, CURVE25519),
        (b"\xff" * 1216, XWING),
    ):
        with pytest.raises(InvalidWrapperKey, match="hpke_public_key"):
            ww.wrap_welcome(WELCOME, METADATA, public_key, algorithm, os.urandom)
    with pytest.raises(UnsupportedWrapperAlgorithm):
        ww.wrap_welcome(WELCOME, METADATA, x.public_key, SYMMETRIC_KEY, os.urandom)


# --- our wrapper key and the 0xFF03 extension ---------------------------------------------------------------


def test_wrapper_key_pair_and_extension() -> None:
    pair = ww.generate_wrapper_key_pair(seeded(3))
    assert pair.private_key.to_bytes() == ww.derive_wrapper_key_pair(seeded(3)(32)).private_key_bytes()
    assert (len(pair.public_key), len(pair.private_key_bytes()), pair.algorithm) == (1216, 32, XWING)
    body = pair.extension_body()
    assert body == bytes.fromhex("0ac009") + pair.public_key + bytes.fromhex("1002") and len(body) == 1221
    extension = pair.extension()
    assert extension.extension_type == 0xFF03 and extension.extension_data == body
    assert encode(extension)[:4] == bytes.fromhex("ff0344c5")
    again = WrapperKeyPair.from_private_key_bytes(pair.private_key_bytes())
    assert again.public_key == pair.public_key
    assert pair.private_key_bytes().hex() not in repr(pair)
    with pytest.raises(WelcomeWrapUsageError):
        WrapperKeyPair.from_private_key_bytes(bytes(16))
    with pytest.raises(WelcomeWrapUsageError):
        WrapperKeyPair(x25519_recipient(), XWING)
    # what a sender reads back from it, and wraps to
    recipient = ww.recipient_wrapper(bytes(32), body)
    assert (recipient.algorithm, recipient.public_key) == (XWING, pair.public_key)
    assert recipient == pair.wrapper_encryption() and recipient.to_bytes() == body
    data, metadata = ww.wrap_welcome(WELCOME, METADATA, recipient.public_key, recipient.algorithm, os.urandom)
    assert ww.unwrap_welcome(data, metadata, pair.private_key_bytes(), XWING) == (WELCOME, METADATA)


def test_recipient_without_extension_uses_the_init_key() -> None:
    init = x25519_recipient()
    recipient = ww.recipient_wrapper(init.public_bytes(), None)
    assert (recipient.algorithm, recipient.public_key) == (CURVE25519, init.public_bytes())
    unspecified = ww.build_wrapper_encryption(init.public_bytes(), UNSPECIFIED)
    assert ww.parse_wrapper_encryption(unspecified).algorithm == CURVE25519  # 0 is read as Curve25519


def test_bad_extension_bodies() -> None:
    pair = xwing_recipient()
    with pytest.raises(MalformedWrapperData, match="WelcomeWrapperEncryption"):
        ww.parse_wrapper_encryption(b"\x0a\xff")
    with pytest.raises(UnsupportedWrapperAlgorithm):
        ww.parse_wrapper_encryption(ww.build_wrapper_encryption(pair.public_key, SYMMETRIC_KEY))
    with pytest.raises(UnsupportedWrapperAlgorithm):
        ww.parse_wrapper_encryption(ww.build_wrapper_encryption(pair.public_key, 17))
    with pytest.raises(InvalidWrapperKey, match="pub_key"):
        ww.parse_wrapper_encryption(ww.build_wrapper_encryption(bytes(32), XWING))
    with pytest.raises(InvalidWrapperKey, match="pub_key"):
        ww.parse_wrapper_encryption(ww.build_wrapper_encryption(b"\xff" * 1216, XWING))
    with pytest.raises(InvalidWrapperKey):
        ww.parse_wrapper_encryption(ww.build_wrapper_encryption(pair.public_key, CURVE25519))


# --- welcome pointers ---------------------------------------------------------------------------------------


def test_pointer_round_trip() -> None:
    pair = xwing_recipient()
    pointer, data, metadata = ww.seal_pointee(WELCOME, METADATA, os.urandom)
    assert len(pointer.destination) == 32 and len(pointer.encryption_key) == 32
    assert len(pointer.data_nonce) == len(pointer.welcome_metadata_nonce) == 12
    assert pointer.encryption_key.hex() not in repr(pointer)
    sealed = ww.wrap_welcome_pointer(pointer, pair.public_key, XWING, os.urandom)
    kem_output, _ = ww.decode_hpke_ciphertext(sealed, "welcome pointer")
    assert len(kem_output) == 1120
    got = ww.unwrap_welcome_pointer(sealed, pair.private_key_bytes(), XWING)
    assert got == pointer
    assert ww.open_pointee(got, data, metadata) == (WELCOME, METADATA)
    assert WelcomePointer.from_bytes(pointer.to_bytes()) == pointer


def test_pointee_nonces_are_distinct() -> None:
    script = iter([b"d" * 32, b"k" * 32, b"n" * 12, b"n" * 12, b"m" * 12])
    pointer, _, _ = ww.seal_pointee(WELCOME, METADATA, lambda n: next(script))
    assert (pointer.data_nonce, pointer.welcome_metadata_nonce) == (b"n" * 12, b"m" * 12)


def test_pointer_tampering() -> None:
    pair = xwing_recipient()
    pointer, data, metadata = ww.seal_pointee(WELCOME, METADATA, os.urandom)
    sealed = ww.wrap_welcome_pointer(pointer, pair.public_key, XWING, os.urandom)
    for at in (2, 1200, len(sealed) - 1):
        with pytest.raises(WelcomeUnwrapError, match="welcome pointer"):
            ww.unwrap_welcome_pointer(flip(sealed, at), pair.private_key, XWING)
    with pytest.raises(WelcomeUnwrapError):
        ww.unwrap_welcome_pointer(sealed, xwing_recipient().private_key, XWING)
    with pytest.raises(MalformedWrapperData, match="welcome pointer"):
        ww.unwrap_welcome_pointer(sealed[:-1], pair.private_key, XWING)
    for what, part in (("pointee data", 0), ("pointee welcome_metadata", 1)):
        parts = [data, metadata]
        parts[part] = flip(parts[part], 3)
        with pytest.raises(WelcomeUnwrapError, match=what):
            ww.open_pointee(pointer, parts[0], parts[1])
    with pytest.raises(WelcomeUnwrapError):
        ww.open_pointee(pointer, data, b"")  # the pointee's metadata is always sealed
    other, _, _ = ww.seal_pointee(WELCOME, METADATA, os.urandom)
    with pytest.raises(WelcomeUnwrapError):
        ww.open_pointee(other, data, metadata)


def test_pointer_contents_are_checked() -> None:
    pointer, _, _ = ww.seal_pointee(WELCOME, METADATA, os.urandom)
    k, d, n = pointer.encryption_key, pointer.destination, pointer.data_nonce
    m = pointer.welcome_metadata_nonce
    with pytest.raises(UnsupportedWrapperAlgorithm, match="aead_type"):
        WelcomePointer.from_bytes(WelcomePointer(d, k, n, m, aead_type=0).to_bytes())
    for bad in (
        WelcomePointer(d, k[:16], n, m),
        WelcomePointer(d[:20], k, n, m),
        WelcomePointer(d, k, n + b"x", m),
    ):
        with pytest.raises(MalformedWrapperData, match="must be"):
            WelcomePointer.from_bytes(bad.to_bytes())
    with pytest.raises(MalformedWrapperData, match="welcome_v1_pointer"):
        WelcomePointer.from_bytes(b"")
    with pytest.raises(MalformedWrapperData, match="protobuf"):
        WelcomePointer.from_bytes(b"\x0a\x05\x01")


def test_pointers_are_xwing_only() -> None:
    pointer, _, _ = ww.seal_pointee(WELCOME, METADATA, os.urandom)
    with pytest.raises(WelcomeWrapUsageError, match="X-Wing only"):
        ww.wrap_welcome_pointer(pointer, x25519_recipient().public_bytes(), CURVE25519, os.urandom)


# --- the independent HPKE -----------------------------------------------------------------------------------


def _peer_suite(algorithm: int) -> dict[str, object]:
    return {"kem": "xwing", "kem_id": 0x004D} if algorithm == XWING else {"kem": "x25519"}


@pytest.mark.interop
def test_interop_our_wraps_open_there() -> None:
    requests = []
    expected = []
    for algorithm, public_key, private_key in recipients()[:2]:
        for metadata in (METADATA, b""):
            data, sealed_metadata = ww.wrap_welcome(WELCOME, metadata, public_key, algorithm, os.urandom)
            kem_output, ciphertext = ww.decode_hpke_ciphertext(data)
            requests.append(
                {
                    "op": "open",
                    "sk": private_key.to_bytes().hex(),
                    "enc": kem_output.hex(),
                    "info": WELCOME_HPKE_INFO.hex(),
                    "cts": [ciphertext.hex(), sealed_metadata.hex()],
                    **_peer_suite(algorithm),
                }
            )
            expected.append([WELCOME.hex(), metadata.hex()])
    assert [r["pts"] for r in run_peer(requests)] == expected


@pytest.mark.interop
def test_interop_their_wraps_open_here() -> None:
    cases = recipients()[:2]
    pair = xwing_recipient()
    pointer, _, _ = ww.seal_pointee(WELCOME, METADATA, os.urandom)
    requests = [
        {
            "op": "seal",
            "pk": public_key.hex(),
            "info": WELCOME_HPKE_INFO.hex(),
            "pts": [WELCOME.hex(), METADATA.hex()],
            **_peer_suite(algorithm),
        }
        for algorithm, public_key, _ in cases
    ]
    requests.append(
        {
            "op": "seal",
            "pk": pair.public_key.hex(),
            "info": WELCOME_HPKE_INFO.hex(),
            "pts": [pointer.to_bytes().hex()],
            **_peer_suite(XWING),
        }
    )
    out = run_peer(requests)
    for (algorithm, _, private_key), got in zip(cases, out[:2], strict=True):
        data = ww.encode_hpke_ciphertext(bytes.fromhex(got["enc"]), bytes.fromhex(got["cts"][0]))
        assert ww.unwrap_welcome(data, bytes.fromhex(got["cts"][1]), private_key, algorithm) == (
            WELCOME,
            METADATA,
        )
    sealed_pointer = ww.encode_hpke_ciphertext(bytes.fromhex(out[2]["enc"]), bytes.fromhex(out[2]["cts"][0]))
    assert ww.unwrap_welcome_pointer(sealed_pointer, pair.private_key, XWING) == pointer
