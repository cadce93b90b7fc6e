"""Every payload kind ``pyxmtp inspect`` reads, and guessing which one some bytes are.

Each kind has a strict decoder: it accepts exactly that structure (TLS: every byte read, nothing left over;
protobuf: no field the schema lacks, the fields that make it what it is present and decodable) and raises
:class:`~.errors.InspectError` otherwise. Guessing tries the guessable kinds in :data:`KINDS` order, most specific
first, and keeps the first that matches (the others that also match are reported); a TLS structure of an unknown protocol version
or cipher suite is decoded by name only. Kinds that almost any bytes
would match (a lone varint field, an extension body) are decoded only when asked for by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyxmtp.mls.codec import Decodable, decode
from pyxmtp.mls.constants import ProtocolVersion, WireFormat
from pyxmtp.mls.crypto.suites import SUPPORTED_SUITES
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, PublicMessage
from pyxmtp.mls.messages.group_info import GroupContext, GroupInfo
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.welcome import Welcome
from pyxmtp.mls.tree.nodes import decode_ratchet_tree

from . import mls, xmtp, xmtp_extensions
from .content import describe_encoded_content, describe_plaintext_envelope, parse_encoded_content
from .errors import InspectError
from .tree import Problem, Struct, Value

D = TypeVar("D", bound=Decodable)

Decoder = Callable[[bytes], tuple[Struct, Any]]


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    summary: str
    decode: Decoder
    guessable: bool = True


@dataclass(frozen=True, slots=True)
class Decoded:
    """What some bytes turned out to be: the ``kind``, its description, and the parsed object."""

    kind: str
    tree: Struct
    obj: Any


def _tls(cls: type[D], data: bytes, what: str) -> D:
    try:
        return decode(cls, data)
    except MLSError as exc:
        raise InspectError(what, str(exc)) from None


def _mls_message(data: bytes) -> tuple[Struct, Any]:
    message = _tls(MLSMessage, data, "MLSMessage")
    return mls.describe_mls_message(message), message


def _mls_or_bare(cls: type[D], wire_format: WireFormat, describe: Callable[[Any], Struct]) -> Decoder:
    """A decoder of ``cls``, bare or inside an MLSMessage of ``wire_format``."""
    header = ProtocolVersion.mls10.to_bytes(2, "big") + wire_format.to_bytes(2, "big")

    def decoder(data: bytes) -> tuple[Struct, Any]:
        if data[:4] == header:
            message = _tls(MLSMessage, data, f"MLSMessage ({wire_format.name})")
            return mls.describe_mls_message(message), message
        value = _tls(cls, data, cls.__name__)
        return describe(value), value

    return decoder


def _group_context(data: bytes) -> tuple[Struct, Any]:
    context = _tls(GroupContext, data, "GroupContext")
    return mls.describe_group_context(context), context


def _ratchet_tree(data: bytes) -> tuple[Struct, Any]:
    try:
        nodes = decode_ratchet_tree(data)
    except MLSError as exc:
        raise InspectError("ratchet_tree", str(exc)) from None
    return mls.describe_ratchet_tree(nodes), nodes


def _encoded_content(data: bytes) -> tuple[Struct, Any]:
    encoded = parse_encoded_content(data)
    return describe_encoded_content(encoded), encoded


def _plaintext_envelope(data: bytes) -> tuple[Struct, Any]:
    return describe_plaintext_envelope(data), None


def _strict(name: str, describe: Callable[[bytes], Value]) -> Decoder:
    """A decoder from an extension-body describer: a :class:`Problem` is an error here."""

    def decoder(data: bytes) -> tuple[Struct, Any]:
        value = describe(data)
        if isinstance(value, Problem):
            raise InspectError(name, value.reason)
        if isinstance(value, Struct):
            unknown = [v for k, v in value.fields if k == "unknown_fields"]
            if unknown:
                raise InspectError(name, str(unknown[0]))
            return value, None
        return Struct(name).add("value", value), None

    return decoder


def _extension_kind(name: str, description: str, describe: Callable[[bytes], Value]) -> Kind:
    """A kind read with an extension-body describer (see :func:`_strict`), never guessed."""
    return Kind(name, description, _strict(name, describe), guessable=False)


def _mls_credential(data: bytes) -> tuple[Struct, Any]:
    inbox_id = xmtp_extensions.check_mls_credential(data)
    return Struct("MlsCredential (the identity of an XMTP MLS credential)").add(
        "inbox_id", inbox_id
    ), inbox_id


KINDS: tuple[Kind, ...] = (
    Kind(
        "mls-message",
        "an MLSMessage (TLS): key package, welcome, group info, public or private message",
        _mls_message,
    ),
    Kind(
        "key-package",
        "a KeyPackage (TLS; bare, as FetchKeyPackages returns it, or in an MLSMessage)",
        _mls_or_bare(KeyPackage, WireFormat.key_package, mls.describe_key_package),
    ),
    Kind(
        "group-info",
        "a GroupInfo (TLS; bare or in an MLSMessage)",
        _mls_or_bare(GroupInfo, WireFormat.group_info, mls.describe_group_info),
    ),
    Kind(
        "welcome",
        "an MLS Welcome (TLS; bare or in an MLSMessage): what a wrapped welcome holds",
        _mls_or_bare(Welcome, WireFormat.welcome, mls.describe_welcome),
    ),
    Kind(
        "private-message",
        "a PrivateMessage (TLS; bare or in an MLSMessage): the header of an encrypted group message",
        _mls_or_bare(PrivateMessage, WireFormat.private_message, mls.describe_private_message),
    ),
    Kind(
        "public-message",
        "a PublicMessage (TLS; bare or in an MLSMessage)",
        _mls_or_bare(PublicMessage, WireFormat.public_message, mls.describe_public_message),
    ),
    Kind("group-message", "the node's GroupMessage protobuf (QueryGroupMessages)", xmtp.decode_group_message),
    Kind(
        "welcome-message",
        "the node's WelcomeMessage protobuf (QueryWelcomeMessages)",
        xmtp.decode_welcome_message,
    ),
    Kind(
        "group-message-input",
        "a GroupMessageInput protobuf (what a client publishes)",
        xmtp.decode_group_message_input,
    ),
    Kind(
        "welcome-message-input",
        "a WelcomeMessageInput protobuf (what a client publishes)",
        xmtp.decode_welcome_message_input,
    ),
    Kind(
        "identity-update", "an IdentityUpdate protobuf (actions and signatures)", xmtp.decode_identity_update
    ),
    Kind(
        "identity-update-log",
        "one IdentityUpdateLog of GetIdentityUpdates (sequence id, time, update)",
        xmtp.decode_identity_update_log,
    ),
    Kind(
        "plaintext-envelope",
        "a PlaintextEnvelope protobuf (a decrypted application message)",
        _plaintext_envelope,
    ),
    Kind("encoded-content", "an EncodedContent protobuf (typed message content)", _encoded_content),
    Kind(
        "welcome-pointer",
        "a decrypted WelcomePointer protobuf (where a pointee is, and its key)",
        xmtp.decode_welcome_pointer,
    ),
    Kind(
        "welcome-wrapper",
        "a WelcomeWrapperEncryption protobuf (key-package extension 0xFF03)",
        xmtp.decode_welcome_wrapper,
    ),
    # only by name: too loose to guess
    Kind("group-context", "a GroupContext (TLS)", _group_context, guessable=False),
    Kind("ratchet-tree", "a ratchet tree (TLS optional<Node> vector)", _ratchet_tree, guessable=False),
    Kind(
        "welcome-metadata",
        "a decrypted WelcomeMetadata protobuf",
        xmtp.decode_welcome_metadata,
        guessable=False,
    ),
    Kind(
        "mls-credential",
        "an MlsCredential protobuf (a credential's identity)",
        _mls_credential,
        guessable=False,
    ),
    _extension_kind(
        "pointee-aead-types",
        "a WelcomePointeeEncryptionAeadTypesExtension protobuf (extension 0xFF04)",
        xmtp_extensions.pointee_aead_types,
    ),
    _extension_kind(
        "immutable-metadata",
        "group-context extension 0xF000: a TLS opaque<V> around GroupMetadataV1",
        xmtp_extensions.immutable_metadata,
    ),
    _extension_kind(
        "mutable-metadata",
        "group-context extension 0xFF00: GroupMutableMetadataV1",
        xmtp_extensions.mutable_metadata,
    ),
    _extension_kind(
        "group-membership", "group-context extension 0xFF01: GroupMembership", xmtp_extensions.membership
    ),
    _extension_kind(
        "group-permissions",
        "group-context extension 0xFF02: GroupMutablePermissionsV1",
        xmtp_extensions.permissions,
    ),
)

BY_NAME = {k.name: k for k in KINDS}


@dataclass(frozen=True, slots=True)
class Guess:
    decoded: Decoded
    also: tuple[str, ...]


class NoMatch(Exception):
    """No kind decodes the bytes; ``reasons`` says why each guessable kind refused them."""

    def __init__(self, reasons: list[tuple[str, InspectError]]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(f"{k}: {r}" for k, r in reasons))

    def grouped(self) -> list[tuple[list[str], str]]:
        """``(kinds, reason)``, kinds refusing for the same reason together, in guessing order."""
        out: dict[str, list[str]] = {}
        for kind, error in self.reasons:
            out.setdefault(error.reason, []).append(kind)
        return [(kinds, reason) for reason, kinds in out.items()]


def decode_as(kind: str, data: bytes) -> Decoded:
    """``data`` as the kind named ``kind``; :class:`InspectError` if it is not one."""
    tree, obj = BY_NAME[kind].decode(data)
    return Decoded(kind, tree, obj)


def guess(data: bytes) -> Guess:
    """The first guessable kind that decodes ``data``, and the others that do too; :class:`NoMatch` if none."""
    found: list[Decoded] = []
    reasons: list[tuple[str, InspectError]] = []
    for kind in KINDS:
        if not kind.guessable:
            continue
        try:
            tree, obj = kind.decode(data)
            implausible = _implausible(obj)
            if implausible is not None:
                raise InspectError(kind.name, implausible)
        except InspectError as exc:
            reasons.append((kind.name, exc))
            continue
        found.append(Decoded(kind.name, tree, obj))
    if not found:
        raise NoMatch(reasons)
    first = found[0]
    also = [d.kind for d in found[1:] if not _same_payload(first, d)]
    return Guess(first, tuple(also))


def _implausible(obj: Any) -> str | None:
    """Why a TLS structure that parsed is still no guess: a version or cipher suite nobody uses (decoding it
    by name shows it, with what is wrong; guessing would otherwise take stray bytes for one)."""
    body = obj.body if isinstance(obj, MLSMessage) else obj
    if isinstance(body, KeyPackage):
        version, suite = body.version, body.cipher_suite
    elif isinstance(body, GroupInfo):
        version, suite = body.group_context.version, body.group_context.cipher_suite
    elif isinstance(body, Welcome):
        version, suite = ProtocolVersion.mls10, body.cipher_suite
    else:
        return None
    if version != ProtocolVersion.mls10:
        return f"protocol version {version} is not mls10 (1)"
    if suite not in SUPPORTED_SUITES:
        return f"cipher suite {suite} is not an MLS cipher suite"
    return None


def _same_payload(first: Decoded, other: Decoded) -> bool:
    """An MLSMessage also matches its body's own kind: that is no second reading."""
    return first.kind == "mls-message" and isinstance(other.obj, MLSMessage)
