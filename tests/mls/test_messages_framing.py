"""RFC 9420 framing structures: Sender, FramedContent and its TBS, AuthenticatedContent, PublicMessage,
PrivateMessage and its plaintext parts, MLSMessage."""

from __future__ import annotations

import dataclasses

import pytest

from pyxmtp.mls.codec import Reader, decode, encode
from pyxmtp.mls.constants import ContentType, SenderType, WireFormat
from pyxmtp.mls.errors import DecodeError, EncodeError, LocalMLSError
from pyxmtp.mls.framing.content import (
    AuthenticatedContent,
    FramedContent,
    FramedContentAuthData,
    Sender,
    framed_content_tbs,
)
from pyxmtp.mls.framing.messages import (
    MLSMessage,
    PrivateContentAAD,
    PrivateMessage,
    PrivateMessageContent,
    PublicMessage,
    SenderData,
    SenderDataAAD,
)
from pyxmtp.mls.messages.commit import Commit
from pyxmtp.mls.messages.group_info import GroupInfo
from pyxmtp.mls.messages.proposals import Proposal, Remove
from pyxmtp.mls.messages.welcome import Welcome
from tests.mls.test_messages import group_context, key_package, round_trip


# --- framing ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sender", "hex_"),
    [
        (Sender.member(7), "0100000007"),
        (Sender.external(1), "0200000001"),
        (Sender.new_member_proposal(), "03"),
        (Sender.new_member_commit(), "04"),
    ],
)
def test_sender_bytes(sender: Sender, hex_: str) -> None:
    assert round_trip(Sender, sender).hex() == hex_


def test_sender_rules() -> None:
    assert Sender.member(7).leaf_index == 7
    with pytest.raises(LocalMLSError):
        _ = Sender.external(1).leaf_index
    with pytest.raises(EncodeError):
        encode(Sender(SenderType.new_member_commit, 3))
    with pytest.raises(DecodeError, match="sender_type"):
        decode(Sender, b"\x05")


def framed(body: bytes | Proposal | Commit, sender: Sender | None = None) -> FramedContent:
    return FramedContent(b"group", 7, sender or Sender.member(1), b"aad", body)


def test_framed_content_type_follows_body() -> None:
    assert framed(b"hi").content_type is ContentType.application
    assert framed(Proposal(Remove(1))).content_type is ContentType.proposal
    assert framed(Commit((), None)).content_type is ContentType.commit
    data = round_trip(FramedContent, framed(b"hi"))
    assert data.hex() == "0567726f7570" + "0000000000000007" + "0100000001" + "03616164" + "01" + "026869"


def test_framed_content_unknown_content_type() -> None:
    data = bytearray(encode(framed(b"hi")))
    data[-4] = 4
    with pytest.raises(DecodeError, match="content_type"):
        decode(FramedContent, bytes(data))


def test_framed_content_tbs_includes_context_only_for_member_and_new_member_commit() -> None:
    gc = group_context()
    for sender in (Sender.member(1), Sender.new_member_commit()):
        c = framed(Commit((), None), sender)
        assert framed_content_tbs(WireFormat.public_message, c, gc) == (
            b"\x00\x01\x00\x01" + encode(c) + encode(gc)
        )
        with pytest.raises(LocalMLSError):
            framed_content_tbs(WireFormat.public_message, c, None)
    for sender in (Sender.external(0), Sender.new_member_proposal()):
        c = framed(Proposal(Remove(1)), sender)
        want = b"\x00\x01\x00\x01" + encode(c)
        assert framed_content_tbs(WireFormat.public_message, c, gc) == want
        assert framed_content_tbs(WireFormat.public_message, c, None) == want


def test_authenticated_content() -> None:
    ac = AuthenticatedContent(
        WireFormat.private_message, framed(Commit((), None)), FramedContentAuthData(b"s", b"t")
    )
    data = round_trip(AuthenticatedContent, ac)
    assert data.endswith(b"\x01s\x01t")
    assert ac.tbs(group_context())[:4] == b"\x00\x01\x00\x02"
    with pytest.raises(EncodeError, match="confirmation tag"):
        encode(dataclasses.replace(ac, auth=FramedContentAuthData(b"s")))
    with pytest.raises(EncodeError, match="confirmation tag"):
        encode(
            AuthenticatedContent(WireFormat.public_message, framed(b"x"), FramedContentAuthData(b"s", b"t"))
        )
    with pytest.raises(DecodeError, match="wire format"):
        decode(AuthenticatedContent, b"\x00\x03" + data[2:])


