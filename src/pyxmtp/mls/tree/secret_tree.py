"""The secret tree and its per-leaf sender ratchets (RFC 9420 section 9).

One :class:`SecretTree` per epoch, built from the epoch's ``encryption_secret`` and the number of leaves of the
(full) ratchet tree::

    tree_node_[root]_secret  = encryption_secret
    tree_node_[left(N)]      = ExpandWithLabel(tree_node_[N]_secret, "tree", "left", Nh)
    tree_node_[right(N)]     = ExpandWithLabel(tree_node_[N]_secret, "tree", "right", Nh)
    {handshake,application}_ratchet_secret_[N]_[0] = ExpandWithLabel(tree_node_[N]_secret, "handshake" /
                                                     "application", "", Nh)              (N a leaf node)
    ratchet_key_[g]   = DeriveTreeSecret(ratchet_secret_[g], "key", g, Nk)
    ratchet_nonce_[g] = DeriveTreeSecret(ratchet_secret_[g], "nonce", g, Nn)
    ratchet_secret_[g+1] = DeriveTreeSecret(ratchet_secret_[g], "secret", g, Nh)

Deletion schedule (section 9.2). Derivation is lazy: a leaf's path is derived the first time one of its
ratchets is needed, each tree secret is deleted as soon as both its children exist, and a leaf secret as soon
as its two ratchets exist. A ratchet holds only the secret of its next generation ``H`` plus the keys of
*skipped* generations inside the out-of-order window; a key is deleted when it is used and when it falls out
of the window. The serialised form (:meth:`SecretTree.to_bytes`) holds exactly this live state.

Windows (:class:`RatchetConfig`, defaults are XMTP's: tolerance 5, forward distance 1000). With ``H`` the
next generation of a ratchet, a receiver accepts generation ``g`` iff

* ``H <= g <= H + maximum_forward_distance`` (the ratchet advances to ``g + 1``; skipped generations
  ``max(H, g + 1 - out_of_order_tolerance) .. g - 1`` keep their keys), or
* ``g + out_of_order_tolerance >= H`` and the key of ``g`` was skipped and not yet used.

Anything else is :class:`~pyxmtp.mls.errors.MissingKeyError` (used, or too old: deleted) or
:class:`TooDistantInFutureError`.

Two-phase consumption. :meth:`SecretTree.stage` computes the key and nonce of ``(leaf, type, generation)``
without touching the tree and returns a :class:`StagedKey`; :meth:`StagedKey.commit` then applies the
deletions and ratchet advance. If decryption or verification fails, simply drop the staged key: the tree is
unchanged. A staged key is tied to the ratchet state it was computed from; committing it after that ratchet
moved (another commit in between) raises :class:`~pyxmtp.mls.errors.StateError`: stage again.

Senders call :meth:`SecretTree.next_key`, which consumes generation ``H`` at once.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Self

from ..codec import Reader, Writer, encode_varint
from ..constants import ContentType
from ..crypto import CipherSuite, get_suite
from ..errors import LocalMLSError, MissingKeyError, StateError, UnsupportedError, ValidationError
from .math import left, right, root

__all__ = [
    "DEFAULT_RATCHET_CONFIG",
    "RatchetConfig",
    "RatchetType",
    "SecretTree",
    "StagedKey",
    "TooDistantInFutureError",
]

_MAX_GENERATION = 0xFFFF_FFFF


class TooDistantInFutureError(ValidationError):
    """A message's generation is more than ``maximum_forward_distance`` ahead of its ratchet."""


class RatchetType(IntEnum):
    """Which of a leaf's two ratchets: handshake (proposals, commits) or application."""

    handshake = 1
    application = 2

    @classmethod
    def for_content(cls, content_type: ContentType) -> RatchetType:
        """Application data uses the application ratchet, proposals and commits the handshake ratchet."""
        return cls.application if content_type == ContentType.application else cls.handshake


_HANDSHAKE = RatchetType.handshake
_APPLICATION = RatchetType.application


