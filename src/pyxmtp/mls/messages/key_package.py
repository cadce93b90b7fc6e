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

from dataclasses import dataclass
from typing import Self

from ..codec import Reader, Writer
from ..tree.nodes import LeafNode
from .extensions import Extension, decode_extensions, encode_extensions


@dataclass(frozen=True, slots=True)
class KeyPackage:
    version: int
    cipher_suite: int
    init_key: bytes
    leaf_node: LeafNode
    extensions: tuple[Extension, ...]
    signature: bytes

    def _encode_content(self, w: Writer) -> None:
        w.u16(self.version)
        w.u16(self.cipher_suite)
        w.opaque_v(self.init_key)
        self.leaf_node.encode(w)
        encode_extensions(w, self.extensions)

    def encode(self, w: Writer) -> None:
        self._encode_content(w)
        w.opaque_v(self.signature)

    def tbs(self) -> bytes:
        """KeyPackageTBS: every field but the signature."""
        w = Writer()
        self._encode_content(w)
        return w.getvalue()

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("KeyPackage"):
            return cls(
                r.u16(),
                r.u16(),
                r.opaque_v(),
                LeafNode.decode(r),
                decode_extensions(r),
                r.opaque_v(),
            )
