"""Decrypting a payload with one installation's keys, changing nothing (see :mod:`.home`).

- A group message (the node's ``GroupMessage``, a ``GroupMessageInput``, an MLSMessage or a bare
  PrivateMessage/PublicMessage) of a conversation the home holds is processed by a copy of the group restored
  from the database: an application message gives its sender and its ``PlaintextEnvelope`` (EncodedContent
  decoded), a commit what it would change (proposals, members added and removed, the new XMTP metadata). When the
  copy cannot read it, the result says why (not a member, wrong epoch, key already used, sent by this
  installation) and shows the message as the database stored it, if it did.
- A welcome (``WelcomeMessage`` V1 or pointer, ``WelcomeMessageInput``, an MLS Welcome, a decrypted pointer) for
  one of the home's key packages is unwrapped and opened without joining: its GroupSecrets and GroupInfo (group
  context with XMTP's extensions, the ratchet tree). A pointer's pointee is fetched from the node if a fetcher is
  given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.conversations.content import EncodedContent
from pyxmtp.conversations.credential import parse_credential
from pyxmtp.conversations.welcome_wrap import (
    SYMMETRIC_KEY,
    WelcomePointer,
    open_pointee,
    unwrap_welcome,
    unwrap_welcome_pointer,
)
from pyxmtp.mls.codec import decode, encode
from pyxmtp.mls.errors import MissingKeyError, MLSError, StateError, WrongEpochError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, PublicMessage
from pyxmtp.mls.group import XMTP_CONFIG, ApplicationMessage, Group, StagedCommit
from pyxmtp.mls.group.errors import OwnMessageError
from pyxmtp.mls.group.events import ProposalReceived
from pyxmtp.mls.messages.welcome import Welcome
from pyxmtp.mls.tree.nodes import LeafNode, RatchetTreeExtension
from pyxmtp.mls.welcome_crypto import open_welcome, verify_group_info
from pyxmtp.proto.mls.api.v1 import mls_pb2

from . import mls
from .content import describe_encoded_content, describe_plaintext_envelope
from .errors import InspectError
from .home import HomeStore, StoredKeyPackage, StoredMessage
from .protobuf import describe_message
from .tree import Nested, Problem, Struct, Timestamp, Value
from .xmtp import describe_welcome_pointer

#: ``destination -> (data, welcome_metadata)`` of the pointee published there, or None if the node has none.
PointeeFetcher = Callable[[bytes], "tuple[bytes, bytes] | None"]


def read_with_home(
    obj: Any, data: bytes, store: HomeStore, fetch: PointeeFetcher | None = None
) -> Struct | None:
    """What ``store``'s installation reads in the payload ``data`` (parsed as ``obj``); None if there is
    nothing in it to decrypt."""
    if isinstance(obj, mls_pb2.GroupMessage):
        return read_group_message(store, obj.v1.data, server_id=obj.v1.id, created_ns=obj.v1.created_ns)
    if isinstance(obj, mls_pb2.GroupMessageInput):
        return read_group_message(store, obj.v1.data)
    if isinstance(obj, (mls_pb2.WelcomeMessage, mls_pb2.WelcomeMessageInput)):
        return read_wrapped_welcome(store, obj, fetch)
    if isinstance(obj, WelcomePointer):
        return _follow_pointer(store, None, obj, fetch, _result(store))
    if isinstance(obj, MLSMessage):
        if isinstance(obj.body, (PrivateMessage, PublicMessage)):
            return read_group_message(store, data)
        if isinstance(obj.body, Welcome):
            return read_welcome(store, obj.body)
        return None
    if isinstance(obj, PrivateMessage):
        return read_group_message(store, obj.to_mls_message_bytes())
    if isinstance(obj, PublicMessage):
        return read_group_message(store, encode(MLSMessage(obj)))
    if isinstance(obj, Welcome):
        return read_welcome(store, obj)
    return None


def _result(store: HomeStore) -> Struct:
    who = store.installation_id.hex() if store.installation_id is not None else "(no key package yet)"
    return Struct(f"as installation {who} of inbox {store.inbox_id} ({store.home}) reads it")


def _unreadable(out: Struct, reason: str) -> Struct:
    return out.add("readable", False).add("reason", reason)


# --- group messages -----------------------------------------------------------------------------------------------


def _member(group: Group, leaf_index: int) -> Struct:
    out = Struct(f"leaf {leaf_index}").add("leaf_index", leaf_index)
    member = group.member(leaf_index)
    if member is None:
        return out.add("member", Problem("no member at this leaf"))
    try:
        out.add("inbox_id", parse_credential(member.credential))
    except MLSError as exc:
        out.add("inbox_id", Problem(str(exc)))
    return out.add("installation_id", member.signature_key)


def read_group_message(
    store: HomeStore, data: bytes, *, server_id: int | None = None, created_ns: int | None = None
) -> Struct:
    out = _result(store)
    message = decode(MLSMessage, data)
    body = message.body
    group_id = body.group_id if isinstance(body, PrivateMessage) else body.content.group_id  # type: ignore[union-attr]
    state = store.group_state(group_id)
    if state is None:
        return _unreadable(out, f"not a member: this installation holds no conversation {group_id.hex()}")
    group = Group.from_bytes(state, config=XMTP_CONFIG)  # a copy: whatever processing uses up is never saved
    now = created_ns // 10**9 if created_ns else int(time.time())
    stored: StoredMessage | None = None
    try:
        result = group.process(data, now=now)
    except OwnMessageError:
        _unreadable(out, "sent by this installation: its key was used up when it was sent")
        stored = store.own_message(data)
    except MissingKeyError as exc:
        _unreadable(
            out,
            f"key already used: this installation has read this message before, or it is a replay ({exc})",
        )
        stored = store.message_by_server_id(group_id, server_id) if server_id is not None else None
    except WrongEpochError as exc:
        _unreadable(
            out,
            f"wrong epoch: {exc} (the installation joined after it was sent, or has left that epoch behind)",
        )
        stored = store.message_by_server_id(group_id, server_id) if server_id is not None else None
    except StateError as exc:
        _unreadable(out, f"the installation is no longer a member of this group: {exc}")
    except MLSError as exc:
        _unreadable(out, f"cannot decrypt: {exc}")
    else:
        out.add("readable", True)
        out.add("note", "decrypted by a copy of the group: the installation's state is unchanged")
        _describe_result(out, group, result)
        return out
    if stored is not None:
        out.add("stored", _describe_stored(stored))
    return out


def _describe_result(
    out: Struct, group: Group, result: ApplicationMessage | ProposalReceived | StagedCommit
) -> None:
    if isinstance(result, ApplicationMessage):
        out.add("sender", _member(group, result.sender))
        out.add("epoch", result.epoch).add("generation", result.generation)
        if result.authenticated_data:
            out.add("authenticated_data", result.authenticated_data)
        try:
            plaintext: Value = Nested(result.data, describe_plaintext_envelope(result.data, group.group_id))
        except InspectError as exc:
            plaintext = Problem(f"the application data is not an XMTP PlaintextEnvelope: {exc}")
        out.add("plaintext", plaintext)
    elif isinstance(result, StagedCommit):
        out.add("commit", _describe_staged(group, result))
    else:
        proposal = mls.describe_proposal(result.proposal)
        proposal.add("sender", mls.describe_sender(result.sender)).add("reference", result.reference)
        out.add("proposal", proposal)


def _leaf(index: int, leaf: LeafNode) -> Struct:
    out = Struct(f"leaf {index}").add("leaf_index", index)
    try:
        out.add("inbox_id", parse_credential(leaf.credential))
    except MLSError as exc:
        out.add("inbox_id", Problem(str(exc)))
    return out.add("installation_id", leaf.signature_key)


def _describe_staged(group: Group, staged: StagedCommit) -> Struct:
    out = Struct(f"Commit: epoch {staged.base_epoch} -> {staged.epoch}")
    sender = staged.sender
    if sender.sender_type.name == "member":
        out.add("committer", _member(group, sender.index))
    else:
        out.add("committer", mls.describe_sender(sender))
    out.add("proposals", [mls.describe_proposal(p.proposal) for p in staged.proposals])
    out.add("added", [_leaf(i, kp.leaf_node) for i, kp in staged.added])
    out.add("removed", [_leaf(i, leaf) for i, leaf in staged.removed])
    out.add("updated", [_leaf(i, leaf) for i, leaf in staged.updated])
    out.add("has_path", staged.has_path)
    out.add("removes_this_installation", staged.self_removed)
    if staged.extensions is not None:
        out.add("new_group_context_extensions", mls.describe_extensions(staged.extensions))
    out.add(
        "note", "checked as MLS (signature, confirmation tag, proposals); XMTP's identity-log rules are not"
    )
    return out


def _describe_stored(stored: StoredMessage) -> Struct:
    out = (
        Struct("the message as this installation's database stored it")
        .add("message_id", stored.message_id)
        .add("sender_inbox_id", stored.sender_inbox_id)
        .add("sender_installation", stored.sender_installation)
        .add("sent_ns", Timestamp(stored.sent_ns))
    )
    try:
        content: Value = describe_encoded_content(EncodedContent.from_bytes(stored.content))
    except MLSError as exc:
        content = Problem(str(exc))
    return out.add("content", content)


# --- welcomes -----------------------------------------------------------------------------------------------------


def _welcome_key(record: StoredKeyPackage) -> Any:
    return (
        record.wrapper_private_key
        if record.wrapper_private_key is not None
        else record.bundle.init_private_key
    )


def read_wrapped_welcome(
    store: HomeStore,
    proto: mls_pb2.WelcomeMessage | mls_pb2.WelcomeMessageInput,
    fetch: PointeeFetcher | None,
) -> Struct:
    out = _result(store)
    which = proto.WhichOneof("version")
    inner: Any = getattr(proto, str(which))
    if which == "v1" and inner.wrapper_algorithm == SYMMETRIC_KEY:
        return _unreadable(
            out, "a welcome-pointer pointee: it opens with the key its pointer carries (inspect the pointer)"
        )
    record = store.key_package(inner.hpke_public_key)
    if record is None:
        return _unreadable(
            out,
            "not for this installation: it holds no key package with this hpke_public_key (another "
            "installation's, or one deleted a day after it was replaced)",
        )
    try:
        if which == "v1":
            welcome, metadata = unwrap_welcome(
                inner.data, inner.welcome_metadata, _welcome_key(record), inner.wrapper_algorithm
            )
        else:
            pointer = unwrap_welcome_pointer(
                inner.welcome_pointer, _welcome_key(record), inner.wrapper_algorithm
            )
    except MLSError as exc:
        return _unreadable(out, f"cannot unwrap: {exc}")
    out.add("unwrapped_with", f"the wrapper key of key package {record.bundle.reference().hex()}")
    if which != "v1":
        return _follow_pointer(store, record, pointer, fetch, out)
    return _open(out, record, welcome, metadata)


def _follow_pointer(
    store: HomeStore,
    record: StoredKeyPackage | None,
    pointer: WelcomePointer,
    fetch: PointeeFetcher | None,
    out: Struct,
) -> Struct:
    out.add("pointer", describe_welcome_pointer(pointer))
    if fetch is None:
        return _unreadable(
            out,
            f"the welcome itself is on the node, under installation key {pointer.destination.hex()}: "
            "give --node to fetch it",
        )
    pointee = fetch(pointer.destination)
    if pointee is None:
        return _unreadable(out, f"the node has no welcome under {pointer.destination.hex()}")
    try:
        welcome, metadata = open_pointee(pointer, *pointee)
    except MLSError as exc:
        return _unreadable(out, f"the pointee does not open: {exc}")
    if record is None:
        try:
            found = _record_for(store, decode(MLSMessage, welcome).body)
        except MLSError as exc:
            return _unreadable(out, f"the pointee is not an MLS Welcome: {exc}")
        if isinstance(found, str):
            out.add("welcome", Nested(welcome, Struct("MLSMessage")))
            return _unreadable(out, found)
        record = found
    return _open(out, record, welcome, metadata)


def _open(out: Struct, record: StoredKeyPackage, welcome_bytes: bytes, metadata: bytes) -> Struct:
    if metadata:
        try:
            cursor = mls_pb2.WelcomeMetadata.FromString(metadata)
            out.add("welcome_metadata", Nested(metadata, describe_message(cursor, "WelcomeMetadata")))
        except ProtobufDecodeError as exc:
            out.add("welcome_metadata", Problem(f"not a WelcomeMetadata: {exc}"))
    try:
        message = decode(MLSMessage, welcome_bytes)
    except MLSError as exc:
        out.add("welcome", Problem(f"the unwrapped welcome is not an MLSMessage: {exc}"))
        return _unreadable(out, "the unwrapped welcome does not decode")
    out.add("welcome", Nested(welcome_bytes, mls.describe_mls_message(message)))
    if not isinstance(message.body, Welcome):
        return _unreadable(out, f"the unwrapped welcome is a {message.wire_format.name}, not a Welcome")
    _open_welcome(out, record, message.body)
    return out


def read_welcome(store: HomeStore, welcome: Welcome) -> Struct:
    out = _result(store)
    found = _record_for(store, welcome)
    if isinstance(found, str):
        return _unreadable(out, found)
    _open_welcome(out, found, welcome)
    return out


def _record_for(store: HomeStore, welcome: Any) -> StoredKeyPackage | str:
    """The home's key package this Welcome has an entry for, or why there is none."""
    if not isinstance(welcome, Welcome):
        return "not a Welcome"
    for record in store.key_packages():
        if welcome.secrets_for(record.bundle.reference()) is not None:
            return record
    return (
        f"not for this installation: none of the Welcome's {len(welcome.secrets)} entries names a key package "
        "it holds"
    )


