"""Copy-on-write containers behind :class:`~pyxmtp.mls.tree.ratchet_tree.RatchetTree`.

A staged commit works on a copy of the tree; these containers make that copy O(1)-ish: arrays are split into
256-entry chunks and key indexes into small hash shards, shared between copies until first written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_SHIFT = 8
_CHUNK = 1 << _SHIFT
_MASK = _CHUNK - 1
_MIN_SHARDS = 8
_SHARD_KEYS = 32


class _CowArray(Generic[T]):
    """A list in 256-entry chunks shared by copies; a chunk is duplicated on its first write after a copy."""

    __slots__ = ("_chunks", "_len", "_owned")

    def __init__(self, values: list[T]) -> None:
        self._chunks = [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]
        self._owned = [True] * len(self._chunks)
        self._len = len(values)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> T:
        return self._chunks[i >> _SHIFT][i & _MASK]

    def __setitem__(self, i: int, value: T) -> None:
        c = i >> _SHIFT
        if not self._owned[c]:
            self._chunks[c] = self._chunks[c].copy()
            self._owned[c] = True
        self._chunks[c][i & _MASK] = value

    def __iter__(self) -> Iterator[T]:
        for chunk in self._chunks:
            yield from chunk

    def copy(self) -> _CowArray[T]:
        new: _CowArray[T] = _CowArray.__new__(_CowArray)
        new._chunks = self._chunks.copy()
        new._len = self._len
        self._owned = [False] * len(self._chunks)
        new._owned = self._owned.copy()
        return new

    def resized(self, length: int, fill: T) -> _CowArray[T]:
        """A new array of the first ``length`` entries, padded with ``fill`` (O(n): on doubling/truncation)."""
        values = list(self)[:length]
        return _CowArray(values + [fill] * (length - len(values)))


class _CowIndex:
    """``dict[bytes, int]`` in hash shards (about 32 keys each) shared by copies; a shard is duplicated on its
    first write after a copy. :meth:`reshard` keeps shards small as the tree grows."""

    __slots__ = ("_mask", "_owned", "_shards")

    def __init__(self, size_hint: int) -> None:
        n = _MIN_SHARDS
        while n * _SHARD_KEYS < size_hint:
            n *= 2
        self._shards: list[dict[bytes, int]] = [{} for _ in range(n)]
        self._owned = [True] * n
        self._mask = n - 1

    def get(self, key: bytes) -> int | None:
        return self._shards[hash(key) & self._mask].get(key)

    def _writable(self, key: bytes) -> dict[bytes, int]:
        s = hash(key) & self._mask
        if not self._owned[s]:
            self._shards[s] = self._shards[s].copy()
            self._owned[s] = True
        return self._shards[s]

    def set(self, key: bytes, value: int) -> None:
        self._writable(key)[key] = value

    def discard(self, key: bytes, value: int) -> None:
        """Remove ``key`` if it maps to ``value``."""
        if self.get(key) == value:
            del self._writable(key)[key]

    def copy(self) -> _CowIndex:
        new = _CowIndex.__new__(_CowIndex)
        new._shards = self._shards.copy()
        new._mask = self._mask
        self._owned = [False] * len(self._shards)
        new._owned = self._owned.copy()
        return new

    def reshard(self, size_hint: int) -> None:
        """Rebuild with more shards if ``size_hint`` keys would make them large (O(n), on tree doubling)."""
        if (self._mask + 1) * _SHARD_KEYS * 2 >= size_hint:
            return
        bigger = _CowIndex(size_hint)
        for shard in self._shards:
            for key, value in shard.items():
                bigger._shards[hash(key) & bigger._mask][key] = value
        self._shards, self._owned, self._mask = bigger._shards, bigger._owned, bigger._mask
