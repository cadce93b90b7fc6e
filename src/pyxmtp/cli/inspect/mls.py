"""RFC 9420 structures as :class:`~.tree.Struct` trees: MLSMessage and its five bodies, key packages, leaf nodes,
credentials, extensions (MLS's and XMTP's, decoded), group contexts, commits, proposals and ratchet trees."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

from pyxmtp.conversations.credential import parse_credential
from pyxmtp.mls.codec import decode, encode
from pyxmtp.mls.constants import (
    ContentType,
    ExtensionType,
    LeafNodeSource,
    PSKType,
    ResumptionPSKUsage,
    SenderType,
    WireFormat,
)
from pyxmtp.mls.crypto.labels import make_key_package_ref
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.framing.content import FramedContent, Sender
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, PublicMessage
from pyxmtp.mls.key_package_validation import validate_key_package
from pyxmtp.mls.messages.commit import Commit, HPKECiphertext
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.extensions import (
    ApplicationId,
    Extension,
    ExternalPub,
    ExternalSenders,
    RequiredCapabilities,
)
from pyxmtp.mls.messages.group_info import GroupContext, GroupInfo
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import (
    Add,
    AppDataUpdate,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ProposalOrRef,
    ReInit,
    Remove,
    ResumptionPSK,
    SelfRemove,
    UnknownProposal,
    Update,
)
from pyxmtp.mls.messages.welcome import GroupSecrets, Welcome
from pyxmtp.mls.tree.nodes import Capabilities, LeafNode, Node, ParentNode, RatchetTreeExtension

from . import names
from .tree import Nested, Problem, Secret, Struct, Timestamp, Value
from .xmtp_extensions import XMTP_EXTENSIONS, mls_credential

MLSBody = PublicMessage | PrivateMessage | Welcome | GroupInfo | KeyPackage


# --- credentials, capabilities, extensions ------------------------------------------------------------------------


def describe_credential(credential: Credential) -> Struct:
    out = Struct("Credential").add("credential_type", names.credential_type(credential.credential_type))
    if credential.credential_type == 1:
        decoded = mls_credential(credential.identity)
        if isinstance(decoded, Struct):
            out.title = "Credential (XMTP MlsCredential)"
            out.add("identity", Nested(credential.identity, decoded))
        else:
            out.add("identity", credential.identity)
            out.add("xmtp", decoded)
    elif credential.credential_type == 2:
        out.add("certificates", list(credential.certificates))
    else:
        out.add("body", credential.opaque_body)
    return out


def describe_capabilities(caps: Capabilities) -> Struct:
    return (
        Struct("Capabilities")
        .add("versions", [names.protocol_version(v) for v in caps.versions])
        .add("cipher_suites", [names.cipher_suite(s) for s in caps.cipher_suites])
        .add("extensions", [names.extension_type(t) for t in caps.extensions])
        .add("proposals", [names.proposal_type(t) for t in caps.proposals])
        .add("credentials", [names.credential_type(t) for t in caps.credentials])
    )


def _text_or_bytes(data: bytes) -> Value:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return text if text.isprintable() else data


def _application_id(data: bytes) -> Value:
    return Struct("ApplicationId").add(
        "application_id", _text_or_bytes(ApplicationId.from_data(data).application_id)
    )


def _required_capabilities(data: bytes) -> Value:
    body = RequiredCapabilities.from_data(data)
    return (
        Struct("RequiredCapabilities")
        .add("extension_types", [names.extension_type(t) for t in body.extension_types])
        .add("proposal_types", [names.proposal_type(t) for t in body.proposal_types])
        .add("credential_types", [names.credential_type(t) for t in body.credential_types])
    )


def _external_pub(data: bytes) -> Value:
    return Struct("ExternalPub").add("external_pub", ExternalPub.from_data(data).external_pub)


def _external_senders(data: bytes) -> Value:
    senders = ExternalSenders.from_data(data).senders
    return [
        Struct("ExternalSender")
        .add("signature_key", s.signature_key)
        .add("credential", describe_credential(s.credential))
        for s in senders
    ]


def _ratchet_tree(data: bytes) -> Value:
    return describe_ratchet_tree(RatchetTreeExtension.from_data(data).nodes)


def _last_resort(data: bytes) -> Value:
    return (
        Struct("LastResort (empty)")
        if not data
        else Problem(f"a last_resort body must be empty, got {len(data)} bytes")
    )


_MLS_EXTENSIONS: dict[int, Callable[[bytes], Value]] = {
    ExtensionType.application_id: _application_id,
    ExtensionType.ratchet_tree: _ratchet_tree,
    ExtensionType.required_capabilities: _required_capabilities,
    ExtensionType.external_pub: _external_pub,
    ExtensionType.external_senders: _external_senders,
    ExtensionType.last_resort: _last_resort,
}


def describe_extension(ext: Extension) -> Struct:
    """One extension: its type (named) and its body, decoded when the type is one MLS or XMTP defines."""
    kind = names.extension_type(ext.extension_type)
    out = Struct(f"{kind.name or 'unknown'} ({kind.number()})").add("extension_type", kind)
    decoder = _MLS_EXTENSIONS.get(ext.extension_type) or XMTP_EXTENSIONS.get(ext.extension_type)
    if decoder is None:
        out.add("extension_data", ext.extension_data)
        return out
    try:
        body = decoder(ext.extension_data)
    except MLSError as exc:
        body = Problem(str(exc))
    out.add("extension_data", Nested(ext.extension_data, body) if isinstance(body, Struct) else body)
    return out


def describe_extensions(extensions: Sequence[Extension]) -> list[Value]:
    return [describe_extension(e) for e in extensions]


# --- leaves, key packages, trees ----------------------------------------------------------------------------------


def describe_leaf_node(leaf: LeafNode, title: str = "LeafNode") -> Struct:
    out = Struct(title)
    with contextlib.suppress(MLSError):  # not an XMTP credential: the credential below says what it is
        out.add("inbox_id", parse_credential(leaf.credential))
    out.add("encryption_key", leaf.encryption_key)
    out.add("signature_key", leaf.signature_key)
    out.add("credential", describe_credential(leaf.credential))
    out.add("capabilities", describe_capabilities(leaf.capabilities))
    out.add("leaf_node_source", names.enum_name(LeafNodeSource, leaf.leaf_node_source))
    if leaf.lifetime is not None:
        out.add(
            "lifetime",
            Struct("Lifetime")
            .add("not_before", Timestamp(leaf.lifetime.not_before, "s"))
            .add("not_after", Timestamp(leaf.lifetime.not_after, "s")),
        )
    if leaf.parent_hash is not None:
        out.add("parent_hash", leaf.parent_hash)
    out.add("extensions", describe_extensions(leaf.extensions))
    out.add("signature", leaf.signature)
    return out


def describe_key_package(kp: KeyPackage, *, now: int | None = None) -> Struct:
    out = Struct("KeyPackage")
    try:
        out.add("inbox_id", parse_credential(kp.leaf_node.credential))
        out.add("installation_id", kp.leaf_node.signature_key)
    except MLSError:
        pass
    out.add("version", names.protocol_version(kp.version))
    out.add("cipher_suite", names.cipher_suite(kp.cipher_suite))
    out.add("init_key", kp.init_key)
    out.add("leaf_node", describe_leaf_node(kp.leaf_node))
    out.add("extensions", describe_extensions(kp.extensions))
    out.add("signature", kp.signature)
    try:
        out.add("key_package_ref", make_key_package_ref(get_suite(kp.cipher_suite), encode(kp)))
    except MLSError as exc:
        out.add("key_package_ref", Problem(str(exc)))
    try:
        validate_key_package(kp, now=int(time.time()) if now is None else now)
        out.add("validation", "valid (signatures verify, lifetime current, extensions allowed)")
    except MLSError as exc:
        out.add("validation", Problem(str(exc)))
    return out


def _describe_parent(parent: ParentNode) -> Struct:
    return (
        Struct("ParentNode")
        .add("encryption_key", parent.encryption_key)
        .add("parent_hash", parent.parent_hash)
        .add("unmerged_leaves", list(parent.unmerged_leaves))
    )


def describe_ratchet_tree(nodes: Sequence[Node | None]) -> Struct:
    """Every node of the tree array: leaves at even indexes (with their leaf index), parents at odd ones."""
    out = Struct(f"ratchet tree ({(len(nodes) + 1) // 2} leaves)")
    for index, node in enumerate(nodes):
        if node is None:
            out.add(f"node {index}", "blank")
        elif isinstance(node.value, LeafNode):
            out.add(f"node {index}", describe_leaf_node(node.value, f"leaf {index // 2}"))
        else:
            out.add(f"node {index}", _describe_parent(node.value))
    return out


# --- welcomes, group info -----------------------------------------------------------------------------------------


def _hpke_ciphertext(ct: HPKECiphertext) -> Struct:
    return Struct("HPKECiphertext").add("kem_output", ct.kem_output).add("ciphertext", ct.ciphertext)


def describe_welcome(welcome: Welcome) -> Struct:
    out = Struct("Welcome").add("cipher_suite", names.cipher_suite(welcome.cipher_suite))
    out.add(
        "secrets",
        [
            Struct("EncryptedGroupSecrets")
            .add("new_member", s.new_member)
            .add("encrypted_group_secrets", _hpke_ciphertext(s.encrypted_group_secrets))
            for s in welcome.secrets
        ],
    )
    out.add("encrypted_group_info", welcome.encrypted_group_info)
    return out


def describe_group_context(context: GroupContext) -> Struct:
    return (
        Struct("GroupContext")
        .add("version", names.protocol_version(context.version))
        .add("cipher_suite", names.cipher_suite(context.cipher_suite))
        .add("group_id", context.group_id)
        .add("epoch", context.epoch)
        .add("tree_hash", context.tree_hash)
        .add("confirmed_transcript_hash", context.confirmed_transcript_hash)
        .add("extensions", describe_extensions(context.extensions))
    )


def describe_group_info(info: GroupInfo) -> Struct:
    return (
        Struct("GroupInfo")
        .add("group_context", describe_group_context(info.group_context))
        .add("extensions", describe_extensions(info.extensions))
        .add("confirmation_tag", info.confirmation_tag)
        .add("signer", info.signer)
        .add("signature", info.signature)
    )


def _psk_id(psk: PreSharedKeyID) -> Struct:
    out = Struct("PreSharedKeyID")
    if isinstance(psk.psk, ResumptionPSK):
        out.add("psktype", names.enum_name(PSKType, PSKType.resumption))
        out.add("usage", names.enum_name(ResumptionPSKUsage, psk.psk.usage))
        out.add("psk_group_id", psk.psk.psk_group_id)
        out.add("psk_epoch", psk.psk.psk_epoch)
    else:
        out.add("psktype", names.enum_name(PSKType, PSKType.external))
        out.add("psk_id", psk.psk.psk_id)
    return out.add("psk_nonce", psk.psk_nonce)


def describe_group_secrets(secrets: GroupSecrets) -> Struct:
    return (
        Struct("GroupSecrets")
        .add("joiner_secret", Secret(secrets.joiner_secret))
        .add("path_secret", None if secrets.path_secret is None else Secret(secrets.path_secret))
        .add("psks", [_psk_id(p) for p in secrets.psks])
    )


# --- framing: public and private messages, commits, proposals -----------------------------------------------------


def describe_sender(sender: Sender) -> Struct:
    out = Struct("Sender").add("sender_type", names.enum_name(SenderType, sender.sender_type))
    if sender.sender_type in (SenderType.member, SenderType.external):
        out.add("leaf_index" if sender.sender_type is SenderType.member else "sender_index", sender.index)
    return out


def describe_proposal(proposal: Proposal) -> Struct:
    body = proposal.body
    kind = names.proposal_type(proposal.proposal_type)
    out = Struct(f"{kind.name or 'unknown'} proposal").add("proposal_type", kind)
    if isinstance(body, Add):
        out.add("key_package", describe_key_package(body.key_package))
    elif isinstance(body, Update):
        out.add("leaf_node", describe_leaf_node(body.leaf_node))
    elif isinstance(body, Remove):
        out.add("removed", body.removed)
    elif isinstance(body, PreSharedKey):
        out.add("psk", _psk_id(body.psk))
    elif isinstance(body, ReInit):
        out.add("group_id", body.group_id).add("version", names.protocol_version(body.version))
        out.add("cipher_suite", names.cipher_suite(body.cipher_suite))
        out.add("extensions", describe_extensions(body.extensions))
    elif isinstance(body, ExternalInit):
        out.add("kem_output", body.kem_output)
    elif isinstance(body, GroupContextExtensions):
        out.add("extensions", describe_extensions(body.extensions))
    elif isinstance(body, AppDataUpdate):
        out.add("component_id", body.component_id)
        out.add("operation", "remove" if body.update is None else "update")
        if body.update is not None:
            out.add("update", body.update)
    elif isinstance(body, SelfRemove):
        pass
    elif isinstance(body, UnknownProposal):
        out.add("payload", body.payload)
    return out


def _proposal_or_ref(item: ProposalOrRef) -> Value:
    if isinstance(item.value, Proposal):
        return describe_proposal(item.value)
    return Struct("proposal by reference").add("reference", item.value)


def describe_commit(commit: Commit) -> Struct:
    out = Struct("Commit").add("proposals", [_proposal_or_ref(p) for p in commit.proposals])
    if commit.path is None:
        return out.add("path", None)
    path = (
        Struct("UpdatePath")
        .add("leaf_node", describe_leaf_node(commit.path.leaf_node))
        .add(
            "nodes",
            [
                Struct("UpdatePathNode")
                .add("encryption_key", n.encryption_key)
                .add("encrypted_path_secret", [_hpke_ciphertext(c) for c in n.encrypted_path_secret])
                for n in commit.path.nodes
            ],
        )
    )
    return out.add("path", path)


def describe_framed_content(content: FramedContent) -> Struct:
    out = (
        Struct("FramedContent")
        .add("group_id", content.group_id)
        .add("epoch", content.epoch)
        .add("sender", describe_sender(content.sender))
        .add("authenticated_data", content.authenticated_data)
        .add("content_type", names.enum_name(ContentType, content.content_type))
    )
    body = content.body
    if isinstance(body, bytes):
        return out.add("application_data", body)
    if isinstance(body, Proposal):
        return out.add("proposal", describe_proposal(body))
    return out.add("commit", describe_commit(body))


def describe_public_message(message: PublicMessage) -> Struct:
    auth = Struct("FramedContentAuthData").add("signature", message.auth.signature)
    if message.auth.confirmation_tag is not None:
        auth.add("confirmation_tag", message.auth.confirmation_tag)
    out = Struct("PublicMessage").add("content", describe_framed_content(message.content)).add("auth", auth)
    if message.membership_tag is not None:
        out.add("membership_tag", message.membership_tag)
    return out


def describe_private_message(message: PrivateMessage) -> Struct:
    return (
        Struct("PrivateMessage")
        .add("group_id", message.group_id)
        .add("epoch", message.epoch)
        .add("content_type", names.enum_name(ContentType, message.content_type))
        .add("authenticated_data", message.authenticated_data)
        .add("encrypted_sender_data", message.encrypted_sender_data)
        .add("ciphertext", message.ciphertext)
    )


def describe_body(body: MLSBody) -> Struct:
    if isinstance(body, KeyPackage):
        return describe_key_package(body)
    if isinstance(body, Welcome):
        return describe_welcome(body)
    if isinstance(body, GroupInfo):
        return describe_group_info(body)
    if isinstance(body, PublicMessage):
        return describe_public_message(body)
    return describe_private_message(body)


def describe_mls_message(message: MLSMessage) -> Struct:
    wire_format = message.wire_format
    return (
        Struct(f"MLSMessage ({wire_format.name})")
        .add("version", names.protocol_version(message.version))
        .add("wire_format", names.enum_name(WireFormat, wire_format))
        .add(wire_format.name, describe_body(message.body))
    )


def decode_mls_message(data: bytes) -> MLSMessage:
    """``data`` as exactly one MLSMessage (:class:`~pyxmtp.mls.errors.DecodeError` otherwise)."""
    return decode(MLSMessage, data)
