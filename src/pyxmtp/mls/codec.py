"""TLS presentation language as RFC 9420 uses it (section 2.1).

Fixed-width big-endian integers, QUIC-style variable-length integers for vector lengths (minimal encoding
only; the ``0b11`` prefix is rejected), length-prefixed vectors, optionals and structs.

Structs are frozen dataclasses with ``encode(self, w: Writer)`` and ``decode(cls, r: Reader)``. Top-level helpers
:func:`encode` and :func:`decode` wrap them; :func:`decode` rejects trailing bytes.

Decoding raises :class:`DecodeError` naming the structure and the absolute offset. Encoding raises
:class:`EncodeError` on any value out of range: integers are never masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, Self, TypeVar

from .errors import DecodeError, EncodeError

T = TypeVar("T")

MAX_VARINT = (1 << 30) - 1


class Encodable(Protocol):
    def encode(self, w: Writer) -> None: ...


class Decodable(Protocol):
    @classmethod
    def decode(cls, r: Reader) -> Self: ...


E = TypeVar("E", bound=Decodable)


class Reader:
    """Reads TLS-encoded values from a byte buffer.

    ``what`` names the structure for error messages; :meth:`structure` temporarily renames it while a nested
    structure is read, so an error names the innermost structure that failed.
    """

    __slots__ = ("_buf", "_end", "_pos", "what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str = "data") -> None:
        # one bytes object: slicing it gives the values without a memoryview in between
        self._buf = data if type(data) is bytes else bytes(memoryview(data).cast("B"))
        self._pos = 0
        self._end = len(self._buf)
        self.what = what

    # --- position -----------------------------------------------------------------------------------------
    @property
    def pos(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def at_end(self) -> bool:
        return self._pos >= self._end

    def error(self, reason: str, offset: int | None = None) -> DecodeError:
        return DecodeError(self.what, self._pos if offset is None else offset, reason)

    def expect_end(self) -> None:
        if self._pos != self._end:
            raise self.error(f"{self._end - self._pos} trailing bytes")

    def structure(self, name: str) -> _Named:
        """``with r.structure("LeafNode"): ...`` names errors raised inside after ``name``."""
        return _Named(self, name)

    # --- raw --------------------------------------------------------------------------------------------
    def fixed(self, n: int) -> bytes:
        """Exactly ``n`` raw bytes."""
        start = self._pos
        end = start + n
        if end > self._end:
            raise self.error(f"need {n} bytes, {self._end - start} left")
        self._pos = end
        return self._buf[start:end]

    def rest(self) -> bytes:
        """Every byte left (used for opaque trailing payloads)."""
        return self.fixed(self._end - self._pos)

    # --- integers ---------------------------------------------------------------------------------------
    def _int(self, n: int) -> int:
        start = self._pos
        end = start + n
        if end > self._end:
            raise self.error(f"need {n}-byte integer, {self._end - start} bytes left")
        self._pos = end
        return int.from_bytes(self._buf[start:end], "big")

    def u8(self) -> int:
        if self._pos >= self._end:
            raise self.error("need 1-byte integer, 0 bytes left")
        v = self._buf[self._pos]
        self._pos += 1
        return v

    def u16(self) -> int:
        return self._int(2)

    def u32(self) -> int:
        return self._int(4)

    def u64(self) -> int:
        return self._int(8)

    def varint(self) -> int:
        """RFC 9420 section 2.1.2 variable-length integer: minimal encoding only, prefix 0b11 invalid."""
        start = self._pos
        if start >= self._end:
            raise self.error("need variable-length integer, 0 bytes left")
        first = self._buf[start]
        prefix = first >> 6
        if prefix == 0:
            self._pos = start + 1
            return first
        if prefix == 3:
            raise self.error("invalid variable-length integer prefix 0b11", start)
        length = 1 << prefix
        end = start + length
        if end > self._end:
            raise self.error(
                f"need {length}-byte variable-length integer, {self._end - start} bytes left", start
            )
        value = int.from_bytes(self._buf[start:end], "big") & ((1 << (8 * length - 2)) - 1)
        self._pos = end
        if value < (1 << (8 * (length >> 1) - 2)):
            raise self.error(f"non-minimal variable-length integer encoding of {value}", start)
        return value

    # --- vectors ----------------------------------------------------------------------------------------
    def _length_prefixed_end(self) -> int:
        start = self._pos
        n = self.varint()
        end = self._pos + n
        if end > self._end:
            raise self.error(f"vector length {n} exceeds the {self._end - self._pos} bytes left", start)
        return end

    def opaque_v(self) -> bytes:
        """``opaque data<V>``."""
        pos = self._pos
        if pos < self._end:
            first = self._buf[pos]
            if first < 0x40:  # one-byte length: the common case, read inline
                end = pos + 1 + first
                if end <= self._end:
                    self._pos = end
                    return self._buf[pos + 1 : end]
        end = self._length_prefixed_end()
        start = self._pos
        self._pos = end
        return self._buf[start:end]

    def bytes_since(self, start: int) -> bytes:
        """The bytes read from absolute offset ``start`` up to the current position."""
        return self._buf[start : self._pos]

    def vector_v(self, item: Callable[[Reader], T]) -> list[T]:
        """``T items<V>``: a varint byte length, then items until exactly that many bytes are consumed."""
        end = self._length_prefixed_end()
        saved_end = self._end
        self._end = end
        try:
            out: list[T] = []
            while self._pos < end:
                before = self._pos
                out.append(item(self))
                if self._pos == before:
                    raise self.error("vector item consumed no bytes")
        finally:
            self._end = saved_end
        if self._pos != end:  # pragma: no cover - item() cannot read past the narrowed end
            raise self.error("vector item overran its vector")
        return out

    def optional(self, item: Callable[[Reader], T]) -> T | None:
        """``optional<T>``: a presence octet 0 or 1, then the value."""
        start = self._pos
        flag = self.u8()
        if flag == 0:
            return None
        if flag != 1:
            raise self.error(f"optional presence octet must be 0 or 1, got {flag}", start)
        return item(self)

    def bool(self) -> bool:
        start = self._pos
        flag = self.u8()
        if flag > 1:
            raise self.error(f"boolean must be 0 or 1, got {flag}", start)
        return flag == 1

    def struct(self, cls: type[E]) -> E:
        return cls.decode(self)


class _Named:
    __slots__ = ("_name", "_r", "_saved")

    def __init__(self, r: Reader, name: str) -> None:
        self._r = r
        self._name = name
        self._saved = ""

    def __enter__(self) -> Reader:
        self._saved = self._r.what
        self._r.what = self._name
        return self._r

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        # Keep the inner name when an error propagates: it names the innermost structure.
        if exc is None:
            self._r.what = self._saved


class Writer:
    """Builds TLS-encoded bytes. Every out-of-range value raises :class:`EncodeError`."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    def fixed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def _int(self, v: int, n: int) -> None:
        if not 0 <= v < (1 << (8 * n)):
            raise EncodeError(f"value {v} does not fit in uint{8 * n}")
        self._buf += v.to_bytes(n, "big")

    def u8(self, v: int) -> None:
        self._int(v, 1)

    def u16(self, v: int) -> None:
        self._int(v, 2)

    def u32(self, v: int) -> None:
        self._int(v, 4)

    def u64(self, v: int) -> None:
        self._int(v, 8)

    def bool(self, v: bool) -> None:
        self._buf.append(1 if v else 0)

    def varint(self, v: int) -> None:
        self._buf += encode_varint(v)

    def opaque_v(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += encode_varint(len(data))
        self._buf += data

    def vector_v(self, items: Iterable[T], item: Callable[[Writer, T], None]) -> None:
        inner = Writer()
        for x in items:
            item(inner, x)
        self.opaque_v(inner._buf)

    def optional(self, value: T | None, item: Callable[[Writer, T], None]) -> None:
        if value is None:
            self._buf.append(0)
        else:
            self._buf.append(1)
            item(self, value)

    def struct(self, value: Encodable) -> None:
        value.encode(self)


_ONE_BYTE_VARINTS = tuple(bytes((i,)) for i in range(0x40))


def encode_varint(v: int) -> bytes:
    if v < 0x40:
        if v < 0:
            raise EncodeError(f"variable-length integer must be non-negative, got {v}")
        return _ONE_BYTE_VARINTS[v]
    if v < 0x4000:
        return (v | 0x4000).to_bytes(2, "big")
    if v <= MAX_VARINT:
        return (v | 0x8000_0000).to_bytes(4, "big")
    raise EncodeError(f"length {v} exceeds the variable-length integer maximum {MAX_VARINT}")


def encode(value: Encodable) -> bytes:
    """Serialize a struct."""
    w = Writer()
    value.encode(w)
    return w.getvalue()


def decode(cls: type[E], data: bytes | bytearray | memoryview, what: str | None = None) -> E:
    """Parse exactly one ``cls`` from ``data``; trailing bytes are an error."""
    r = Reader(data, what or cls.__name__)
    value = cls.decode(r)
    r.what = what or cls.__name__
    r.expect_end()
    return value


def opaque(data: bytes) -> bytes:
    """``data`` as ``opaque<V>`` (length-prefixed)."""
    return encode_varint(len(data)) + data


def encode_with(fn: Callable[[Writer], None]) -> bytes:
    """Run ``fn`` on a fresh writer and return the bytes (for ad-hoc structures)."""
    w = Writer()
    fn(w)
    return w.getvalue()