def test_public_message_membership_tag_iff_member() -> None:
    pm = PublicMessage(framed(b"hi"), FramedContentAuthData(b"sig"), b"tag")
    data = round_trip(PublicMessage, pm)
    assert data == encode(pm.content) + b"\x03sig\x03tag"
    ext = PublicMessage(framed(Proposal(Remove(1)), Sender.external(0)), FramedContentAuthData(b"sig"))
    assert round_trip(PublicMessage, ext) == encode(ext.content) + b"\x03sig"
    with pytest.raises(EncodeError, match="needs a membership tag"):
        encode(dataclasses.replace(pm, membership_tag=None))
    with pytest.raises(EncodeError, match="only a member"):
        encode(dataclasses.replace(ext, membership_tag=b"t"))
    assert pm.authenticated_content() == AuthenticatedContent(WireFormat.public_message, pm.content, pm.auth)
    assert PublicMessage.from_authenticated(pm.authenticated_content(), b"tag") == pm
    gc = group_context()
    assert pm.tbm(gc) == pm.authenticated_content().tbs(gc) + b"\x03sig"


def test_private_message_and_aads() -> None:
    pm = PrivateMessage(b"g", 3, ContentType.proposal, b"ad", b"esd", b"ct")
    data = round_trip(PrivateMessage, pm)
    assert data.hex() == "0167" + "0000000000000003" + "02" + "026164" + "03657364" + "026374"
    assert pm.sender_data_aad() == encode(SenderDataAAD(b"g", 3, ContentType.proposal)) == data[:11]
    assert pm.content_aad() == encode(PrivateContentAAD(b"g", 3, ContentType.proposal, b"ad")) == data[:14]
    round_trip(SenderDataAAD, SenderDataAAD(b"g", 3, ContentType.commit))
    round_trip(PrivateContentAAD, PrivateContentAAD(b"g", 3, ContentType.commit, b""))


def test_sender_data() -> None:
    sd = SenderData(5, 6, b"\x01\x02\x03\x04")
    assert round_trip(SenderData, sd).hex() == "00000005" + "00000006" + "01020304"
    with pytest.raises(EncodeError, match="reuse_guard"):
        encode(SenderData(5, 6, b"\x01"))
    with pytest.raises(DecodeError):
        decode(SenderData, bytes(11))


@pytest.mark.parametrize(
    "content",
    [
        PrivateMessageContent(b"hello", FramedContentAuthData(b"sig"), 0),
        PrivateMessageContent(Proposal(Remove(2)), FramedContentAuthData(b"sig"), 3),
        PrivateMessageContent(Commit((), None), FramedContentAuthData(b"sig", b"tag"), 17),
    ],
)
def test_private_message_content_padding(content: PrivateMessageContent) -> None:
    data = encode(content)
    assert data.endswith(b"\x00" * content.padding)
    got = PrivateMessageContent.from_bytes(data, content.content_type)
    assert got == content
    if content.padding:
        bad = data[:-1] + b"\x01"
        with pytest.raises(DecodeError, match="padding") as info:
            PrivateMessageContent.from_bytes(bad, content.content_type)
        assert info.value.offset == len(data) - content.padding


def test_private_message_content_checks() -> None:
    with pytest.raises(EncodeError):
        encode(PrivateMessageContent(b"x", FramedContentAuthData(b"s", b"t")))
    with pytest.raises(EncodeError):
        encode(PrivateMessageContent(b"x", FramedContentAuthData(b"s"), -1))
    data = encode(PrivateMessageContent(b"x", FramedContentAuthData(b"s")))
    with pytest.raises(DecodeError):  # as a commit, the missing confirmation tag is truncation
        PrivateMessageContent.from_bytes(data[:2], ContentType.commit)


@pytest.mark.parametrize(
    "body",
    [
        PublicMessage(FramedContent(b"g", 0, Sender.member(0), b"", b"x"), FramedContentAuthData(b"s"), b"t"),
        PrivateMessage(b"g", 1, ContentType.application, b"", b"e", b"c"),
        Welcome(1, (), b"x"),
        GroupInfo(group_context(), (), b"t", 0, b"s"),
        key_package(),
    ],
)
def test_mls_message_envelope(body: object) -> None:
    msg = MLSMessage(body)  # type: ignore[arg-type]
    data = round_trip(MLSMessage, msg)
    assert data[:2] == b"\x00\x01"
    assert int.from_bytes(data[2:4], "big") == msg.wire_format
    assert data[4:] == encode(body)  # type: ignore[arg-type]


def test_mls_message_rejects_other_versions_and_wire_formats() -> None:
    data = encode(MLSMessage(Welcome(1, (), b"x")))
    with pytest.raises(DecodeError, match="version 2"):
        decode(MLSMessage, b"\x00\x02" + data[2:])
    for wf in (0, 6, 0xFFFF):
        with pytest.raises(DecodeError, match="wire_format") as info:
            decode(MLSMessage, data[:2] + wf.to_bytes(2, "big") + data[4:])
        assert info.value.offset == 2
    with pytest.raises(EncodeError):
        _ = MLSMessage(Commit((), None)).wire_format  # type: ignore[arg-type]


def test_decode_error_names_inner_structure() -> None:
    data = encode(MLSMessage(key_package()))
    with pytest.raises(DecodeError) as info:
        decode(MLSMessage, data[:40])
    assert info.value.structure in {"LeafNode", "KeyPackage"}
    r = Reader(data[:40])
    with pytest.raises(DecodeError):
        MLSMessage.decode(r)
