"""Welcome messages and the group secrets they carry (RFC 9420 section 12.4.3.1).

::

    struct { opaque path_secret<V>; } PathSecret;

    struct {
      opaque joiner_secret<V>;
      optional<PathSecret> path_secret;
      PreSharedKeyID psks<V>;
    } GroupSecrets;

    struct {
      KeyPackageRef new_member;               /* opaque HashReference<V> */
      HPKECiphertext encrypted_group_secrets;
    } EncryptedGroupSecrets;

    struct {
      CipherSuite cipher_suite;
      EncryptedGroupSecrets secrets<V>;
      opaque encrypted_group_info<V>;
    } Welcome;
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from ..codec import Reader, Writer
from ._codec import encode_item
from .commit import HPKECiphertext
from .proposals import PreSharedKeyID


@dataclass(frozen=True, slots=True)
class PathSecret:
    path_secret: bytes

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.path_secret)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v())


@dataclass(frozen=True, slots=True)
class GroupSecrets:
    """``path_secret`` is the raw secret of the optional PathSecret (None when absent)."""

    joiner_secret: bytes
    path_secret: bytes | None
    psks: tuple[PreSharedKeyID, ...]

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.joiner_secret)
        w.optional(self.path_secret, Writer.opaque_v)
        w.vector_v(self.psks, encode_item)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("GroupSecrets"):
            return cls(r.opaque_v(), r.optional(Reader.opaque_v), tuple(r.vector_v(PreSharedKeyID.decode)))


@dataclass(frozen=True, slots=True)
class EncryptedGroupSecrets:
    new_member: bytes
    encrypted_group_secrets: HPKECiphertext

    def encode(self, w: Writer) -> None:
        w.opaque_v(self.new_member)
        self.encrypted_group_secrets.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque_v(), HPKECiphertext.decode(r))


@dataclass(frozen=True, slots=True)
class Welcome:
    cipher_suite: int
    secrets: tuple[EncryptedGroupSecrets, ...]
    encrypted_group_info: bytes

    def encode(self, w: Writer) -> None:
        w.u16(self.cipher_suite)
        w.vector_v(self.secrets, encode_item)
        w.opaque_v(self.encrypted_group_info)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("Welcome"):
            return cls(r.u16(), tuple(r.vector_v(EncryptedGroupSecrets.decode)), r.opaque_v())

    def secrets_for(self, key_package_ref: bytes) -> EncryptedGroupSecrets | None:
        """The entry addressed to the key package with reference ``key_package_ref``, or None."""
        for s in self.secrets:
            if s.new_member == key_package_ref:
                return s
        return None
