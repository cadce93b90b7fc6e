"""deserialization.json: QUIC-style variable-length vector headers."""

from __future__ import annotations

from ..codec import Reader, encode_varint
from . import Case, expect


def check(case: Case) -> None:
    header = bytes.fromhex(case["vlbytes_header"])
    expect("encode", encode_varint(case["length"]), header)
    r = Reader(header, "vlbytes header")
    expect("decode", r.varint(), case["length"])
    r.expect_end()