class RatchetConfig:
    """Receiver windows: ``out_of_order_tolerance`` generations behind the ratchet head keep their unused keys;
    a message may be at most ``maximum_forward_distance`` generations ahead of it."""

    __slots__ = ("maximum_forward_distance", "out_of_order_tolerance")

    def __init__(self, out_of_order_tolerance: int = 5, maximum_forward_distance: int = 1000) -> None:
        if not 0 <= out_of_order_tolerance <= _MAX_GENERATION:
            raise LocalMLSError(f"out_of_order_tolerance {out_of_order_tolerance} out of range")
        if not 0 <= maximum_forward_distance <= _MAX_GENERATION:
            raise LocalMLSError(f"maximum_forward_distance {maximum_forward_distance} out of range")
        self.out_of_order_tolerance = out_of_order_tolerance
        self.maximum_forward_distance = maximum_forward_distance

    def __repr__(self) -> str:
        return f"RatchetConfig({self.out_of_order_tolerance}, {self.maximum_forward_distance})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RatchetConfig):
            return NotImplemented
        return (self.out_of_order_tolerance, self.maximum_forward_distance) == (
            other.out_of_order_tolerance,
            other.maximum_forward_distance,
        )

    def __hash__(self) -> int:
        return hash((self.out_of_order_tolerance, self.maximum_forward_distance))


DEFAULT_RATCHET_CONFIG = RatchetConfig()


def _label_info(label: str, length: int) -> bytes:
    """``KDFLabel`` up to (not including) the context: ``uint16 length || opaque label<V>``."""
    full = b"MLS 1.0 " + label.encode()
    return length.to_bytes(2, "big") + encode_varint(len(full)) + full


class _Derivations:
    """Precomputed ``KDFLabel`` prefixes of one suite. Every derivation here asks for at most ``Nh`` bytes, so
    ``KDF.Expand(prk, info, L)`` is the single block ``MAC(prk, info || 0x01)`` truncated to ``L``."""

    __slots__ = (
        "app0",
        "hs0",
        "key",
        "key_len",
        "left",
        "mac",
        "mac_each",
        "nonce",
        "nonce_len",
        "right",
        "secret",
    )

    def __init__(self, suite: CipherSuite) -> None:
        nh = suite.hash_len
        self.mac = suite.mac_function()
        self.mac_each = suite.mac_each_function()
        self.key_len = suite.aead_key_len
        self.nonce_len = suite.aead_nonce_len
        self.left = _label_info("tree", nh) + b"\x04left\x01"
        self.right = _label_info("tree", nh) + b"\x05right\x01"
        self.hs0 = _label_info("handshake", nh) + b"\x00\x01"
        self.app0 = _label_info("application", nh) + b"\x00\x01"
        # DeriveTreeSecret: the context is the uint32 generation as opaque<V> (length byte 4)
        self.key = _label_info("key", self.key_len) + b"\x04"
        self.nonce = _label_info("nonce", self.nonce_len) + b"\x04"
        self.secret = _label_info("secret", nh) + b"\x04"

    def key_nonce(self, secret: bytes, generation: int) -> tuple[bytes, bytes]:
        g = generation.to_bytes(4, "big") + b"\x01"
        key, nonce = self.mac_each(secret, (self.key + g, self.nonce + g))
        return key[: self.key_len], nonce[: self.nonce_len]

    def step(self, secret: bytes, generation: int) -> tuple[bytes, bytes, bytes]:
        """``(key, nonce, next ratchet secret)`` of ``generation``."""
        g = generation.to_bytes(4, "big") + b"\x01"
        key, nonce, next_secret = self.mac_each(secret, (self.key + g, self.nonce + g, self.secret + g))
        return key[: self.key_len], nonce[: self.nonce_len], next_secret

    def next_secret(self, secret: bytes, generation: int) -> bytes:
        return self.mac(secret, self.secret + generation.to_bytes(4, "big") + b"\x01")


class _Ratchet:
    """Immutable state of one sender ratchet: next generation ``head`` with its secret, and the retained keys
    of skipped generations ``(generation, key, nonce)`` in increasing generation order."""

    __slots__ = ("head", "retained", "secret")

    def __init__(self, head: int, secret: bytes, retained: tuple[tuple[int, bytes, bytes], ...] = ()) -> None:
        self.head = head
        self.secret = secret
        self.retained = retained


_COMMITTED = _Ratchet(-1, b"")  # never stored in a tree


