"""Our private view of the ratchet tree (RFC 9420 section 4.1, "tree invariant"): the HPKE private key of our
leaf and of the nodes on our direct path whose private keys we know.

A :class:`TreePrivateState` is immutable: TreeKEM operations return a new one, so a failed or discarded
(staged) commit leaves the current state untouched. Path secrets are not kept: once the node keys are
derived, a path secret is only needed to build Welcomes right after our own commit, and
:class:`~pyxmtp.mls.tree.treekem.CreatedUpdatePath` holds them for that. Keys for nodes that were blanked
or replaced are dropped by :meth:`TreePrivateState.pruned` (forward secrecy).

Serialized for persistence (:meth:`TreePrivateState.to_bytes`) as::

    struct { uint32 node; opaque private_key<V>; } PathKey;
    struct {
        uint8 format = 1;
        uint16 cipher_suite;
        uint32 leaf_index;
        opaque leaf_private_key<V>;
        PathKey path_keys<V>;        /* ascending node index */
    } TreePrivateState;

The bytes are secret: store them encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from ..codec import Reader, Writer
from ..crypto.keys import HPKEPrivateKey
from ..crypto.suite import CipherSuite
from ..errors import LocalMLSError, ValidationError

if TYPE_CHECKING:
    from .ratchet_tree import RatchetTree

_FORMAT = 1


@dataclass(frozen=True, slots=True)
class TreePrivateState:
    """``leaf_index``: our leaf. ``leaf_key``: its encryption private key. ``path_keys``: node index ->
    private key, for nodes on our direct path (never mutated: treat as read-only)."""

    suite: CipherSuite
    leaf_index: int
    leaf_key: HPKEPrivateKey
    path_keys: Mapping[int, HPKEPrivateKey] = field(default_factory=dict)

    def __repr__(self) -> str:  # no secrets
        nodes = ",".join(str(x) for x in sorted(self.path_keys))
        return f"<TreePrivateState suite=0x{self.suite.id:04x} leaf={self.leaf_index} path_keys=[{nodes}]>"

    def key_for_node(self, x: int) -> HPKEPrivateKey | None:
        """Our private key for node ``x`` (our leaf is node ``2 * leaf_index``), or None."""
        if x == 2 * self.leaf_index:
            return self.leaf_key
        return self.path_keys.get(x)

    def with_leaf_key(self, leaf_key: HPKEPrivateKey) -> TreePrivateState:
        """After our own Update is committed: the new leaf key, and no path keys (the Update blanked our
        direct path)."""
        return TreePrivateState(self.suite, self.leaf_index, leaf_key, {})

    def pruned(self, tree: RatchetTree) -> TreePrivateState:
        """Only the path keys still usable in ``tree``: on our direct path, at a non-blank node whose public
        key is the key's. Call after proposals blank nodes (Update, Remove) or the tree is truncated."""
        on_path = set(tree.direct_path(self.leaf_index)) if self.leaf_index < tree.n_leaves else set()
        kept: dict[int, HPKEPrivateKey] = {}
        for x, key in self.path_keys.items():
            if x in on_path:
                node = tree.node(x)
                if node is not None and node.encryption_key == key.public_bytes():
                    kept[x] = key
        if len(kept) == len(self.path_keys):
            return self
        return TreePrivateState(self.suite, self.leaf_index, self.leaf_key, kept)

    def check_matches(self, tree: RatchetTree) -> None:
        """Raise :class:`ValidationError` unless every key we hold is for a non-blank node of ``tree`` on our
        direct path (or our leaf) holding the matching public key."""
        leaf = tree.leaf(self.leaf_index) if self.leaf_index < tree.n_leaves else None
        if leaf is None or leaf.encryption_key != self.leaf_key.public_bytes():
            raise ValidationError(f"private state: leaf {self.leaf_index} does not hold our leaf public key")
        on_path = set(tree.direct_path(self.leaf_index))
        for x, key in sorted(self.path_keys.items()):
            node = tree.node(x) if x < tree.n_nodes else None
            if x not in on_path or node is None or node.encryption_key != key.public_bytes():
                raise ValidationError(
                    f"private state: node {x} does not hold the public key of our private key"
                )

    # --- persistence -------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        w = Writer()
        w.u8(_FORMAT)
        w.u16(self.suite.id)
        w.u32(self.leaf_index)
        w.opaque_v(self.leaf_key.to_bytes())

        def write_key(ww: Writer, item: tuple[int, HPKEPrivateKey]) -> None:
            ww.u32(item[0])
            ww.opaque_v(item[1].to_bytes())

        w.vector_v(sorted(self.path_keys.items()), write_key)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, suite: CipherSuite, data: bytes) -> Self:
        """Parse :meth:`to_bytes` output. DecodeError if malformed, LocalMLSError for another suite's state,
        InvalidKey for a key that does not parse."""
        r = Reader(data, "TreePrivateState")
        start = r.pos
        fmt = r.u8()
        if fmt != _FORMAT:
            raise r.error(f"unknown format {fmt}", start)
        suite_id = r.u16()
        if suite_id != suite.id:
            raise LocalMLSError(f"private tree state is for suite 0x{suite_id:04x}, not 0x{suite.id:04x}")
        leaf_index = r.u32()
        leaf_key = suite.hpke_private_key_from_bytes(r.opaque_v())
        pairs = r.vector_v(lambda rr: (rr.u32(), rr.opaque_v()))
        r.expect_end()
        keys: dict[int, HPKEPrivateKey] = {}
        for x, raw in pairs:
            if x in keys:
                raise r.error(f"node {x} listed twice")
            keys[x] = suite.hpke_private_key_from_bytes(raw)
        return cls(suite, leaf_index, leaf_key, keys)