def _open_welcome(out: Struct, record: StoredKeyPackage, welcome: Welcome) -> None:
    bundle = record.bundle
    try:
        opened = open_welcome(bundle.suite, welcome, bundle.reference(), bundle.init_private_key)
    except MLSError as exc:
        _unreadable(out, f"the Welcome does not open with this installation's key package: {exc}")
        return
    out.add("readable", True)
    out.add("note", "opened without joining: the installation's state is unchanged")
    out.add("group_secrets", mls.describe_group_secrets(opened.group_secrets))
    info = opened.group_info
    out.add("group_info", mls.describe_group_info(info))
    out.add("group_info_signature", _check_signature(bundle.suite, info))


def _check_signature(suite: Any, info: Any) -> Value:
    tree = next((e for e in info.extensions if e.extension_type == RatchetTreeExtension.extension_type), None)
    if tree is None:
        return "not checked: the GroupInfo carries no ratchet tree"
    try:
        nodes = RatchetTreeExtension.from_data(tree.extension_data).nodes
        signer = nodes[2 * info.signer] if 2 * info.signer < len(nodes) else None
        if signer is None or not isinstance(signer.value, LeafNode):
            return Problem(f"the signer, leaf {info.signer}, is not in the tree")
        verify_group_info(suite, signer.value.signature_key, info)
    except MLSError as exc:
        return Problem(str(exc))
    return f"verifies (signed by leaf {info.signer})"
