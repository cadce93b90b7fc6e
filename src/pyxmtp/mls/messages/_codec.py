"""Small codec helpers shared by the wire-struct modules."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ..codec import Encodable, Reader, Writer
from ..errors import EncodeError


def encode_item(w: Writer, item: Encodable) -> None:
    """``Writer.vector_v(items, encode_item)`` writes a vector of structs."""
    item.encode(w)


def _read_uints(r: Reader, width: int, code: str) -> tuple[int, ...]:
    start = r.pos
    data = r.opaque_v()
    if not data:
        return ()
    n, odd = divmod(len(data), width)
    if odd:
        raise r.error(f"uint{8 * width} vector of {len(data)} bytes", start)
    return struct.unpack(f">{n}{code}", data)


def _write_uints(w: Writer, values: Sequence[int], width: int, code: str) -> None:
    try:
        data = struct.pack(f">{len(values)}{code}", *values)
    except struct.error:
        bad = next((v for v in values if not (isinstance(v, int) and 0 <= v < 1 << (8 * width))), None)
        raise EncodeError(f"value {bad!r} does not fit in uint{8 * width}") from None
    w.opaque_v(data)


def read_uint16s(r: Reader) -> tuple[int, ...]:
    """``uint16 values<V>`` in one unpack (capability lists are read for every leaf)."""
    return _read_uints(r, 2, "H")


def write_uint16s(w: Writer, values: Sequence[int]) -> None:
    _write_uints(w, values, 2, "H")


def read_uint32s(r: Reader) -> tuple[int, ...]:
    """``uint32 values<V>``."""
    return _read_uints(r, 4, "I")


def write_uint32s(w: Writer, values: Sequence[int]) -> None:
    _write_uints(w, values, 4, "I")
