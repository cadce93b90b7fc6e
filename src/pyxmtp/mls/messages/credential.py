"""Credentials (RFC 9420 section 5.3).

::

    struct { opaque cert_data<V>; } Certificate;

    struct {
        CredentialType credential_type;
        select (Credential.credential_type) {
            case basic: opaque identity<V>;
            case x509:  Certificate certificates<V>;
        };
    } Credential;

The RFC gives no body format for other credential types. Both OpenMLS and mls-rs carry such "custom"
credentials as ``opaque data<V>`` (the type, then one length-prefixed body), which is also how the two defined
bodies are delimited, so unknown types are decoded that way and kept byte-exact in :attr:`Credential.opaque_body`.
Whether a credential type is acceptable is the caller's decision (capabilities, identity provider).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from ..codec import Reader, Writer
from ..constants import CredentialType
from ..errors import EncodeError

_BASIC = CredentialType.basic.value
_X509 = CredentialType.x509.value


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential; exactly the field for its type is meaningful, the others stay empty.

    ``identity``: basic credentials. ``certificates``: x509 (each a DER certificate, leaf first).
    ``opaque_body``: any other credential type, the body bytes as carried in ``opaque<V>``.
    """

    credential_type: int
    identity: bytes = b""
    certificates: tuple[bytes, ...] = ()
    opaque_body: bytes = b""

    @classmethod
    def basic(cls, identity: bytes) -> Self:
        return cls(_BASIC, identity=identity)

    @classmethod
    def x509(cls, certificates: tuple[bytes, ...]) -> Self:
        return cls(_X509, certificates=tuple(certificates))

    def encode(self, w: Writer) -> None:
        t = self.credential_type
        w.u16(t)
        if t == _BASIC:
            if self.certificates or self.opaque_body:
                raise EncodeError("basic credential carries certificates or an opaque body")
            w.opaque_v(self.identity)
        elif t == _X509:
            if self.identity or self.opaque_body:
                raise EncodeError("x509 credential carries an identity or an opaque body")
            w.vector_v(self.certificates, Writer.opaque_v)
        else:
            if self.identity or self.certificates:
                raise EncodeError(f"credential type {t} carries an identity or certificates")
            w.opaque_v(self.opaque_body)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        t = r.u16()
        if t == _BASIC:
            return cls(t, identity=r.opaque_v())
        if t == _X509:
            return cls(t, certificates=tuple(r.vector_v(Reader.opaque_v)))
        return cls(t, opaque_body=r.opaque_v())
