"""XMTP application-message content: ContentTypeId, EncodedContent, compression, text, markdown, reply, reaction,
read receipt.

Checked against the protocol reference (section 7: the exact bytes of text "hi"). The envelope, message id and
sender HMAC are in test_content_envelope.py; the comparisons with real libxmtp 1.10.0's encoders
and decoders are in test_content_libxmtp.py, the newer content types in test_content_attachments.py and
test_content_json_types.py, the registry in test_content_registry.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxmtp.conversations.content import (
    MARKDOWN,
    MAX_DECOMPRESSED_BYTES,
    REACTION,
    REACTION_V2,
    READ_RECEIPT,
    REPLY,
    TEXT,
    Compression,
    ContentArgumentError,
    ContentDecodeError,
    ContentTypeId,
    DecompressionLimitError,
    EncodedContent,
    Markdown,
    Reaction,
    ReactionAction,
    ReactionCodec,
    ReactionSchema,
    ReactionV2Codec,
    ReadReceipt,
    Reply,
    Text,
    UnknownContent,
    compress_content,
    decode_content,
    decompress_content,
    encode_content,
    encode_for_sending,
    encode_text,
    parse_plaintext_envelope,
    should_push_for,
)
from pyxmtp.mls.errors import LocalMLSError, RemoteMLSError
from pyxmtp.proto.mls.message_contents import content_pb2
from pyxmtp.proto.mls.message_contents.content_types import reaction_pb2

# protocol reference 7.2: libxmtp 1.10.0 encode_text("hi")
HI_BYTES = bytes.fromhex(
    "0a120a08786d74702e6f7267120474657874180112110a08656e636f64696e6712055554462d3822026869"
)


# --- ContentTypeId ------------------------------------------------------------------------------------------
def test_content_type_id_str_and_parse() -> None:
    assert str(TEXT) == "xmtp.org/text:1.0"
    assert ContentTypeId.parse("xmtp.org/text:1.0") == TEXT
    assert ContentTypeId.parse("coinbase.com/actions:1.0") == ContentTypeId("coinbase.com", "actions", 1, 0)
    assert ContentTypeId.parse("xmtp.org/reaction:2.0").version_major == 2


@pytest.mark.parametrize(
    "bad", ["", "text:1.0", "xmtp.org/text", "xmtp.org/text:1", "xmtp.org/text:a.0", "x/t:-1.0"]
)
def test_content_type_id_parse_rejects(bad: str) -> None:
    with pytest.raises(ContentArgumentError):
        ContentTypeId.parse(bad)


def test_content_type_id_rejects_out_of_range_versions() -> None:
    with pytest.raises(ContentArgumentError):
        ContentTypeId("a", "b", 2**32, 0)
    with pytest.raises(ContentArgumentError):
        ContentTypeId("a", "b", 0, -1)


_ident = st.text(st.characters(codec="utf-8", exclude_characters="/:"), max_size=12)


@given(
    _ident,
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
)
def test_content_type_id_round_trips_through_str(
    authority: str, type_id: str, major: int, minor: int
) -> None:
    cid = ContentTypeId(authority, type_id, major, minor)
    assert ContentTypeId.parse(str(cid)) == cid


# --- EncodedContent and text --------------------------------------------------------------------------------
def test_text_hi_is_exactly_the_spec_bytes() -> None:
    data, push = encode_text("hi")
    assert data == HI_BYTES
    assert push is True
    assert encode_content(Text("hi")).to_bytes() == HI_BYTES
    assert encode_content("hi").to_bytes() == HI_BYTES  # a plain str is text


def test_text_hi_decodes() -> None:
    value = decode_content(HI_BYTES)
    assert isinstance(value, Text)
    assert value == "hi"
    parsed = EncodedContent.from_bytes(HI_BYTES)
    assert parsed == EncodedContent(TEXT, {"encoding": "UTF-8"}, b"hi")
    assert parsed.fallback is None and parsed.compression is None
    assert parsed.to_bytes() == HI_BYTES


@pytest.mark.parametrize("text", ["", "hi", "héllo wörld", "👍🏽 emoji", "tab\tnew\nline", "x" * 10_000])
def test_text_round_trip(text: str) -> None:
    data, _ = encode_text(text)
    assert decode_content(data) == Text(text)


def test_text_without_encoding_parameter_is_utf8() -> None:
    data = EncodedContent(TEXT, {}, "ünïcode".encode()).to_bytes()
    assert decode_content(data) == "ünïcode"


def test_text_in_another_encoding_is_an_error() -> None:
    data = EncodedContent(TEXT, {"encoding": "ISO-8859-1"}, b"caf\xe9").to_bytes()
    with pytest.raises(ContentDecodeError, match="unsupported text encoding 'ISO-8859-1'"):
        decode_content(data)
    # the comparison is exact, as libxmtp's
    with pytest.raises(ContentDecodeError):
        decode_content(EncodedContent(TEXT, {"encoding": "utf-8"}, b"hi"))


def test_text_that_is_not_utf8_is_an_error() -> None:
    with pytest.raises(ContentDecodeError, match="not UTF-8") as info:
        decode_content(EncodedContent(TEXT, {"encoding": "UTF-8"}, b"\xff\xfe"))
    assert isinstance(info.value, RemoteMLSError)
    assert info.value.structure == "xmtp.org/text:1.0"


def test_text_that_cannot_be_encoded_is_misuse() -> None:
    with pytest.raises(ContentArgumentError) as info:
        encode_text("\ud800")
    assert isinstance(info.value, LocalMLSError)


def test_text_minor_version_is_compatible_major_is_not() -> None:
    assert decode_content(EncodedContent(ContentTypeId("xmtp.org", "text", 1, 7), {}, b"hi")) == "hi"
    value = decode_content(EncodedContent(ContentTypeId("xmtp.org", "text", 2, 0), {}, b"hi", fallback="fb"))
    assert isinstance(value, UnknownContent)


def test_encoded_content_fields_round_trip() -> None:
    ec = EncodedContent(
        ContentTypeId("example.com", "thing", 3, 4),
        {"b": "2", "a": "1"},
        b"\x00\x01",
        fallback="",
        compression=None,
    )
    back = EncodedContent.from_bytes(ec.to_bytes())
    assert back == ec
    assert back.fallback == ""  # presence of an empty optional string is kept
    # map entries are serialized sorted: deterministic bytes
    assert (
        ec.to_bytes()
        == EncodedContent(ec.content_type, {"a": "1", "b": "2"}, b"\x00\x01", fallback="").to_bytes()
    )


def test_encoded_content_missing_type_is_kept() -> None:
    ec = EncodedContent.from_bytes(content_pb2.EncodedContent(content=b"x").SerializeToString())
    assert ec.content_type is None
    value = decode_content(ec)
    assert isinstance(value, UnknownContent) and value.content_type is None


# --- markdown, reply, reaction, read receipt, unknown -------------------------------------------------------
def test_markdown_round_trip() -> None:
    ec = encode_content(Markdown("# Title\n*x*"))
    assert ec.content_type == MARKDOWN
    assert ec.parameters == {"encoding": "UTF-8"}
    assert ec.fallback is None
    value = decode_content(ec.to_bytes())
    assert isinstance(value, Markdown) and not isinstance(value, Text)
    assert value == "# Title\n*x*"
    assert encode_for_sending(Markdown("m"))[1] is True


def test_reply_round_trip_with_text() -> None:
    reply = Reply("0123abcd", encode_content(Text("hi")), reference_inbox_id="inbox-1")
    ec = encode_content(reply)
    assert ec.content_type == REPLY
    assert ec.parameters == {
        "reference": "0123abcd",
        "contentType": "xmtp.org/text:1.0",
        "referenceInboxId": "inbox-1",
    }
    assert ec.content == HI_BYTES
    assert ec.fallback == 'Replied with "hi" to an earlier message'
    value = decode_content(ec.to_bytes())
    assert value == reply
    assert isinstance(value, Reply)
    assert decode_content(value.content) == "hi"
    assert encode_for_sending(reply)[1] is True


def test_reply_without_inbox_and_with_other_content() -> None:
    inner = EncodedContent(ContentTypeId("custom.example", "drawing", 9, 2), {"k": "v"}, b"\x01\x02")
    reply = Reply("ff", inner)
    ec = encode_content(reply)
    assert ec.parameters == {"reference": "ff", "contentType": "custom.example/drawing:9.2"}
    assert ec.fallback == "Replied to an earlier message"
    assert decode_content(ec) == reply


def test_reply_needs_an_inner_type() -> None:
    for inner in (
        EncodedContent(None, {}, b"x"),
        EncodedContent(ContentTypeId("", "text", 1, 0), {}, b"x"),
        EncodedContent(ContentTypeId("xmtp.org", "", 1, 0), {}, b"x"),
    ):
        with pytest.raises(ContentArgumentError):
            encode_content(Reply("ab", inner))


def test_reply_with_bad_inner_bytes_is_remote_error() -> None:
    bad = EncodedContent(REPLY, {"reference": "ab"}, b"\x0a\xff")
    with pytest.raises(ContentDecodeError, match=r"reply:1\.0 content"):
        decode_content(bad)


def test_reply_without_reference_decodes_with_empty_reference() -> None:
    value = decode_content(EncodedContent(REPLY, {}, HI_BYTES))
    assert value == Reply("", EncodedContent(TEXT, {"encoding": "UTF-8"}, b"hi"), None)


def test_reaction_wire_form() -> None:
    reaction = Reaction("abc", ReactionAction.ADDED, "👍", ReactionSchema.UNICODE, reference_inbox_id="inb")
    ec = ReactionCodec().encode(reaction)
    assert ec.content_type == REACTION
    assert ec.parameters == {}
    # compact JSON in libxmtp's field order, non-ASCII as UTF-8
    assert ec.content == (
        '{"action":"added","reference":"abc","referenceInboxId":"inb","schema":"unicode","content":"👍"}'.encode()
    )
    assert ec.fallback == 'Reacted with "👍" to an earlier message'
    assert encode_for_sending(reaction)[1] is False
    removed = ReactionCodec().encode(Reaction("abc", "removed", ":smile:", "shortcode"))
    assert json.loads(removed.content) == {
        "action": "removed",
        "reference": "abc",
        "schema": "shortcode",
        "content": ":smile:",
    }
    assert removed.fallback == 'Removed ":smile:" from an earlier message'


@pytest.mark.parametrize("inbox", [None, "inbox"])
@pytest.mark.parametrize("action", list(ReactionAction))
@pytest.mark.parametrize("schema", list(ReactionSchema))
def test_reaction_round_trip(action: ReactionAction, schema: ReactionSchema, inbox: str | None) -> None:
    reaction = Reaction("0a0b", action, 'say "hi"\\ \u0001', schema, inbox)
    assert decode_content(encode_content(reaction).to_bytes()) == reaction


def test_reaction_decode_is_tolerant_like_libxmtp() -> None:
    body = json.dumps({"reference": "r", "action": "boosted", "content": "x", "schema": "weird", "extra": 1})
    value = decode_content(EncodedContent(REACTION, {}, body.encode()))
    assert value == Reaction("r", "boosted", "x", "weird", None)
    body = json.dumps(
        {"reference": "r", "action": "added", "content": "x", "schema": "unicode", "referenceInboxId": None}
    )
    assert decode_content(EncodedContent(REACTION, {}, body.encode())) == Reaction(
        "r", "added", "x", "unicode"
    )


def test_reaction_legacy_parameter_form() -> None:
    legacy = EncodedContent(
        REACTION,
        {"action": "added", "reference": "abc123", "schema": "shortcode", "encoding": "UTF-8"},
        b"smile",
    )
    assert decode_content(legacy) == Reaction("abc123", "added", "smile", "shortcode")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"reference": "r", "action": "added", "schema": "unicode"}',
        b'{"reference": 1, "action": "added", "content": "x", "schema": "unicode"}',
        b'{"reference": "r", "action": "added", "content": "x", "schema": "unicode", "referenceInboxId": 5}',
        b'{"reference": "\\ud800", "action": "added", "content": "x", "schema": "unicode"}',
        b"\xff",
        b"[" * 100_000,
    ],
)
def test_reaction_malformed_is_remote_error(body: bytes) -> None:
    with pytest.raises(ContentDecodeError):
        decode_content(EncodedContent(REACTION, {}, body))


def test_reaction_encode_rejects_unknown_action_or_schema() -> None:
    with pytest.raises(ContentArgumentError):
        encode_content(Reaction("r", "liked", "x", "unicode"))
    with pytest.raises(ContentArgumentError):
        encode_content(Reaction("r", "added", "x", "gif"))


# reaction 2.0: ReactionV2 fields, as read off libxmtp 1.10.0's encode_reaction output (see the interop tests):
# 1 reference, 2 reference_inbox_id, 4 content (strings, wire type 2); 3 action, 5 schema (enums, wire type 0)
_V2_ABC_BODY = bytes.fromhex("0a03616263 1203696e62 1801 2204f09f918d 2801")


def _v2(body: bytes) -> EncodedContent:
    return EncodedContent(REACTION_V2, {}, body)


def test_reaction_v2_wire_form() -> None:
    reaction = Reaction("abc", ReactionAction.ADDED, "👍", ReactionSchema.UNICODE, reference_inbox_id="inb")
    ec = ReactionV2Codec().encode(reaction)
    assert ec.content_type == REACTION_V2 == ContentTypeId("xmtp.org", "reaction", 2, 0)
    assert ec.parameters == {}
    assert ec.compression is None
    assert ec.content == _V2_ABC_BODY
    assert ec.fallback == 'Reacted with "👍" to an earlier message'
    assert ReactionV2Codec.should_push is False
    assert not should_push_for(REACTION_V2)
    # proto3 leaves empty strings out: no inbox, no reference
    removed = ReactionV2Codec().encode(Reaction("", "removed", ":smile:", "shortcode"))
    assert removed.content == bytes.fromhex("1802 22073a736d696c653a 2802")
    assert removed.fallback == 'Removed ":smile:" from an earlier message'
    custom = ReactionV2Codec().encode(Reaction("0a0b", "added", "", "custom", reference_inbox_id=""))
    assert custom.content == bytes.fromhex("0a0430613062 1801 2803")
    # our schema is the one we read off the wire
    assert reaction_pb2.ReactionV2.FromString(_V2_ABC_BODY) == reaction_pb2.ReactionV2(
        reference="abc",
        reference_inbox_id="inb",
        action=reaction_pb2.REACTION_ACTION_ADDED,
        content="👍",
        schema=reaction_pb2.REACTION_SCHEMA_UNICODE,
    )


@pytest.mark.parametrize("inbox", [None, "inbox"])
@pytest.mark.parametrize("action", list(ReactionAction))
@pytest.mark.parametrize("schema", list(ReactionSchema))
def test_reaction_v2_decodes_like_v1(
    action: ReactionAction, schema: ReactionSchema, inbox: str | None
) -> None:
    reaction = Reaction("0a0b", action, 'say "hi"\\ \u0001 👍', schema, inbox)
    v2 = decode_content(ReactionV2Codec().encode(reaction).to_bytes())
    v1 = decode_content(encode_content(reaction).to_bytes())
    assert v2 == v1 == reaction
    assert repr(v2) == repr(v1)  # plain str action and schema on both, not the enum members
    assert isinstance(v2, Reaction)
    assert type(v2.action) is str and type(v2.schema) is str
    # the same fallback on both versions
    assert ReactionV2Codec().encode(reaction).fallback == encode_content(reaction).fallback


def test_reaction_v2_empty_inbox_is_none() -> None:
    """proto3 cannot tell "" from unset; both read as no inbox, as a 1.0 reaction without referenceInboxId."""
    value = decode_content(ReactionV2Codec().encode(Reaction("r", "added", "x", "unicode", "")))
    assert value == Reaction("r", "added", "x", "unicode", None)
    assert value == decode_content(encode_content(Reaction("r", "added", "x", "unicode")))


def test_reaction_v2_tolerates_unknown_fields_and_minor_versions() -> None:
    extra = _V2_ABC_BODY + bytes.fromhex("4a017a")  # field 9, a string: skipped as protobuf does
    expected = Reaction("abc", "added", "👍", "unicode", "inb")
    assert decode_content(_v2(extra)) == expected
    minor = EncodedContent(ContentTypeId("xmtp.org", "reaction", 2, 3), {}, _V2_ABC_BODY)
    assert decode_content(minor) == expected
    assert isinstance(
        decode_content(EncodedContent(ContentTypeId("xmtp.org", "reaction", 3, 0), {}, _V2_ABC_BODY)),
        UnknownContent,
    )
    compressed = compress_content(ReactionV2Codec().encode(expected), Compression.GZIP)
    assert decode_content(compressed.to_bytes()) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "unknown reaction action 0"),  # every field unspecified
        (bytes.fromhex("0a0172 2801"), "unknown reaction action 0"),  # action left out
        (bytes.fromhex("0a0172 1800 2801"), "unknown reaction action 0"),
        (bytes.fromhex("0a0172 1803 2801"), "unknown reaction action 3"),
        (bytes.fromhex("0a0172 1807 2801"), "unknown reaction action 7"),
        (bytes.fromhex("0a0172 18ffffffffffffffffff01 2801"), "unknown reaction action -1"),
        (bytes.fromhex("0a0172 1801"), "unknown reaction schema 0"),  # schema left out
        (bytes.fromhex("0a0172 1801 2804"), "unknown reaction schema 4"),
        (bytes.fromhex("0a0172 1802 2809"), "unknown reaction schema 9"),
        (bytes.fromhex("0a0572"), "not a ReactionV2 protobuf"),  # truncated string
        (bytes.fromhex("0a01ff 1801 2801"), "not a ReactionV2 protobuf"),  # reference not UTF-8
        # action with wire type 2: prost refuses it; Python protobuf keeps it as an unknown field, so the
        # action is unset
        (bytes.fromhex("0a0172 1a017a 2801"), "unknown reaction action 0"),
        (bytes.fromhex("0a0172 18"), "not a ReactionV2 protobuf"),  # truncated varint
        (b'{"reference":"r","action":"added","content":"c","schema":"unicode"}', "not a ReactionV2 protobuf"),
        (b"\xff" * 8, "not a ReactionV2 protobuf"),
    ],
    ids=lambda v: v.hex() if isinstance(v, bytes) else None,
)
def test_reaction_v2_invalid_is_remote_error(body: bytes, reason: str) -> None:
    with pytest.raises(ContentDecodeError, match=reason) as info:
        decode_content(_v2(body).to_bytes())
    assert isinstance(info.value, RemoteMLSError)
    assert info.value.structure == "xmtp.org/reaction:2.0"


def test_reaction_v2_encode_rejects_misuse() -> None:
    codec = ReactionV2Codec()
    with pytest.raises(ContentArgumentError):
        codec.encode(Reaction("r", "liked", "x", "unicode"))
    with pytest.raises(ContentArgumentError):
        codec.encode(Reaction("r", "added", "x", "gif"))
    for reaction in (
        Reaction("\ud800", "added", "x", "unicode"),
        Reaction("r", "added", "\udfff", "unicode"),
        Reaction("r", "added", "x", "unicode", "\ud800"),
    ):
        with pytest.raises(ContentArgumentError):
            codec.encode(reaction)


def test_read_receipt_round_trip() -> None:
    ec = encode_content(ReadReceipt())
    assert ec == EncodedContent(READ_RECEIPT)
    assert ec.to_bytes() == bytes.fromhex("0a190a08786d74702e6f7267120b72656164526563656970741801")
    assert decode_content(ec.to_bytes()) == ReadReceipt()
    assert encode_for_sending(ReadReceipt())[1] is False


def test_unknown_type_keeps_encoded_content() -> None:
    # a future reaction version: no codec here reads 3.0
    ec = EncodedContent(ContentTypeId("xmtp.org", "reaction", 3, 0), {}, b"\x0a\x01x", fallback="Reacted")
    value = decode_content(ec.to_bytes())
    assert isinstance(value, UnknownContent)
    assert value.encoded == ec
    assert value.fallback == "Reacted"
    assert value.content_type == ec.content_type
    assert encode_content(value) == ec  # passed through for re-sending


def test_should_push_as_libxmtp() -> None:
    assert should_push_for(TEXT) and should_push_for(REPLY) and should_push_for(MARKDOWN)
    assert not should_push_for(REACTION)
    assert not should_push_for(ContentTypeId("xmtp.org", "reaction", 2, 0))
    assert not should_push_for(READ_RECEIPT)
    assert not should_push_for(ContentTypeId("xmtp.org", "group_updated", 1, 0))
    assert should_push_for(ContentTypeId("example.com", "custom", 1, 0))
    assert should_push_for(None)


def test_malformed_encoded_content_is_remote_error() -> None:
    for data in (b"\xff", b"\x0a\x05ab", b"\x22\x10short", b"\x12\x03\x0a\x01\xff"):
        with pytest.raises(ContentDecodeError, match="EncodedContent") as info:
            decode_content(data)
        assert isinstance(info.value, RemoteMLSError)


# --- compression --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("algorithm", "magic"), [(Compression.DEFLATE, b"\x78"), (Compression.GZIP, b"\x1f\x8b")]
)
def test_compression_round_trip(algorithm: Compression, magic: bytes) -> None:
    original = encode_content(Text("hello compressed XMTP " * 50))
    compressed = compress_content(original, algorithm)
    assert compressed.compression == algorithm
    assert compressed.content.startswith(magic)
    assert len(compressed.content) < len(original.content)
    wire = compressed.to_bytes()
    assert EncodedContent.from_bytes(wire).compression == algorithm
    assert decompress_content(EncodedContent.from_bytes(wire)) == original
    assert decode_content(wire) == "hello compressed XMTP " * 50
    with pytest.raises(ContentArgumentError, match="already compressed"):
        compress_content(compressed, algorithm)


def test_deflate_decodes_zlib_and_raw_streams() -> None:
    text = "raw deflate as the iOS SDK sends it"
    raw = zlib.compressobj(wbits=-15)
    raw_stream = raw.compress(text.encode()) + raw.flush()
    for stream in (raw_stream, zlib.compress(text.encode())):
        ec = EncodedContent(TEXT, {"encoding": "UTF-8"}, stream, compression=Compression.DEFLATE)
        assert decode_content(ec.to_bytes()) == text


def test_gzip_decodes_stdlib_gzip() -> None:
    ec = EncodedContent(TEXT, {}, gzip.compress(b"gz", mtime=1234), compression=Compression.GZIP)
    assert decode_content(ec) == "gz"


def test_decompression_bomb_is_capped() -> None:
    bomb = zlib.compress(b"\0" * (MAX_DECOMPRESSED_BYTES + 1), 9)
    assert len(bomb) < 20_000
    ec = EncodedContent(TEXT, {}, bomb, compression=Compression.DEFLATE)
    with pytest.raises(DecompressionLimitError, match=str(MAX_DECOMPRESSED_BYTES)) as info:
        decode_content(ec.to_bytes())
    assert isinstance(info.value, ContentDecodeError)
    # exactly the cap is fine
    exact = EncodedContent(TEXT, {}, zlib.compress(b"a" * 1000), compression=Compression.DEFLATE)
    assert len(decompress_content(exact, limit=1000).content) == 1000
    with pytest.raises(DecompressionLimitError):
        decompress_content(exact, limit=999)
    gz = EncodedContent(TEXT, {}, gzip.compress(b"b" * 5000), compression=Compression.GZIP)
    with pytest.raises(DecompressionLimitError):
        decompress_content(gz, limit=4096)


def test_bad_compressed_streams_are_remote_errors() -> None:
    good = zlib.compress(b"hello world" * 10)
    cases = [
        EncodedContent(TEXT, {}, good[: len(good) // 2], compression=Compression.DEFLATE),  # truncated
        EncodedContent(TEXT, {}, b"not deflate at all \xff\xff", compression=Compression.DEFLATE),
        EncodedContent(TEXT, {}, b"", compression=Compression.GZIP),
        EncodedContent(TEXT, {}, good, compression=Compression.GZIP),  # zlib labelled gzip
        EncodedContent(TEXT, {}, b"hi", compression=99),  # unknown algorithm
    ]
    for ec in cases:
        with pytest.raises(ContentDecodeError):
            decode_content(ec.to_bytes())


# --- properties ---------------------------------------------------------------------------------------------
_KNOWN_TYPES = [
    TEXT,
    MARKDOWN,
    REPLY,
    REACTION,
    REACTION_V2,
    READ_RECEIPT,
    ContentTypeId("xmtp.org", "text", 1, 3),
]


@st.composite
def _encoded_content_bytes(draw: st.DrawFn) -> bytes:
    """Protobuf bytes of EncodedContent of a known type with arbitrary parameters, content and compression."""
    message = content_pb2.EncodedContent(
        parameters=draw(
            st.dictionaries(
                st.sampled_from(["encoding", "reference", "action", "schema", "x"]), st.text(max_size=8)
            )
        ),
        content=draw(
            st.one_of(
                st.binary(max_size=64),
                st.sampled_from(
                    [
                        HI_BYTES,
                        b'{"reference":"r","action":"added","content":"c","schema":"unicode"}',
                        _V2_ABC_BODY,
                    ]
                ),
                st.binary(max_size=64).map(zlib.compress),
            )
        ),
    )
    message.type.CopyFrom(draw(st.sampled_from(_KNOWN_TYPES)).to_proto())
    if draw(st.booleans()):
        message.compression = draw(st.sampled_from([0, 1, 2, -1]))  # type: ignore[assignment]
    if draw(st.booleans()):
        message.fallback = draw(st.text(max_size=8))
    data = message.SerializeToString()
    if draw(st.booleans()) and data:  # damage it
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    return data


def _decodes_or_typed_error(data: bytes) -> Any:
    try:
        return decode_content(data)
    except ContentDecodeError:
        return None


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_decoding_arbitrary_bytes_raises_only_typed_error(data: bytes) -> None:
    value = _decodes_or_typed_error(data)
    assert value is None or isinstance(
        value, Text | Markdown | Reply | Reaction | ReadReceipt | UnknownContent
    )
    with contextlib.suppress(ContentDecodeError):
        parse_plaintext_envelope(data)


@settings(max_examples=400)
@given(_encoded_content_bytes())
def test_decoding_near_valid_content_raises_only_typed_error(data: bytes) -> None:
    value = _decodes_or_typed_error(data)
    if isinstance(value, Reply):
        _decodes_or_typed_error(value.content.to_bytes())
    # what decoded re-encodes to the same value, except where encoding is stricter than decoding
    # (reply content without a type, reaction action/schema strings outside the known sets)
    reencodable = isinstance(value, Text | Markdown | ReadReceipt) or (
        isinstance(value, Reply)
        and value.content.content_type is not None
        and bool(value.content.content_type.authority_id and value.content.content_type.type_id)
    )
    if isinstance(value, Reaction):
        reencodable = value.action in tuple(ReactionAction) and value.schema in tuple(ReactionSchema)
    if reencodable:
        assert value is not None
        assert decode_content(encode_content(value).to_bytes()) == value


@given(st.text(), st.text(), st.one_of(st.none(), st.text()))
def test_reply_and_reaction_round_trip_property(text: str, reference: str, inbox: str | None) -> None:
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    reference = reference.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if inbox is not None:
        inbox = inbox.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    reply = Reply(reference, encode_content(Text(text)), inbox)
    assert decode_content(encode_content(reply).to_bytes()) == reply
    reaction = Reaction(reference, ReactionAction.ADDED, text, ReactionSchema.CUSTOM, inbox)
    assert decode_content(ReactionCodec().encode(reaction).to_bytes()) == reaction  # 1.0 keeps "" apart
    v2 = decode_content(encode_content(reaction).to_bytes())  # encode_content sends 2.0, as libxmtp
    assert v2 == dataclasses.replace(reaction, reference_inbox_id=inbox or None)
