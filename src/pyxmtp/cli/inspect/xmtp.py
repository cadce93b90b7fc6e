"""XMTP's protobufs, strictly parsed and described: the node's group-message and welcome envelopes (as stored
and as published), identity updates (actions, each signature's kind and whether it verifies, the text signed),
welcome pointers and wrapper keys."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from pyxmtp.conversations.welcome_wrap import (
    SYMMETRIC_KEY,
    WelcomePointer,
    WelcomeWrapError,
    decode_hpke_ciphertext,
    parse_wrapper_encryption,
)
from pyxmtp.identity.actions import parse_update
from pyxmtp.identity.errors import IdentityError
from pyxmtp.identity.signature_text import signature_text
from pyxmtp.identity.signatures import verify_signature
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, PublicMessage
from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2
from pyxmtp.proto.mls.message_contents import welcome_pointer_pb2, wrapper_encryption_pb2

from .errors import InspectError
from .mls import decode_mls_message, describe_mls_message
from .protobuf import FieldHook, describe_message, parse_strict
from .tree import Nested, Problem, Secret, Struct, Value
from .xmtp_extensions import wrapper_algorithm

# --- group messages -----------------------------------------------------------------------------------------------


def group_message_data(data: bytes, what: str) -> tuple[MLSMessage, Nested]:
    """The MLSMessage a group message carries: a PrivateMessage or a PublicMessage, nothing else."""
    try:
        message = decode_mls_message(data)
    except MLSError as exc:
        raise InspectError(what, str(exc)) from None
    if not isinstance(message.body, (PrivateMessage, PublicMessage)):
        raise InspectError(
            what,
            f"a group message carries a PrivateMessage or PublicMessage, not a {message.wire_format.name}",
        )
    return message, Nested(data, describe_mls_message(message))


def _mls_group_id(message: MLSMessage) -> bytes:
    body = message.body
    return body.group_id if isinstance(body, PrivateMessage) else body.content.group_id  # type: ignore[union-attr]


def _v1_group_message(cls: Any, data: bytes, name: str) -> tuple[Any, MLSMessage, FieldHook]:
    """``data`` parsed strictly as ``cls`` (the node's ``GroupMessage`` or a client's ``GroupMessageInput``), the
    MLS message its ``v1.data`` carries, and a hook that shows that message in place of the bytes."""
    proto = parse_strict(cls, data, name)
    if proto.WhichOneof("version") != "v1":
        raise InspectError(name, "no v1")
    message, nested = group_message_data(proto.v1.data, f"{name}.v1.data")

    def hook(fd: FieldDescriptor, value: Any) -> Value | None:
        return nested if fd.name == "data" else None

    return proto, message, hook


def decode_group_message(data: bytes) -> tuple[Struct, mls_pb2.GroupMessage]:
    """The node's ``GroupMessage`` (QueryGroupMessages, SubscribeGroupMessages)."""
    proto, message, hook = _v1_group_message(mls_pb2.GroupMessage, data, "GroupMessage")
    out = describe_message(proto, "GroupMessage (as the node serves it)", hook)
    if _mls_group_id(message) != proto.v1.group_id:
        out.add("warning", "v1.group_id is not the group id of the MLS message it carries")
    return out, proto


def decode_group_message_input(data: bytes) -> tuple[Struct, mls_pb2.GroupMessageInput]:
    """A client's ``GroupMessageInput`` (SendGroupMessages)."""
    proto, _, hook = _v1_group_message(mls_pb2.GroupMessageInput, data, "GroupMessageInput")
    return describe_message(proto, "GroupMessageInput (as a client publishes it)", hook), proto


# --- welcomes -----------------------------------------------------------------------------------------------------

_INSTALLATION_KEY_LEN = 32


def _hpke_ciphertext(data: bytes, what: str) -> Nested:
    try:
        kem_output, ciphertext = decode_hpke_ciphertext(data, what)
    except WelcomeWrapError as exc:
        raise InspectError(what, str(exc)) from None
    return Nested(data, Struct("HPKECiphertext").add("kem_output", kem_output).add("ciphertext", ciphertext))


