"""The content registry: the standard types, a codec of one's own, unknown types kept with their fallback."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pyxmtp.conversations.content import (
    ATTACHMENT,
    CODECS,
    DELETE_MESSAGE,
    GROUP_UPDATED,
    LEAVE_REQUEST,
    MULTI_REMOTE_ATTACHMENT,
    REACTION,
    REACTION_V2,
    STANDARD_REGISTRY,
    TEXT,
    Attachment,
    ContentArgumentError,
    ContentCodec,
    ContentDecodeError,
    ContentRegistry,
    ContentTypeId,
    DeleteMessage,
    EncodedContent,
    GroupUpdated,
    GroupUpdatedCodec,
    LeaveRequest,
    Markdown,
    Reaction,
    ReactionCodec,
    Text,
    TextCodec,
    UnknownContent,
    codec_for,
    decode_content,
    encode_content,
    encode_for_sending,
    should_push_for,
    standard_codecs,
)
from pyxmtp.mls.errors import LocalMLSError

POLL = ContentTypeId("example.com", "poll", 1, 0)


@dataclass(frozen=True)
class Poll:
    question: str
    options: tuple[str, ...]


class PollCodec(ContentCodec[Poll]):
    """A content type of our own: the question, then one option per line."""

    content_type = POLL
    should_push = True
    encodes = (Poll,)

    def encode(self, value: Poll) -> EncodedContent:
        body = "\n".join((value.question, *value.options)).encode()
        return EncodedContent(self.content_type, {}, body, fallback=f"Poll: {value.question}")

    def decode(self, encoded: EncodedContent) -> Poll:
        question, *options = encoded.content.decode().split("\n")
        return Poll(question, tuple(options))


def test_standard_registry_knows_every_type_libxmtp_sends() -> None:
    names = {str(codec.content_type) for codec in STANDARD_REGISTRY}
    assert names == {
        "xmtp.org/text:1.0",
        "xmtp.org/markdown:1.0",
        "xmtp.org/reply:1.0",
        "xmtp.org/reaction:1.0",
        "xmtp.org/reaction:2.0",
        "xmtp.org/readReceipt:1.0",
        "xmtp.org/attachment:1.0",
        "xmtp.org/remoteStaticAttachment:1.0",
        "xmtp.org/multiRemoteStaticAttachment:1.0",
        "xmtp.org/transactionReference:1.0",
        "xmtp.org/walletSendCalls:1.0",
        "coinbase.com/actions:1.0",
        "coinbase.com/intent:1.0",
        "xmtp.org/group_updated:1.0",
        "xmtp.org/leave_request:1.0",
        "xmtp.org/deleteMessage:1.0",
    }
    assert len(CODECS) == len(names)
    assert isinstance(codec_for(TEXT), TextCodec)
    assert codec_for(ContentTypeId("xmtp.org", "text", 1, 9)) is codec_for(TEXT)  # minor versions agree
    assert codec_for(ContentTypeId("xmtp.org", "text", 2, 0)) is None
    assert codec_for(None) is None
    assert isinstance(codec_for(REACTION), ReactionCodec)
    assert TEXT in STANDARD_REGISTRY and POLL not in STANDARD_REGISTRY and "text" not in STANDARD_REGISTRY


@pytest.mark.parametrize(
    ("content_type", "push"),
    [
        (ATTACHMENT, True),
        (MULTI_REMOTE_ATTACHMENT, True),
        (ContentTypeId("coinbase.com", "intent", 1, 0), True),
        (REACTION_V2, False),
        (GROUP_UPDATED, False),
        (LEAVE_REQUEST, False),
        (DELETE_MESSAGE, False),
        (ContentTypeId("other.org", "leave_request", 7, 0), False),  # unknown: by type id, as libxmtp
        (ContentTypeId("other.org", "thing", 1, 0), True),
        (None, True),
    ],
)
def test_should_push(content_type: ContentTypeId | None, push: bool) -> None:
    assert should_push_for(content_type) is push


def test_values_are_sent_by_their_codec() -> None:
    assert encode_content("plain").content_type == TEXT
    assert encode_content(Markdown("*m*")).content_type == ContentTypeId("xmtp.org", "markdown", 1, 0)
    assert encode_content(Reaction("r", "added", "x", "unicode")).content_type == REACTION_V2
    assert encode_for_sending(LeaveRequest()) == (encode_content(LeaveRequest()).to_bytes(), False)
    assert encode_for_sending(DeleteMessage("ab"))[1] is False
    assert encode_content(GroupUpdated("i")) == GroupUpdatedCodec().encode(GroupUpdated("i"))
    raw = EncodedContent(POLL, {}, b"q")
    assert encode_content(raw) is raw  # EncodedContent passes through
    with pytest.raises(ContentArgumentError, match="no codec encodes a Poll"):
        encode_content(Poll("q?", ("a",)))
    with pytest.raises(ContentArgumentError):
        encode_content(3.5)


def test_a_codec_of_ones_own() -> None:
    registry = ContentRegistry.standard()
    registry.register(PollCodec())
    poll = Poll("Lunch?", ("pizza", "sushi"))
    data, push = registry.encode_for_sending(poll)
    assert push is True
    assert registry.decode(data) == poll
    assert registry.decode(EncodedContent.from_bytes(data)) == poll
    assert registry.decode(registry.encode("still text")) == Text("still text")  # the standard types stay
    # the standard registry does not know it: it keeps the content and its fallback
    unknown = decode_content(data)
    assert isinstance(unknown, UnknownContent)
    assert unknown.content_type == POLL
    assert unknown.fallback == "Poll: Lunch?"
    assert unknown.encoded == EncodedContent.from_bytes(data)
    assert encode_content(unknown).to_bytes() == data  # forwarded unchanged
    # a registry of only one's own codecs
    alone = ContentRegistry([PollCodec()])
    assert alone.decode(data) == poll
    assert isinstance(alone.decode(encode_content("t")), UnknownContent)


def test_registration_conflicts() -> None:
    registry = ContentRegistry.standard()
    registry.register(PollCodec())
    with pytest.raises(ContentArgumentError, match="already registered"):
        registry.register(PollCodec())

    class TextV1Point5(TextCodec):
        content_type = ContentTypeId("xmtp.org", "text", 1, 5)
        encodes = ()

    with pytest.raises(ContentArgumentError, match=r"xmtp.org/text:1.5 is already registered"):
        registry.register(TextV1Point5())

    class SendsPolls(PollCodec):
        content_type = ContentTypeId("example.com", "poll", 2, 0)

    with pytest.raises(ContentArgumentError, match=r"\['Poll'\] are already sent"):
        registry.register(SendsPolls())
    registry.register(SendsPolls(), replace=True)  # now polls go out as 2.0, 1.0 is still read
    assert registry.encode(Poll("q", ())).content_type == ContentTypeId("example.com", "poll", 2, 0)
    assert registry.decode(PollCodec().encode(Poll("q", ("a",)))) == Poll("q", ("a",))
    with pytest.raises(ContentArgumentError):
        registry.register("not a codec")  # type: ignore[arg-type]


def test_the_standard_registry_is_shared_and_frozen() -> None:
    with pytest.raises(ContentArgumentError, match="cannot change") as info:
        STANDARD_REGISTRY.register(PollCodec())
    assert isinstance(info.value, LocalMLSError)
    # standard() is a fresh copy each time
    one, two = ContentRegistry.standard(), ContentRegistry.standard()
    one.register(PollCodec())
    assert POLL in one and POLL not in two
    assert [type(c) for c in standard_codecs()] == [type(c) for c in CODECS]


def test_a_failing_codec_of_ones_own_gives_a_typed_error() -> None:
    class Crashes(PollCodec):
        def decode(self, encoded: EncodedContent) -> Poll:
            raise IndexError("bug in the codec")

    registry = ContentRegistry([Crashes()])
    with pytest.raises(
        ContentDecodeError, match="codec Crashes failed: IndexError: bug in the codec"
    ) as info:
        registry.decode(EncodedContent(POLL, {}, b"x"))
    assert isinstance(info.value.__cause__, IndexError)
    # bytes that are not EncodedContent never reach a codec
    with pytest.raises(ContentDecodeError, match="EncodedContent"):
        registry.decode(b"\xff")


def test_misdeclared_codecs_are_refused() -> None:
    class NoType(PollCodec):
        content_type = "example.com/poll:1.0"  # type: ignore[assignment]

    class NoPush(PollCodec):
        should_push = 1  # type: ignore[assignment]

    for codec in (NoType(), NoPush()):
        with pytest.raises(ContentArgumentError):
            ContentRegistry().register(codec)


def test_decoding_unknown_and_compressed() -> None:
    from pyxmtp.conversations.content import Compression, compress_content

    registry = ContentRegistry([PollCodec()])
    compressed = compress_content(PollCodec().encode(Poll("q" * 100, ("a",))), Compression.DEFLATE)
    assert registry.decode(compressed.to_bytes()) == Poll("q" * 100, ("a",))
    unknown = decode_content(compressed.to_bytes())
    assert isinstance(unknown, UnknownContent) and unknown.encoded.compression is None  # kept decompressed
    assert decode_content(EncodedContent(ATTACHMENT, {"mimeType": "a/b"}, b"x")) == Attachment("a/b", b"x")
