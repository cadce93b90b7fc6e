"""Ratchet-tree node structures (RFC 9420 sections 7.1-7.2) and the ratchet tree encoding (section 12.4.3.3).

::

    struct {
        ProtocolVersion versions<V>;
        CipherSuite cipher_suites<V>;
        ExtensionType extensions<V>;
        ProposalType proposals<V>;
        CredentialType credentials<V>;
    } Capabilities;

    struct { uint64 not_before; uint64 not_after; } Lifetime;

    struct {
        HPKEPublicKey encryption_key;
        SignaturePublicKey signature_key;
        Credential credential;
        Capabilities capabilities;
        LeafNodeSource leaf_node_source;
        select (LeafNode.leaf_node_source) {
            case key_package: Lifetime lifetime;
            case update:      struct{};
            case commit:      opaque parent_hash<V>;
        };
        Extension extensions<V>;
        opaque signature<V>;   /* SignWithLabel(., "LeafNodeTBS", LeafNodeTBS) */
    } LeafNode;

    struct {
        HPKEPublicKey encryption_key;
        opaque parent_hash<V>;
        uint32 unmerged_leaves<V>;
    } ParentNode;

    struct {
        NodeType node_type;
        select (Node.node_type) { case leaf: LeafNode leaf_node; case parent: ParentNode parent_node; };
    } Node;

    optional<Node> ratchet_tree<V>;

Capability lists are plain ints so GREASE and unknown values survive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Self

from ..codec import Reader, Writer, encode_varint
from ..constants import ExtensionType, LeafNodeSource, NodeType
from ..errors import EncodeError
from ..messages._codec import encode_item, read_uint16s, read_uint32s, write_uint16s, write_uint32s
from ..messages.credential import Credential
from ..messages.extensions import Extension, TypedExtension, decode_extensions, encode_extensions

_SOURCES = {s.value: s for s in LeafNodeSource}
_KEY_PACKAGE = LeafNodeSource.key_package
_UPDATE = LeafNodeSource.update
_COMMIT = LeafNodeSource.commit


@dataclass(frozen=True, slots=True)
class Capabilities:
    versions: tuple[int, ...] = ()
    cipher_suites: tuple[int, ...] = ()
    extensions: tuple[int, ...] = ()
    proposals: tuple[int, ...] = ()
    credentials: tuple[int, ...] = ()

    def encode(self, w: Writer) -> None:
        write_uint16s(w, self.versions)
        write_uint16s(w, self.cipher_suites)
        write_uint16s(w, self.extensions)
        write_uint16s(w, self.proposals)
        write_uint16s(w, self.credentials)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(read_uint16s(r), read_uint16s(r), read_uint16s(r), read_uint16s(r), read_uint16s(r))


@dataclass(frozen=True, slots=True)
class Lifetime:
    """Validity window in seconds since the Unix epoch, both ends inclusive."""

    not_before: int
    not_after: int

    def encode(self, w: Writer) -> None:
        w.u64(self.not_before)
        w.u64(self.not_after)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.u64(), r.u64())


@dataclass(frozen=True, slots=True)
class LeafNode:
    """A member's leaf. ``lifetime`` is set iff the source is key_package, ``parent_hash`` iff it is commit.

    The encoded content (every field but the signature) is computed once and kept (:meth:`content_bytes`):
    a decoded leaf keeps the bytes it was read from, so that a joiner validating a tree of N leaves encodes
    none of them again for the signatures (LeafNodeTBS) and the tree hash (the codec only accepts canonical
    encodings, so these are the bytes re-encoding would give).
    """

    encryption_key: bytes
    signature_key: bytes
    credential: Credential
    capabilities: Capabilities
    leaf_node_source: LeafNodeSource
    lifetime: Lifetime | None
    parent_hash: bytes | None
    extensions: tuple[Extension, ...]
    signature: bytes
    _content: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def _encode_content(self, w: Writer) -> None:
        w.opaque_v(self.encryption_key)
        w.opaque_v(self.signature_key)
        self.credential.encode(w)
        self.capabilities.encode(w)
        source = self.leaf_node_source
        w.u8(source)
        if source == _KEY_PACKAGE:
            if self.lifetime is None or self.parent_hash is not None:
                raise EncodeError("key_package leaf node needs a lifetime and no parent_hash")
            self.lifetime.encode(w)
        elif source == _COMMIT:
            if self.parent_hash is None or self.lifetime is not None:
                raise EncodeError("commit leaf node needs a parent_hash and no lifetime")
            w.opaque_v(self.parent_hash)
        elif source == _UPDATE:
            if self.lifetime is not None or self.parent_hash is not None:
                raise EncodeError("update leaf node carries neither lifetime nor parent_hash")
        else:
            raise EncodeError(f"unknown leaf node source {source}")
        encode_extensions(w, self.extensions)

    def content_bytes(self) -> bytes:
        """The encoded LeafNode without its signature (computed once)."""
        content = self._content
        if content is None:
            w = Writer()
            self._encode_content(w)
            content = w.getvalue()
            object.__setattr__(self, "_content", content)
        return content

    def encode(self, w: Writer) -> None:
        w.fixed(self.content_bytes())
        w.opaque_v(self.signature)

    def tbs(self, group_id: bytes | None = None, leaf_index: int | None = None) -> bytes:
        """LeafNodeTBS: the content, then for update and commit sources ``group_id<V>`` and ``uint32 leaf_index``.

        ``group_id`` and ``leaf_index`` are required for update/commit leaves and ignored for key_package
        leaves (whose signature does not bind a group), so a caller may pass them for every leaf.
        """
        content = self.content_bytes()
        if self.leaf_node_source == _KEY_PACKAGE:
            return content
        if group_id is None or leaf_index is None:
            raise EncodeError(
                f"LeafNodeTBS of a {self.leaf_node_source.name} leaf needs group_id and leaf_index"
            )
        if not 0 <= leaf_index <= 0xFFFF_FFFF:
            raise EncodeError(f"leaf index {leaf_index} does not fit in uint32")
        return b"".join((content, encode_varint(len(group_id)), group_id, leaf_index.to_bytes(4, "big")))

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("LeafNode"):
            begin = r.pos
            encryption_key = r.opaque_v()
            signature_key = r.opaque_v()
            credential = Credential.decode(r)
            capabilities = Capabilities.decode(r)
            start = r.pos
            source = _SOURCES.get(r.u8())
            lifetime: Lifetime | None = None
            parent_hash: bytes | None = None
            if source is _KEY_PACKAGE:
                lifetime = Lifetime.decode(r)
            elif source is _COMMIT:
                parent_hash = r.opaque_v()
            elif source is None:
                raise r.error("unknown leaf_node_source", start)
            extensions = decode_extensions(r)
            content = r.bytes_since(begin)
            leaf = cls(
                encryption_key,
                signature_key,
                credential,
                capabilities,
                source,
                lifetime,
                parent_hash,
                extensions,
                r.opaque_v(),
            )
            object.__setattr__(leaf, "_content", content)
            return leaf


@dataclass(frozen=True, slots=True)
class ParentNode:
    encryption_key: bytes
    parent_hash: bytes
    unmerged_leaves: tuple[int, ...]

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.encryption_key)
        w.opaque_v(self.parent_hash)
        write_uint32s(w, self.unmerged_leaves)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("ParentNode"):
            return cls(r.opaque_v(), r.opaque_v(), read_uint32s(r))


@dataclass(frozen=True, slots=True)
class Node:
    """A non-blank tree node: ``value`` is a :class:`LeafNode` or a :class:`ParentNode`."""

    value: LeafNode | ParentNode

    @property
    def node_type(self) -> NodeType:
        return NodeType.leaf if isinstance(self.value, LeafNode) else NodeType.parent

    def encode(self, w: Writer) -> None:
        v = self.value
        if isinstance(v, LeafNode):
            w.u8(NodeType.leaf)
        else:
            w.u8(NodeType.parent)
        v.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        start = r.pos
        t = r.u8()
        if t == NodeType.leaf:
            return cls(LeafNode.decode(r))
        if t == NodeType.parent:
            return cls(ParentNode.decode(r))
        raise r.error(f"unknown node_type {t}", start)


def _encode_optional_node(w: Writer, node: Node | None) -> None:
    w.optional(node, encode_item)


def _check_tree_shape(nodes: Sequence[Node | None]) -> str | None:
    """Why ``nodes`` is not a well-formed truncated tree array, or None."""
    if not nodes:
        return "ratchet tree has no nodes"
    if nodes[-1] is None:
        return f"last node (index {len(nodes) - 1}) is blank: the tree is not truncated"
    for i, node in enumerate(nodes):
        if node is not None and isinstance(node.value, LeafNode) != (i % 2 == 0):
            kind = "leaf" if i % 2 == 0 else "parent"
            return f"node {i} is a {node.node_type.name} node in a {kind} position"
    return None


def write_ratchet_tree(w: Writer, nodes: Sequence[Node | None]) -> None:
    """``optional<Node> ratchet_tree<V>``; raises EncodeError for an empty, untruncated or misplaced tree."""
    problem = _check_tree_shape(nodes)
    if problem is not None:
        raise EncodeError(problem)
    w.vector_v(nodes, _encode_optional_node)


def read_ratchet_tree(r: Reader) -> list[Node | None]:
    """``optional<Node> ratchet_tree<V>``; rejects (DecodeError) what :func:`write_ratchet_tree` refuses."""
    with r.structure("ratchet_tree"):
        start = r.pos
        nodes = r.vector_v(lambda rr: rr.optional(Node.decode))
        problem = _check_tree_shape(nodes)
        if problem is not None:
            raise r.error(problem, start)
        return nodes


def encode_ratchet_tree(nodes: Sequence[Node | None]) -> bytes:
    w = Writer()
    write_ratchet_tree(w, nodes)
    return w.getvalue()


def decode_ratchet_tree(data: bytes) -> list[Node | None]:
    r = Reader(data, "ratchet_tree")
    nodes = read_ratchet_tree(r)
    r.what = "ratchet_tree"
    r.expect_end()
    return nodes


@dataclass(frozen=True, slots=True)
class RatchetTreeExtension(TypedExtension):
    """The ``ratchet_tree`` extension (type 2) of a GroupInfo: the whole public tree."""

    extension_type: ClassVar[int] = ExtensionType.ratchet_tree
    nodes: tuple[Node | None, ...]

    def encode(self, w: Writer) -> None:
        write_ratchet_tree(w, self.nodes)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(tuple(read_ratchet_tree(r)))