def _welcome_hook(what: str, algorithm: int) -> Any:
    def hook(fd: FieldDescriptor, value: Any) -> Value | None:
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            return None
        if fd.name == "wrapper_algorithm":
            return wrapper_algorithm(int(value))
        if fd.name == "data":
            if algorithm == SYMMETRIC_KEY:
                return Nested(
                    value,
                    Struct("pointee: ChaCha20-Poly1305 under the key a welcome pointer carries").add(
                        "ciphertext", value
                    ),
                )
            return _hpke_ciphertext(value, f"{what}.data")
        if fd.name == "welcome_pointer":
            return _hpke_ciphertext(value, f"{what}.welcome_pointer")
        if fd.name == "welcome_metadata":
            return Struct("sealed WelcomeMetadata").add("ciphertext", value)
        return None

    return hook


def _check_installation_key(key: bytes, what: str) -> None:
    if len(key) != _INSTALLATION_KEY_LEN:
        raise InspectError(what, f"installation_key is {len(key)} bytes, not {_INSTALLATION_KEY_LEN}")


def _describe_welcome(proto: Any, name: str, title: str) -> Struct:
    which = proto.WhichOneof("version")
    if which is None:
        raise InspectError(name, "neither v1 nor welcome_pointer is set")
    inner = getattr(proto, which)
    what = f"{name}.{which}"
    _check_installation_key(inner.installation_key, what)
    if which == "v1" and not inner.data:
        raise InspectError(what, "no data")
    kind = "a V1 welcome" if which == "v1" else "a welcome pointer"
    if which == "v1" and inner.wrapper_algorithm == SYMMETRIC_KEY:
        kind = "a welcome-pointer pointee"
    return describe_message(proto, f"{title}: {kind}", _welcome_hook(what, int(inner.wrapper_algorithm)))


def decode_welcome_message(data: bytes) -> tuple[Struct, mls_pb2.WelcomeMessage]:
    """The node's ``WelcomeMessage`` (QueryWelcomeMessages, SubscribeWelcomeMessages)."""
    proto = parse_strict(mls_pb2.WelcomeMessage, data, "WelcomeMessage")
    return _describe_welcome(proto, "WelcomeMessage", "WelcomeMessage (as the node serves it)"), proto


def decode_welcome_message_input(data: bytes) -> tuple[Struct, mls_pb2.WelcomeMessageInput]:
    """A client's ``WelcomeMessageInput`` (SendWelcomeMessages)."""
    proto = parse_strict(mls_pb2.WelcomeMessageInput, data, "WelcomeMessageInput")
    return _describe_welcome(
        proto, "WelcomeMessageInput", "WelcomeMessageInput (as a client publishes it)"
    ), proto


def describe_welcome_pointer(pointer: WelcomePointer) -> Struct:
    return (
        Struct("WelcomePointer (V1)")
        .add("destination", pointer.destination)
        .add("aead_type", "CHACHA20_POLY1305")
        .add("encryption_key", Secret(pointer.encryption_key))
        .add("data_nonce", pointer.data_nonce)
        .add("welcome_metadata_nonce", pointer.welcome_metadata_nonce)
    )


def decode_welcome_pointer(data: bytes) -> tuple[Struct, WelcomePointer]:
    """A decrypted ``WelcomePointer`` (what a ``WelcomeMessage.welcome_pointer`` HPKE-wraps)."""
    parse_strict(welcome_pointer_pb2.WelcomePointer, data, "WelcomePointer")
    try:
        pointer = WelcomePointer.from_bytes(data)
    except WelcomeWrapError as exc:
        raise InspectError("WelcomePointer", str(exc)) from None
    return describe_welcome_pointer(pointer), pointer


