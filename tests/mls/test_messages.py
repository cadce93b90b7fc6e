"""RFC 9420 wire structures: exact encodings, the source/content-type dependent parts, and what decoding rejects."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pyxmtp.mls.codec import Writer, decode, encode
from pyxmtp.mls.constants import (
    CredentialType,
    ExtensionType,
    LeafNodeSource,
    NodeType,
    ProposalOrRefType,
    ProposalType,
    PSKType,
    ResumptionPSKUsage,
    SenderType,
    WireFormat,
    is_grease,
)
from pyxmtp.mls.errors import DecodeError, EncodeError, LocalMLSError, ValidationError
from pyxmtp.mls.framing.content import (
    AuthenticatedContent,
    FramedContent,
    FramedContentAuthData,
    Sender,
)
from pyxmtp.mls.messages.commit import Commit, HPKECiphertext, UpdatePath, UpdatePathNode
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.extensions import (
    ApplicationId,
    Extension,
    ExternalPub,
    ExternalSender,
    ExternalSenders,
    LastResort,
    RequiredCapabilities,
    check_unique_extension_types,
    find_extension,
    get_extension,
)
from pyxmtp.mls.messages.group_info import (
    GroupContext,
    GroupInfo,
    confirmed_transcript_hash_input,
    interim_transcript_hash_input,
)
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import (
    Add,
    AppDataUpdate,
    ExternalInit,
    ExternalPSK,
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
    psk_label,
)
from pyxmtp.mls.messages.welcome import EncryptedGroupSecrets, GroupSecrets, PathSecret, Welcome
from pyxmtp.mls.tree.nodes import (
    Capabilities,
    LeafNode,
    Lifetime,
    Node,
    ParentNode,
    RatchetTreeExtension,
    decode_ratchet_tree,
    encode_ratchet_tree,
)

# --- sample structures ----------------------------------------------------------------------------------------
CAPS = Capabilities((1,), (1, 3), (0x0A0A, 0xFF00), (0x1A1A,), (1,))
EXTS = (Extension(0xFF01, b"\x01\x02"), Extension(0x2A2A, b""))


def leaf(source: LeafNodeSource = LeafNodeSource.key_package, sig: bytes = b"S" * 64) -> LeafNode:
    return LeafNode(
        encryption_key=b"E" * 32,
        signature_key=b"K" * 32,
        credential=Credential.basic(b"alice"),
        capabilities=CAPS,
        leaf_node_source=source,
        lifetime=Lifetime(10, 20) if source is LeafNodeSource.key_package else None,
        parent_hash=b"P" * 32 if source is LeafNodeSource.commit else None,
        extensions=EXTS,
        signature=sig,
    )


def key_package() -> KeyPackage:
    return KeyPackage(1, 3, b"I" * 32, leaf(), (LastResort().to_extension(),), b"s" * 64)


def group_context(epoch: int = 7) -> GroupContext:
    return GroupContext(1, 3, b"group", epoch, b"T" * 32, b"C" * 32, EXTS)


def round_trip(cls: type[Any], value: object) -> bytes:
    """Encode ``value``, check it decodes back as ``cls`` to an equal value, return the bytes."""
    data = encode(value)  # type: ignore[arg-type]
    assert decode(cls, data) == value
    return data


# --- constants ------------------------------------------------------------------------------------------------
def test_grease_values() -> None:
    assert is_grease(0x0A0A) and is_grease(0xEAEA) and is_grease(0x5A5A)
    assert not is_grease(0xFAFA) and not is_grease(0x0A0B) and not is_grease(1)


def test_code_points() -> None:
    assert ExtensionType.last_resort.value == 0x000A
    assert ProposalType.group_context_extensions.value == 7
    assert [w.value for w in WireFormat] == [1, 2, 3, 4, 5]
    assert SenderType.new_member_commit.value == 4


# --- credentials ----------------------------------------------------------------------------------------------
def test_basic_credential_bytes() -> None:
    assert round_trip(Credential, Credential.basic(b"alice")).hex() == "000105616c696365"


def test_x509_credential_is_a_vector_of_certificates() -> None:
    cred = Credential.x509((b"ab", b"c"))
    assert cred.credential_type == CredentialType.x509
    assert round_trip(Credential, cred).hex() == "0002" + "05" + "026162" + "0163"


def test_unknown_credential_type_is_carried_as_opaque_body() -> None:
    cred = Credential(0xF00D, opaque_body=b"\x01\x02\x03")
    assert round_trip(Credential, cred).hex() == "f00d03010203"
    assert decode(Credential, bytes.fromhex("0a0a00")) == Credential(0x0A0A)


def test_credential_fields_must_match_the_type() -> None:
    for bad in (
        Credential(1, certificates=(b"x",)),
        Credential(2, identity=b"x"),
        Credential(9, identity=b"x"),
        Credential(1, opaque_body=b"x"),
    ):
        with pytest.raises(EncodeError):
            encode(bad)


def test_x509_certificate_overrunning_its_vector() -> None:
    with pytest.raises(DecodeError):
        decode(Credential, bytes.fromhex("0002" + "02" + "0561"))


# --- extensions -----------------------------------------------------------------------------------------------
def test_extension_is_opaque_and_byte_exact() -> None:
    assert round_trip(Extension, Extension(0xBEEF, b"\x00\x01")).hex() == "beef020001"


def test_application_id_body_is_itself_length_prefixed() -> None:
    ext = ApplicationId(b"inbox").to_extension()
    assert ext == Extension(ExtensionType.application_id, b"\x05inbox")
    assert ApplicationId.from_extension(ext) == ApplicationId(b"inbox")


def test_required_capabilities_and_external_pub() -> None:
    rc = RequiredCapabilities((0xFF01, 0x000A), (7,), (1,))
    ext = rc.to_extension()
    assert ext.extension_data.hex() == "04ff01000a" + "020007" + "020001"
    assert RequiredCapabilities.from_extension(ext) == rc
    assert ExternalPub.from_extension(ExternalPub(b"pk").to_extension()) == ExternalPub(b"pk")


def test_external_senders_is_a_vector() -> None:
    senders = ExternalSenders(
        (ExternalSender(b"k1", Credential.basic(b"a")), ExternalSender(b"k2", Credential.basic(b"b")))
    )
    ext = senders.to_extension()
    one = "026b31" + "0001" + "0161"
    two = "026b32" + "0001" + "0162"
    assert ext.extension_data.hex() == "0e" + one + two
    assert ExternalSenders.from_extension(ext) == senders


def test_last_resort_is_empty_and_rejects_a_body() -> None:
    assert LastResort().to_extension() == Extension(0x000A, b"")
    assert LastResort.from_extension(Extension(0x000A, b"")) == LastResort()
    with pytest.raises(DecodeError, match="trailing"):
        LastResort.from_extension(Extension(0x000A, b"\x00"))


def test_typed_extension_rejects_wrong_type_and_malformed_body() -> None:
    with pytest.raises(LocalMLSError):
        ApplicationId.from_extension(Extension(3, b"\x00"))
    with pytest.raises(DecodeError):
        ApplicationId.from_extension(Extension(1, b"\x05ab"))
    with pytest.raises(DecodeError):
        RequiredCapabilities.from_extension(Extension(3, b"\x01\x00\x00\x00"))


def test_find_get_and_unique() -> None:
    exts = (Extension(0xFF00, b"x"), ApplicationId(b"id").to_extension(), Extension(0xFF00, b"y"))
    assert find_extension(exts, 0xFF00) == Extension(0xFF00, b"x")
    assert find_extension(exts, 4) is None
    assert get_extension(exts, ApplicationId) == ApplicationId(b"id")
    assert get_extension(exts, ExternalSenders) is None
    check_unique_extension_types(exts[:2])
    with pytest.raises(ValidationError, match="0xff00"):
        check_unique_extension_types(exts)


# --- leaf nodes and the ratchet tree ----------------------------------------------------------------------------
@pytest.mark.parametrize("source", list(LeafNodeSource))
def test_leaf_node_round_trip(source: LeafNodeSource) -> None:
    round_trip(LeafNode, leaf(source))


def test_leaf_node_tbs_of_key_package_leaf_is_content_without_signature() -> None:
    ln = leaf()
    data = encode(ln)
    assert data.endswith(b"\x40\x40" + b"S" * 64)
    assert ln.tbs() == data[:-66]
    assert ln.tbs(b"ignored", 3) == ln.tbs()


@pytest.mark.parametrize("source", [LeafNodeSource.update, LeafNodeSource.commit])
def test_leaf_node_tbs_binds_group_and_leaf_index(source: LeafNodeSource) -> None:
    ln = leaf(source)
    content = encode(ln)[:-66]
    assert ln.tbs(b"grp", 5) == content + b"\x03grp" + b"\x00\x00\x00\x05"
    with pytest.raises(LocalMLSError):
        ln.tbs()
    with pytest.raises(LocalMLSError):
        ln.tbs(b"grp")


def test_leaf_node_source_fields_must_match() -> None:
    for bad in (
        dataclasses.replace(leaf(), lifetime=None),
        dataclasses.replace(leaf(), parent_hash=b""),
        dataclasses.replace(leaf(LeafNodeSource.commit), parent_hash=None),
        dataclasses.replace(leaf(LeafNodeSource.update), lifetime=Lifetime(0, 1)),
    ):
        with pytest.raises(EncodeError):
            encode(bad)


def test_leaf_node_unknown_source_is_decode_error() -> None:
    data = bytearray(encode(leaf(LeafNodeSource.update)))
    # the source octet sits right after the capabilities
    pos = len(encode(leaf(LeafNodeSource.update))) - 66 - len(encode_exts(EXTS)) - 1
    assert data[pos] == LeafNodeSource.update
    data[pos] = 4
    with pytest.raises(DecodeError, match="leaf_node_source") as info:
        decode(LeafNode, bytes(data))
    assert info.value.structure == "LeafNode"
    assert info.value.offset == pos


def encode_exts(exts: tuple[Extension, ...]) -> bytes:
    w = Writer()
    w.vector_v(exts, lambda ww, e: e.encode(ww))
    return w.getvalue()


def test_parent_node_bytes() -> None:
    p = ParentNode(b"k", b"h", (1, 2))
    assert round_trip(ParentNode, p).hex() == "016b" + "0168" + "08" + "00000001" + "00000002"


def tree3() -> list[Node | None]:
    return [Node(leaf()), Node(ParentNode(b"k", b"", ())), None, None, Node(leaf())]


def test_ratchet_tree_round_trip_with_blanks() -> None:
    nodes = tree3()
    data = encode_ratchet_tree(nodes)
    assert decode_ratchet_tree(data) == nodes
    assert nodes[1] is not None and nodes[1].node_type is NodeType.parent
    ext = RatchetTreeExtension(tuple(nodes)).to_extension()
    assert ext.extension_type == ExtensionType.ratchet_tree and ext.extension_data == data
    assert RatchetTreeExtension.from_extension(ext).nodes == tuple(nodes)


@pytest.mark.parametrize(
    ("nodes", "reason"),
    [
        ([], "no nodes"),
        ([Node(leaf()), None], "blank"),
        ([Node(leaf()), None, None], "blank"),
        ([Node(ParentNode(b"k", b"", ()))], "parent node in a leaf position"),
        ([Node(leaf()), Node(leaf()), Node(leaf())], "leaf node in a parent position"),
    ],
)
def test_ratchet_tree_shape_is_enforced_both_ways(nodes: list[Node | None], reason: str) -> None:
    with pytest.raises(EncodeError, match=reason):
        encode_ratchet_tree(nodes)
    w = Writer()
    w.vector_v(nodes, lambda ww, n: ww.optional(n, lambda w3, x: x.encode(w3)))
    with pytest.raises(DecodeError, match=reason):
        decode_ratchet_tree(w.getvalue())


def test_node_unknown_type() -> None:
    with pytest.raises(DecodeError, match="node_type"):
        decode_ratchet_tree(bytes.fromhex("02" + "01" + "03"))


# --- key packages -----------------------------------------------------------------------------------------------
def test_key_package_round_trip_and_tbs() -> None:
    kp = key_package()
    data = round_trip(KeyPackage, kp)
    assert data[:4] == bytes.fromhex("00010003")
    assert kp.tbs() == data[:-66]


# --- proposals ----------------------------------------------------------------------------------------------------
PSK_EXT = PreSharedKeyID(ExternalPSK(b"id"), b"n" * 32)
PSK_RES = PreSharedKeyID(ResumptionPSK(ResumptionPSKUsage.branch, b"g", 9), b"n")


@pytest.mark.parametrize(
    "body",
    [
        Add(key_package()),
        Update(leaf(LeafNodeSource.update)),
        Remove(0xFFFFFFFF),
        PreSharedKey(PSK_EXT),
        PreSharedKey(PSK_RES),
        ReInit(b"g", 1, 3, EXTS),
        ExternalInit(b"kem"),
        GroupContextExtensions(EXTS),
        AppDataUpdate(0x8001, b"data"),
        AppDataUpdate(0x8003, None),
        SelfRemove(),
        UnknownProposal(0xF001, b"payload"),
        UnknownProposal(0x0A0A, b""),
    ],
)
def test_proposal_round_trip(body: object) -> None:
    p = Proposal(body)  # type: ignore[arg-type]
    data = round_trip(Proposal, p)
    assert int.from_bytes(data[:2], "big") == p.proposal_type
    assert data[2:] == encode(body)  # type: ignore[arg-type]


def test_proposal_exact_bytes() -> None:
    assert encode(Proposal(Remove(5))).hex() == "0003" + "00000005"
    assert encode(Proposal(AppDataUpdate(0x8001, b"ab"))).hex() == "0008" + "8001" + "01" + "026162"
    assert encode(Proposal(AppDataUpdate(0x8001, None))).hex() == "0008" + "8001" + "02"
    assert encode(Proposal(SelfRemove())).hex() == "000a"
    assert encode(Proposal(UnknownProposal(0xF001, b"ab"))).hex() == "f001" + "026162"


def test_unknown_proposal_cannot_impersonate_a_known_type() -> None:
    with pytest.raises(EncodeError):
        encode(Proposal(UnknownProposal(ProposalType.remove, b"\x00\x00\x00\x01")))


def test_psk_id_bytes_and_label() -> None:
    assert encode(PSK_RES).hex() == "02" + "03" + "0167" + "0000000000000009" + "016e"
    assert PSK_EXT.psk_type is PSKType.external and PSK_RES.psk_type is PSKType.resumption
    assert psk_label(PSK_RES, 1, 2) == encode(PSK_RES) + bytes.fromhex("00010002")


@pytest.mark.parametrize("data", ["03" + "00" + "00", "02" + "04" + "00" + "0000000000000000" + "00"])
def test_psk_id_rejects_unknown_type_and_usage(data: str) -> None:
    with pytest.raises(DecodeError):
        decode(PreSharedKeyID, bytes.fromhex(data))


def test_app_data_update_unknown_operation() -> None:
    with pytest.raises(DecodeError, match="operation"):
        decode(Proposal, bytes.fromhex("0008" + "8001" + "03"))


def test_proposal_or_ref() -> None:
    by_value = ProposalOrRef(Proposal(Remove(1)))
    by_ref = ProposalOrRef(b"r" * 32)
    assert by_value.type is ProposalOrRefType.proposal and by_ref.type is ProposalOrRefType.reference
    assert round_trip(ProposalOrRef, by_ref) == b"\x02\x20" + b"r" * 32
    assert encode(by_value) == b"\x01" + encode(Proposal(Remove(1)))
    round_trip(ProposalOrRef, by_value)
    with pytest.raises(DecodeError, match="ProposalOrRefType"):
        decode(ProposalOrRef, b"\x03\x00")


# --- commits -------------------------------------------------------------------------------------------------------
def test_commit_round_trip_with_and_without_path() -> None:
    path = UpdatePath(
        leaf(LeafNodeSource.commit),
        (
            UpdatePathNode(b"pk", (HPKECiphertext(b"kem", b"ct"), HPKECiphertext(b"", b""))),
            UpdatePathNode(b"q", ()),
        ),
    )
    c = Commit((ProposalOrRef(Proposal(Remove(1))), ProposalOrRef(b"ref")), path)
    round_trip(Commit, c)
    empty = Commit((), None)
    assert round_trip(Commit, empty) == b"\x00\x00"


# --- group context, group info, transcript inputs -----------------------------------------------------------------
def test_group_context_bytes() -> None:
    gc = GroupContext(1, 3, b"g", 2, b"t", b"c", ())
    assert (
        round_trip(GroupContext, gc).hex()
        == "0001" + "0003" + "0167" + "0000000000000002" + "0174" + "0163" + "00"
    )


def test_group_info_tbs() -> None:
    gi = GroupInfo(group_context(), (RatchetTreeExtension(tuple(tree3())).to_extension(),), b"tag", 3, b"sig")
    data = round_trip(GroupInfo, gi)
    assert gi.tbs() == data[:-4]
    assert data.endswith(b"\x03tag\x00\x00\x00\x03\x03sig")


def test_transcript_hash_inputs() -> None:
    content = FramedContent(b"g", 1, Sender.member(2), b"", Commit((), None))
    got = confirmed_transcript_hash_input(WireFormat.public_message, content, b"sig")
    assert got == b"\x00\x01" + encode(content) + b"\x03sig"
    ac = AuthenticatedContent(WireFormat.public_message, content, FramedContentAuthData(b"sig", b"tag"))
    assert ac.confirmed_transcript_hash_input() == got
    assert interim_transcript_hash_input(b"tag") == b"\x03tag"


# --- welcome ----------------------------------------------------------------------------------------------------------
def test_group_secrets_optional_path_secret() -> None:
    gs = GroupSecrets(b"j", b"p", (PSK_EXT,))
    assert round_trip(GroupSecrets, gs).startswith(b"\x01j\x01\x01p")
    assert round_trip(GroupSecrets, GroupSecrets(b"j", None, ())) == b"\x01j\x00\x00"
    assert encode(PathSecret(b"p")) == b"\x01p"


def test_welcome_round_trip_and_lookup() -> None:
    a = EncryptedGroupSecrets(b"ref-a", HPKECiphertext(b"k", b"c"))
    b = EncryptedGroupSecrets(b"ref-b", HPKECiphertext(b"k2", b"c2"))
    w = Welcome(3, (a, b), b"egi")
    round_trip(Welcome, w)
    assert w.secrets_for(b"ref-b") is b
    assert w.secrets_for(b"nope") is None


def test_integer_lists_are_exact_and_range_checked() -> None:
    assert (
        encode(Capabilities((1,), (), (0xFFFF,), (), (2, 3))).hex()
        == "020001" + "00" + "02ffff" + "00" + "0400020003"
    )
    for bad in (Capabilities((0x10000,)), Capabilities((), (-1,))):
        with pytest.raises(EncodeError, match="uint16"):
            encode(bad)
    with pytest.raises(EncodeError, match="uint32"):
        encode(ParentNode(b"", b"", (1 << 32,)))
    with pytest.raises(DecodeError, match="uint16 vector of 3 bytes") as info:
        decode(Capabilities, bytes.fromhex("00" + "03010203" + "000000"))
    assert info.value.offset == 1
    with pytest.raises(DecodeError, match="uint32 vector of 6 bytes"):
        decode(ParentNode, bytes.fromhex("00" + "00" + "06000000010000"))
