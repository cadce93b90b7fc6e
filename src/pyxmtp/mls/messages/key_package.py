"""Key packages (RFC 9420 section 10).

::

    struct {
        ProtocolVersion version;
        CipherSuite cipher_suite;
        HPKEPublicKey init_key;
        LeafNode leaf_node;
        Extension extensions<V>;
        opaque signature<V>;   /* SignWithLabel(., "KeyPackageTBS", KeyPackageTBS) */
    } KeyPackage;

``version`` and ``cipher_suite`` are plain ints: a key package for an unknown version or suite parses, and the
caller rejects it when validating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from ..codec import Reader, Writer
from ..tree.nodes import LeafNode
from .extensions import Extension, decode_extensions, encode_extensions


@dataclass(frozen=True, slots=True)
class KeyPackage:
    """The encoded content (every field but the signature: KeyPackageTBS) is computed once and kept, as for
    :class:`~pyxmtp.mls.tree.nodes.LeafNode`: a commit adding N members encodes each key package for its
    signature, its KeyPackageRef and the commit content, and a decoded key package keeps the bytes it was
    read from."""

    version: int
    cipher_suite: int
    init_key: bytes
    leaf_node: LeafNode
    extensions: tuple[Extension, ...]
    signature: bytes
    _content: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def _encode_content(self, w: Writer) -> None:
        w.u16(self.version)
        w.u16(self.cipher_suite)
        w.opaque_v(self.init_key)
        self.leaf_node.encode(w)
        encode_extensions(w, self.extensions)

    def encode(self, w: Writer) -> None:
        w.fixed(self.tbs())
        w.opaque_v(self.signature)

    def tbs(self) -> bytes:
        """KeyPackageTBS: every field but the signature (computed once)."""
        content = self._content
        if content is None:
            w = Writer()
            self._encode_content(w)
            content = w.getvalue()
            object.__setattr__(self, "_content", content)
        return content

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("KeyPackage"):
            begin = r.pos
            version, cipher_suite, init_key = r.u16(), r.u16(), r.opaque_v()
            leaf_node = LeafNode.decode(r)
            extensions = decode_extensions(r)
            content = r.bytes_since(begin)
            kp = cls(version, cipher_suite, init_key, leaf_node, extensions, r.opaque_v())
            object.__setattr__(kp, "_content", content)
            return kp