class StagedKey:
    """The key and nonce for one ``(leaf, ratchet_type, generation)``, not yet consumed.

    ``key``, ``nonce`` and ``generation`` are plain attributes. :meth:`commit` consumes the generation (and
    clears ``key``/``nonce`` here); dropping the object without committing leaves the tree as it was.
    """

    __slots__ = ("_base", "_new", "_tree", "generation", "key", "leaf", "nonce", "ratchet_type")

    def __init__(
        self,
        tree: SecretTree,
        leaf: int,
        ratchet_type: RatchetType,
        generation: int,
        key: bytes,
        nonce: bytes,
        base: _Ratchet | None,
        new: _Ratchet,
    ) -> None:
        self._tree = tree
        self.leaf = leaf
        self.ratchet_type = ratchet_type
        self.generation = generation
        self.key = key
        self.nonce = nonce
        self._base = base
        self._new = new

    def __repr__(self) -> str:
        return f"<StagedKey leaf={self.leaf} {self.ratchet_type.name} generation={self.generation}>"

    def commit(self) -> None:
        """Consume the generation: delete its key and advance the ratchet. :class:`StateError` if the ratchet
        changed since this key was staged, or if it was already committed."""
        self._tree._commit(self)
        self.key = self.nonce = b""


class SecretTree:
    """The secret tree of one epoch (see the module docstring for the derivation and the windows).

    ``n_leaves`` is the leaf count of the (full) ratchet tree, a power of two.
    """

    __slots__ = ("_d", "_nodes", "_ratchets", "config", "n_leaves", "suite")

    def __init__(
        self,
        suite: CipherSuite,
        encryption_secret: bytes,
        n_leaves: int,
        config: RatchetConfig = DEFAULT_RATCHET_CONFIG,
    ) -> None:
        if n_leaves < 1 or n_leaves & (n_leaves - 1) or n_leaves > 1 << 31:
            raise LocalMLSError(f"secret tree needs a power-of-two leaf count, got {n_leaves}")
        if len(encryption_secret) != suite.hash_len:
            raise LocalMLSError(f"encryption_secret must be {suite.hash_len} bytes")
        self.suite = suite
        self.n_leaves = n_leaves
        self.config = config
        self._d = _Derivations(suite)
        self._nodes: dict[int, bytes] = {root(n_leaves): bytes(encryption_secret)}
        # index by RatchetType value: [unused, handshake, application]
        self._ratchets: tuple[dict[int, _Ratchet], ...] = ({}, {}, {})

    @property
    def stored_nodes(self) -> tuple[int, ...]:
        """Node indices that still hold a tree secret (not yet expanded), in order. For tests and inspection."""
        return tuple(sorted(self._nodes))

    def derived_leaves(self, ratchet_type: RatchetType) -> tuple[int, ...]:
        """Leaves whose ``ratchet_type`` ratchet exists (their path has been derived)."""
        return tuple(sorted(self._ratchets[ratchet_type]))

    # --- tree derivation --------------------------------------------------------------------------------
    def _check_leaf(self, leaf: int) -> None:
        if not 0 <= leaf < self.n_leaves:
            raise ValidationError(f"leaf index {leaf} outside a secret tree of {self.n_leaves} leaves")

    def _derive_path(self, leaf: int) -> tuple[int, list[tuple[int, bytes]], bytes, bytes]:
        """Without changing the tree: the stored ancestor the leaf derives from, the secrets of the copath
        nodes that derivation creates, and the leaf's two initial ratchet secrets."""
        target = 2 * leaf
        nodes = self._nodes
        x = root(self.n_leaves)
        while x not in nodes:
            if x == target:
                raise StateError(f"secret tree has no secret for leaf {leaf}")  # invariant broken
            x = left(x) if target < x else right(x)
        start = x
        secret = nodes[x]
        d = self._d
        created: list[tuple[int, bytes]] = []
        mac_each = d.mac_each
        left_info, right_info = d.left, d.right
        while x != target:
            lx, rx = left(x), right(x)
            ls, rs = mac_each(secret, (left_info, right_info))
            if target < x:
                created.append((rx, rs))
                x, secret = lx, ls
            else:
                created.append((lx, ls))
                x, secret = rx, rs
        hs0, app0 = mac_each(secret, (d.hs0, d.app0))
        return start, created, hs0, app0

    def _derive_leaf(self, leaf: int) -> None:
        start, created, hs0, app0 = self._derive_path(leaf)
        del self._nodes[start]
        self._nodes.update(created)
        self._ratchets[_HANDSHAKE][leaf] = _Ratchet(0, hs0)
        self._ratchets[_APPLICATION][leaf] = _Ratchet(0, app0)

    def _ratchet_or_initial(self, leaf: int, rtype: RatchetType) -> tuple[_Ratchet | None, _Ratchet]:
        """``(stored ratchet or None, the ratchet to compute from)``; no change to the tree."""
        current = self._ratchets[rtype].get(leaf)
        if current is not None:
            return current, current
        _, _, hs0, app0 = self._derive_path(leaf)
        return None, _Ratchet(0, hs0 if rtype is _HANDSHAKE else app0)

    # --- receiving ----------------------------------------------------------------------------------------
    def stage(self, leaf: int, ratchet_type: RatchetType, generation: int) -> StagedKey:
        """The key and nonce for ``generation`` of a leaf's ratchet, without consuming them.

        Raises :class:`ValidationError` for a leaf outside the tree, :class:`MissingKeyError` for a generation
        already used or behind the out-of-order window, :class:`TooDistantInFutureError` beyond the maximum
        forward distance.
        """
        base = self._ratchets[ratchet_type].get(leaf)
        if base is not None and generation == base.head and not base.retained:  # in-order: the common case
            key, nonce, next_secret = self._d.step(base.secret, generation)
            new = _Ratchet(generation + 1, next_secret)
            return StagedKey(self, leaf, ratchet_type, generation, key, nonce, base, new)
        self._check_leaf(leaf)
        if not 0 <= generation <= _MAX_GENERATION:
            raise ValidationError(f"generation {generation} out of range")
        base, r = self._ratchet_or_initial(leaf, ratchet_type)
        head = r.head
        tolerance = self.config.out_of_order_tolerance
        if generation < head:
            for i, (g, key, nonce) in enumerate(r.retained):
                if g == generation:
                    kept = r.retained[:i] + r.retained[i + 1 :]
                    new = _Ratchet(head, r.secret, kept)
                    return StagedKey(self, leaf, ratchet_type, generation, key, nonce, base, new)
            why = (
                "was already used" if generation + tolerance >= head else "is outside the out-of-order window"
            )
            raise MissingKeyError(
                f"leaf {leaf} {ratchet_type.name} generation {generation} {why} (ratchet at {head})"
            )
        if generation - head > self.config.maximum_forward_distance:
            raise TooDistantInFutureError(
                f"leaf {leaf} {ratchet_type.name} generation {generation} is more than "
                f"{self.config.maximum_forward_distance} ahead of the ratchet at {head}"
            )
        d = self._d
        new_head = generation + 1
        keep_from = new_head - tolerance
        retained = [t for t in r.retained if t[0] >= keep_from]
        secret = r.secret
        for g in range(head, generation):
            if g >= keep_from:
                retained.append((g, *d.key_nonce(secret, g)))
            secret = d.next_secret(secret, g)
        key, nonce, next_secret = d.step(secret, generation)
        new = _Ratchet(new_head, next_secret, tuple(retained))
        return StagedKey(self, leaf, ratchet_type, generation, key, nonce, base, new)

    def _commit(self, staged: StagedKey) -> None:
        if staged._tree is not self:
            raise LocalMLSError("staged key belongs to another secret tree")
        table = self._ratchets[staged.ratchet_type]
        current = table.get(staged.leaf)
        if current is not staged._base:
            raise StateError(
                f"leaf {staged.leaf} {staged.ratchet_type.name} ratchet changed since generation "
                f"{staged.generation} was staged (or it was already committed); stage it again"
            )
        if current is None:
            self._derive_leaf(staged.leaf)
        table[staged.leaf] = staged._new
        staged._base = _COMMITTED  # a second commit fails the identity check above

    def consume(self, leaf: int, ratchet_type: RatchetType, generation: int) -> tuple[bytes, bytes]:
        """:meth:`stage` and commit at once: the key and nonce of ``generation``."""
        staged = self.stage(leaf, ratchet_type, generation)
        key, nonce = staged.key, staged.nonce
        staged.commit()
        return key, nonce

    # --- sending ------------------------------------------------------------------------------------------
    def next_key(self, leaf: int, ratchet_type: RatchetType) -> tuple[int, bytes, bytes]:
        """Consume the next generation of our own ratchet: ``(generation, key, nonce)``."""
        self._check_leaf(leaf)
        table = self._ratchets[ratchet_type]
        r = table.get(leaf)
        if r is None:
            self._derive_leaf(leaf)
            r = table[leaf]
        g = r.head
        if g > _MAX_GENERATION:
            raise StateError(f"leaf {leaf} {ratchet_type.name} ratchet is exhausted")
        key, nonce, next_secret = self._d.step(r.secret, g)
        retained = r.retained
        if retained and retained[0][0] < g + 1 - self.config.out_of_order_tolerance:
            keep_from = g + 1 - self.config.out_of_order_tolerance
            retained = tuple(t for t in retained if t[0] >= keep_from)
        table[leaf] = _Ratchet(g + 1, next_secret, retained)
        return g, key, nonce

    def next_generation(self, leaf: int, ratchet_type: RatchetType) -> int:
        """The generation :meth:`next_key` would use next (0 for an underived leaf)."""
        self._check_leaf(leaf)
        r = self._ratchets[ratchet_type].get(leaf)
        return 0 if r is None else r.head

    # --- persistence --------------------------------------------------------------------------------------
    def encode(self, w: Writer) -> None:
        """::

        struct { uint32 node; opaque secret<V>; } TreeNodeSecret;
        struct { uint32 generation; opaque key<V>; opaque nonce<V>; } RetainedKey;
        struct { uint32 leaf; uint8 ratchet_type; uint64 head; opaque secret<V>; RetainedKey keys<V>; }
            LeafRatchet;
        struct {
            uint16 cipher_suite; uint32 n_leaves; uint32 out_of_order_tolerance;
            uint32 maximum_forward_distance; TreeNodeSecret nodes<V>; LeafRatchet ratchets<V>;
        } SecretTree;
        """
        w.u16(self.suite.id)
        w.u32(self.n_leaves)
        w.u32(self.config.out_of_order_tolerance)
        w.u32(self.config.maximum_forward_distance)
        nodes = Writer()
        for node in sorted(self._nodes):
            nodes.u32(node)
            nodes.opaque_v(self._nodes[node])
        w.opaque_v(nodes.getvalue())
        ratchets = Writer()
        for rtype in (_HANDSHAKE, _APPLICATION):
            table = self._ratchets[rtype]
            for leaf in sorted(table):
                r = table[leaf]
                ratchets.u32(leaf)
                ratchets.u8(rtype)
                ratchets.u64(r.head)
                ratchets.opaque_v(r.secret)
                keys = Writer()
                for g, key, nonce in r.retained:
                    keys.u32(g)
                    keys.opaque_v(key)
                    keys.opaque_v(nonce)
                ratchets.opaque_v(keys.getvalue())
        w.opaque_v(ratchets.getvalue())

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("SecretTree"):
            start = r.pos
            suite_id, n_leaves, tolerance, distance = r.u16(), r.u32(), r.u32(), r.u32()
            try:
                suite = get_suite(suite_id)
                tree = cls(suite, bytes(suite.hash_len), n_leaves, RatchetConfig(tolerance, distance))
            except (LocalMLSError, UnsupportedError) as exc:
                raise r.error(str(exc), start) from None
            tree._nodes.clear()
            nh = suite.hash_len
            width = 2 * n_leaves - 1

            def node_secret(r: Reader) -> tuple[int, bytes]:
                at = r.pos
                node, secret = r.u32(), r.opaque_v()
                if node >= width or len(secret) != nh:
                    raise r.error(f"bad node secret entry for node {node}", at)
                return node, secret

            tree._nodes.update(r.vector_v(node_secret))

            def retained_key(r: Reader) -> tuple[int, bytes, bytes]:
                at = r.pos
                g, key, nonce = r.u32(), r.opaque_v(), r.opaque_v()
                if len(key) != suite.aead_key_len or len(nonce) != suite.aead_nonce_len:
                    raise r.error(f"bad retained key for generation {g}", at)
                return g, key, nonce

            def ratchet(r: Reader) -> None:
                at = r.pos
                leaf, rtype_value, head, secret = r.u32(), r.u8(), r.u64(), r.opaque_v()
                retained = tuple(r.vector_v(retained_key))
                if (
                    leaf >= n_leaves
                    or rtype_value not in (_HANDSHAKE, _APPLICATION)
                    or len(secret) != nh
                    or head > _MAX_GENERATION + 1
                    or any(g >= head for g, _, _ in retained)
                ):
                    raise r.error(f"bad ratchet entry for leaf {leaf}", at)
                tree._ratchets[rtype_value][leaf] = _Ratchet(head, secret, retained)

            r.vector_v(ratchet)
            return tree

    def to_bytes(self) -> bytes:
        """The live state (no deleted secret), for persistence."""
        w = Writer()
        self.encode(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Inverse of :meth:`to_bytes`; :class:`DecodeError` on malformed input."""
        r = Reader(data, "SecretTree")
        tree = cls.decode(r)
        r.expect_end()
        return tree
