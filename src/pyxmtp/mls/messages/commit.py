"""Commits and update paths (RFC 9420 sections 12.4 and 7.6).

::

    struct { opaque kem_output<V>; opaque ciphertext<V>; } HPKECiphertext;

    struct {
        HPKEPublicKey encryption_key;
        HPKECiphertext encrypted_path_secret<V>;
    } UpdatePathNode;

    struct { LeafNode leaf_node; UpdatePathNode nodes<V>; } UpdatePath;

    struct { ProposalOrRef proposals<V>; optional<UpdatePath> path; } Commit;
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from ..codec import Reader, Writer
from ..tree.nodes import LeafNode
from ._codec import encode_item
from .proposals import ProposalOrRef


@dataclass(frozen=True, slots=True)
class HPKECiphertext:
    kem_output: bytes
    ciphertext: bytes

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.kem_output)
        w.opaque_v(self.ciphertext)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v(), r.opaque_v())


@dataclass(frozen=True, slots=True)
class UpdatePathNode:
    encryption_key: bytes
    encrypted_path_secret: tuple[HPKECiphertext, ...]

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.encryption_key)
        w.vector_v(self.encrypted_path_secret, encode_item)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v(), tuple(r.vector_v(HPKECiphertext.decode)))


@dataclass(frozen=True, slots=True)
class UpdatePath:
    leaf_node: LeafNode
    nodes: tuple[UpdatePathNode, ...]

    def encode(self, w: Writer) -> None:
        self.leaf_node.encode(w)
        w.vector_v(self.nodes, encode_item)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("UpdatePath"):
            return cls(LeafNode.decode(r), tuple(r.vector_v(UpdatePathNode.decode)))


@dataclass(frozen=True, slots=True)
class Commit:
    proposals: tuple[ProposalOrRef, ...]
    path: UpdatePath | None

    def encode(self, w: Writer) -> None:
        w.vector_v(self.proposals, encode_item)
        w.optional(self.path, encode_item)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("Commit"):
            return cls(tuple(r.vector_v(ProposalOrRef.decode)), r.optional(UpdatePath.decode))
