"""Members of an inbox: Ethereum addresses, installation keys and passkeys (XIP-46 ``MemberIdentifier``).

Equality follows libxmtp: an Ethereum member is its address string exactly as carried (the constructor
lowercases; :meth:`MemberIdentifier.from_proto` keeps the wire text so that a mixed-case address never equals
a recovered, lowercase signer), an installation is its public-key bytes, and a passkey is its key bytes (the
relying party is carried but not compared).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Self

from pyxmtp.identity.errors import MalformedUpdate, Rule
from pyxmtp.proto.identity.associations import association_pb2

_HEX_RE = re.compile(r"\A(?:[0-9a-fA-F]{2})*\Z")
_ADDRESS_RE = re.compile(r"\A0x[0-9a-fA-F]{40}\Z")
_BARE_ADDRESS_RE = re.compile(r"\A(?:0x)?[0-9a-fA-F]{40}\Z")


class MemberKind(Enum):
    ETHEREUM = "ethereum"
    INSTALLATION = "installation"
    PASSKEY = "passkey"


def strict_hex(text: str, what: str) -> bytes:
    """Decode hex the way Rust's ``hex::decode`` does (even length, no prefix, no whitespace)."""
    if not _HEX_RE.match(text):
        raise MalformedUpdate(Rule.INVALID_IDENTIFIER, f"{what} is not hex: {text[:80]!r}")
    return bytes.fromhex(text)


def is_valid_address(address: str) -> bool:
    """libxmtp's inbox-id address check: 42 characters, ``0x`` prefix, hex digits (either case)."""
    return _ADDRESS_RE.match(address) is not None


def sanitize_address(address: str) -> str:
    """Lowercase an EVM address; ``0x`` optional on input as in libxmtp's ``sanitize_evm_addresses``.

    Raises :class:`MalformedUpdate` (rule ``invalid_identifier``) when it is not 40 hex digits.
    """
    if not _BARE_ADDRESS_RE.match(address):
        raise MalformedUpdate(Rule.INVALID_IDENTIFIER, f"not an Ethereum address: {address[:80]!r}")
    return address.lower()


@dataclass(frozen=True, slots=True)
class MemberIdentifier:
    """One member of an inbox. ``value`` is the address (str) or the key bytes (installation, passkey)."""

    kind: MemberKind
    value: str | bytes
    relying_party: str | None = field(default=None, compare=False)

    @classmethod
    def ethereum(cls, address: str) -> Self:
        """An Ethereum member; the address is validated (``0x`` + 40 hex) and lowercased."""
        sanitized = sanitize_address(address)
        if not sanitized.startswith("0x"):
            sanitized = "0x" + sanitized
        return cls(MemberKind.ETHEREUM, sanitized)

    @classmethod
    def installation(cls, public_key: bytes) -> Self:
        return cls(MemberKind.INSTALLATION, bytes(public_key))

    @classmethod
    def passkey(cls, key: bytes, relying_party: str | None = None) -> Self:
        return cls(MemberKind.PASSKEY, bytes(key), relying_party)

    @property
    def address(self) -> str:
        """The Ethereum address; raises ``TypeError`` for other kinds."""
        if self.kind is not MemberKind.ETHEREUM or not isinstance(self.value, str):
            raise TypeError(f"{self.kind.value} member has no address")
        return self.value

    @property
    def key(self) -> bytes:
        """The installation public key or passkey key bytes; raises ``TypeError`` for Ethereum members."""
        if isinstance(self.value, str):
            raise TypeError("ethereum member has no key bytes")
        return self.value

    @property
    def is_identifier(self) -> bool:
        """True for the kinds that can own an inbox or be its recovery identifier (Ethereum, passkey)."""
        return self.kind is not MemberKind.INSTALLATION

    def __str__(self) -> str:
        """The text libxmtp prints: the address as carried, or lowercase hex of the key bytes."""
        return self.value if isinstance(self.value, str) else self.value.hex()

    def __repr__(self) -> str:
        return f"MemberIdentifier.{self.kind.value}({self!s})"

    def identifier_kind(self) -> association_pb2.IdentifierKind.ValueType:
        """The wire ``IdentifierKind`` of an Ethereum or passkey identifier."""
        if self.kind is MemberKind.PASSKEY:
            return association_pb2.IDENTIFIER_KIND_PASSKEY
        return association_pb2.IDENTIFIER_KIND_ETHEREUM

    def to_proto(self) -> association_pb2.MemberIdentifier:
        if self.kind is MemberKind.ETHEREUM:
            return association_pb2.MemberIdentifier(ethereum_address=self.address)
        if self.kind is MemberKind.INSTALLATION:
            return association_pb2.MemberIdentifier(installation_public_key=self.key)
        passkey = association_pb2.Passkey(key=self.key)
        if self.relying_party is not None:
            passkey.relying_party = self.relying_party
        return association_pb2.MemberIdentifier(passkey=passkey)

    @classmethod
    def from_proto(cls, proto: association_pb2.MemberIdentifier) -> Self:
        """As libxmtp reads it: strings and bytes are taken as carried (no lowercasing)."""
        which = proto.WhichOneof("kind")
        if which == "ethereum_address":
            return cls(MemberKind.ETHEREUM, proto.ethereum_address)
        if which == "installation_public_key":
            return cls(MemberKind.INSTALLATION, proto.installation_public_key)
        if which == "passkey":
            rp = proto.passkey.relying_party if proto.passkey.HasField("relying_party") else None
            return cls(MemberKind.PASSKEY, proto.passkey.key, rp)
        raise MalformedUpdate(Rule.MISSING_FIELD, "member identifier has no kind")

    @classmethod
    def from_identifier_text(
        cls, text: str, kind: association_pb2.IdentifierKind.ValueType, relying_party: str | None = None
    ) -> Self:
        """An identifier string plus ``IdentifierKind`` as in CreateInbox / ChangeRecoveryAddress / state.

        PASSKEY means hex key bytes; any other value (UNSPECIFIED, ETHEREUM, unknown) means an Ethereum address,
        taken as carried (libxmtp's ``Identifier::from_proto``).
        """
        if kind == association_pb2.IDENTIFIER_KIND_PASSKEY:
            return cls(MemberKind.PASSKEY, strict_hex(text, "passkey identifier"), relying_party)
        return cls(MemberKind.ETHEREUM, text)
