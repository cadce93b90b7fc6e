"""The TLS presentation-language codec (RFC 9420 section 2.1): varints, integers, vectors, optionals, errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import pytest

from pyxmtp.mls.codec import MAX_VARINT, Reader, Writer, decode, encode, encode_varint, encode_with, opaque
from pyxmtp.mls.errors import DecodeError, EncodeError


def read_varint(data: bytes) -> int:
    r = Reader(data)
    v = r.varint()
    r.expect_end()
    return v


# --- variable-length integers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "encoding"),
    [
        (0, "00"),
        (37, "25"),
        (63, "3f"),
        (64, "4040"),
        (15293, "7bbd"),
        (16383, "7fff"),
        (16384, "80004000"),
        (494878333, "9d7f3e7d"),
        (MAX_VARINT, "bfffffff"),
    ],
)
def test_varint_round_trip_at_every_length_boundary(value: int, encoding: str) -> None:
    assert encode_varint(value).hex() == encoding
    assert read_varint(bytes.fromhex(encoding)) == value


@pytest.mark.parametrize(
    "encoding",
    [
        "4025",  # 37 in two bytes
        "4000",  # 0 in two bytes
        "403f",  # 63 in two bytes
        "80000025",  # 37 in four bytes
        "80003fff",  # 16383 in four bytes
        "80000000",
    ],
)
def test_varint_rejects_non_minimal_encodings(encoding: str) -> None:
    with pytest.raises(DecodeError, match="non-minimal"):
        read_varint(bytes.fromhex(encoding))


@pytest.mark.parametrize("encoding", ["c000000000000000", "c2197c5eff14e88c", "ff"])
def test_varint_rejects_the_0b11_prefix(encoding: str) -> None:
    with pytest.raises(DecodeError, match="0b11") as info:
        read_varint(bytes.fromhex(encoding))
    assert info.value.offset == 0


@pytest.mark.parametrize("encoding", ["", "40", "8000", "800000"])
def test_varint_truncated(encoding: str) -> None:
    with pytest.raises(DecodeError):
        read_varint(bytes.fromhex(encoding))


@pytest.mark.parametrize("value", [-1, MAX_VARINT + 1, 1 << 62])
def test_varint_out_of_range_raises_encode_error(value: int) -> None:
    with pytest.raises(EncodeError):
        encode_varint(value)
    with pytest.raises(EncodeError):
        Writer().varint(value)


# --- fixed-width integers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "width"),
    [("u8", 1), ("u16", 2), ("u32", 4), ("u64", 8)],
)
def test_integers_round_trip_and_never_mask(method: str, width: int) -> None:
    top = (1 << (8 * width)) - 1
    w = Writer()
    getattr(w, method)(top)
    getattr(w, method)(0)
    data = w.getvalue()
    assert data == b"\xff" * width + b"\x00" * width
    r = Reader(data)
    assert getattr(r, method)() == top
    assert getattr(r, method)() == 0
    r.expect_end()
    for bad in (top + 1, -1, 1 << 70):
        with pytest.raises(EncodeError):
            getattr(Writer(), method)(bad)


@pytest.mark.parametrize(("method", "width"), [("u8", 1), ("u16", 2), ("u32", 4), ("u64", 8)])
def test_integer_truncated(method: str, width: int) -> None:
    r = Reader(b"\x01" * (width - 1))
    with pytest.raises(DecodeError, match="left"):
        getattr(r, method)()


# --- opaque vectors, vectors, optionals, booleans ---------------------------------------------------------------
def test_opaque_round_trip_and_length_prefix() -> None:
    assert opaque(b"") == b"\x00"
    assert opaque(b"abc") == b"\x03abc"
    assert opaque(b"x" * 64)[:2] == b"\x40\x40"
    r = Reader(b"\x03abc\x00")
    assert r.opaque_v() == b"abc"
    assert r.opaque_v() == b""
    assert r.at_end()


def test_opaque_length_beyond_input_is_rejected_with_offset() -> None:
    r = Reader(b"\x00\x05abcd")
    r.u8()
    with pytest.raises(DecodeError, match="exceeds") as info:
        r.opaque_v()
    assert info.value.offset == 1


def test_vector_of_integers_round_trip() -> None:
    data = encode_with(lambda w: w.vector_v([1, 2, 0xFFFF], Writer.u16))
    assert data.hex() == "0600010002ffff"
    assert Reader(data).vector_v(Reader.u16) == [1, 2, 0xFFFF]


def test_vector_item_cannot_overrun_its_vector() -> None:
    # vector length 3 holding u16 items: the second item would read past the vector's end
    r = Reader(bytes.fromhex("03000100" + "02"))
    with pytest.raises(DecodeError):
        r.vector_v(Reader.u16)


def test_vector_length_beyond_input() -> None:
    with pytest.raises(DecodeError, match="exceeds"):
        Reader(bytes.fromhex("0500010002")).vector_v(Reader.u16)


def test_optional_and_bool() -> None:
    def write(w: Writer) -> None:
        w.optional(None, Writer.u8)
        w.optional(7, Writer.u8)
        w.bool(True)

    data = encode_with(write)
    assert data.hex() == "00010701"
    r = Reader(data)
    assert r.optional(Reader.u8) is None
    assert r.optional(Reader.u8) == 7
    assert r.bool() is True
    for bad in (b"\x02\x07", b"\xff"):
        with pytest.raises(DecodeError, match="presence octet"):
            Reader(bad).optional(Reader.u8)
    with pytest.raises(DecodeError, match="boolean"):
        Reader(b"\x02").bool()


def test_fixed_truncated() -> None:
    with pytest.raises(DecodeError, match="need 4 bytes"):
        Reader(b"abc").fixed(4)


# --- structs, trailing bytes, error naming -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Pair:
    a: int
    b: bytes

    def encode(self, w: Writer) -> None:
        w.u16(self.a)
        w.opaque_v(self.b)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("Pair"):
            return cls(r.u16(), r.opaque_v())


def test_struct_round_trip() -> None:
    p = Pair(513, b"hi")
    assert encode(p) == bytes.fromhex("0201026869")
    assert decode(Pair, encode(p)) == p


def test_decode_rejects_trailing_bytes() -> None:
    with pytest.raises(DecodeError, match="1 trailing bytes") as info:
        decode(Pair, encode(Pair(1, b"")) + b"\x00")
    assert info.value.structure == "Pair"
    assert info.value.offset == 3


def test_decode_error_names_the_innermost_structure_and_absolute_offset() -> None:
    data = b"\xaa" + encode(Pair(1, b"abc"))[:-1]
    r = Reader(data, "Outer")
    r.u8()
    with pytest.raises(DecodeError) as info:
        Pair.decode(r)
    assert info.value.structure == "Pair"
    assert info.value.offset == 3
    assert "Pair: at offset 3" in str(info.value)


def test_encode_error_propagates_from_struct() -> None:
    with pytest.raises(EncodeError, match="uint16"):
        encode(Pair(1 << 16, b""))


def test_reader_accepts_bytearray_and_memoryview() -> None:
    data = encode(Pair(5, b"xyz"))
    assert decode(Pair, bytearray(data)) == Pair(5, b"xyz")
    assert decode(Pair, memoryview(data)) == Pair(5, b"xyz")