def decode_welcome_wrapper(data: bytes) -> tuple[Struct, Any]:
    """A key package's 0xFF03 body, ``WelcomeWrapperEncryption``, with its public key checked."""
    proto = parse_strict(wrapper_encryption_pb2.WelcomeWrapperEncryption, data, "WelcomeWrapperEncryption")
    try:
        parsed = parse_wrapper_encryption(data)
    except WelcomeWrapError as exc:
        raise InspectError("WelcomeWrapperEncryption", str(exc)) from None
    out = (
        Struct("WelcomeWrapperEncryption (key-package extension 0xFF03)")
        .add("algorithm", wrapper_algorithm(int(proto.algorithm)))
        .add("pub_key", parsed.public_key)
    )
    return out, parsed


def decode_welcome_metadata(data: bytes) -> tuple[Struct, mls_pb2.WelcomeMetadata]:
    """A decrypted ``WelcomeMetadata`` (the cursor the new member reads the group from)."""
    proto = parse_strict(mls_pb2.WelcomeMetadata, data, "WelcomeMetadata", non_empty=False)
    return describe_message(proto, "WelcomeMetadata"), proto


# --- identity -----------------------------------------------------------------------------------------------------


def describe_signature(signature: signature_pb2.Signature, text: str | None) -> Struct:
    """A signature: its kind, its fields, and whether it verifies over the update's ``text``."""
    kind = signature.WhichOneof("signature")
    out = Struct(f"Signature ({kind})" if kind else "Signature (empty)").add("kind", kind)
    if kind is None:
        return out
    out.add(kind, describe_message(getattr(signature, kind)))
    if text is None:
        return out
    if kind == "erc_6492":
        return out.add("verified", "not checked: a smart-contract wallet signature needs the chain")
    try:
        verified = verify_signature(signature, text)
    except IdentityError as exc:
        return out.add("verified", Problem(str(exc)))
    return out.add(
        "verified",
        Struct("yes").add("signer", str(verified.signer)).add("signer_kind", verified.signer.kind.value),
    )


def describe_identity_update(update: association_pb2.IdentityUpdate) -> Struct:
    """Strictly (every action complete, as libxmtp requires); the signatures are verified over the text."""
    try:
        parse_update(update)
        text = signature_text(update)
    except IdentityError as exc:
        raise InspectError("IdentityUpdate", str(exc)) from None

    def hook(fd: FieldDescriptor, value: Any) -> Value | None:
        if isinstance(value, signature_pb2.Signature):
            return describe_signature(value, text)
        if fd.name == "actions":
            return [_action(a, hook) for a in value]
        return None

    out = describe_message(update, "IdentityUpdate", hook)
    out.add("signature_text", list[Value](text.split("\n")))
    return out


def _action(action: association_pb2.IdentityAction, hook: Any) -> Struct:
    kind = action.WhichOneof("kind")
    inner = getattr(action, kind) if kind else None
    if inner is None:
        return Struct("IdentityAction (empty)")
    return describe_message(inner, type(inner).DESCRIPTOR.name, hook)


def decode_identity_update(data: bytes) -> tuple[Struct, association_pb2.IdentityUpdate]:
    """An ``IdentityUpdate`` (PublishIdentityUpdate; in each GetIdentityUpdates log entry)."""
    update = parse_strict(association_pb2.IdentityUpdate, data, "IdentityUpdate")
    if not update.actions or not update.inbox_id:
        raise InspectError("IdentityUpdate", "an identity update needs an inbox_id and at least one action")
    return describe_identity_update(update), update


def decode_identity_update_log(data: bytes) -> tuple[Struct, Any]:
    """One entry of GetIdentityUpdates: ``IdentityUpdateLog { sequence_id, server_timestamp_ns, update }``."""
    entry = parse_strict(identity_pb2.GetIdentityUpdatesResponse.IdentityUpdateLog, data, "IdentityUpdateLog")
    if not entry.HasField("update") or not entry.update.actions:
        raise InspectError("IdentityUpdateLog", "no update")
    described = describe_identity_update(entry.update)

    def hook(fd: FieldDescriptor, value: Any) -> Value | None:
        return described if fd.name == "update" else None

    return describe_message(entry, "IdentityUpdateLog (as the node serves it)", hook), entry
