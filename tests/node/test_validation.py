"""The group-message fast path agrees with the full MLS decoder (never accepts what it rejects)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyxmtp.mls.codec import decode, encode
from pyxmtp.mls.constants import ContentType
from pyxmtp.mls.errors import MLSError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage
from pyxmtp.node.validation import scan_private_message, scan_private_message_generic

# lengths around the 1/2/4-byte varint boundaries
lengths = st.sampled_from([0, 1, 63, 64, 200, 16383, 16384])


def full(data: bytes) -> tuple[bytes, int] | None:
    try:
        body = decode(MLSMessage, data, "MLSMessage").body
    except MLSError:
        return None
    if not isinstance(body, PrivateMessage):
        return None
    return body.group_id, int(body.content_type)


@st.composite
def private_messages(draw: st.DrawFn) -> bytes:
    return encode(
        MLSMessage(
            PrivateMessage(
                draw(st.binary(min_size=0, max_size=40)),
                draw(st.integers(0, 2**64 - 1)),
                draw(st.sampled_from(list(ContentType))),
                bytes(draw(lengths)),
                draw(st.binary(max_size=80)),
                bytes(draw(lengths)),
            )
        )
    )


@settings(max_examples=300, deadline=None)
@given(private_messages())
def test_well_formed_messages_take_the_fast_path(data: bytes) -> None:
    assert scan_private_message(data) == full(data) is not None


@settings(max_examples=500, deadline=None)
@given(private_messages(), st.data())
def test_damaged_messages_never_pass_the_fast_path_alone(data: bytes, draw: st.DataObject) -> None:
    kind = draw.draw(st.sampled_from(["truncate", "append", "flip"]))
    if kind == "truncate":
        damaged = data[: draw.draw(st.integers(0, len(data) - 1))]
    elif kind == "append":
        damaged = data + draw.draw(st.binary(min_size=1, max_size=4))
    else:
        i = draw.draw(st.integers(0, min(len(data) - 1, 64)))
        damaged = data[:i] + bytes([data[i] ^ draw.draw(st.integers(1, 255))]) + data[i + 1 :]
    fast = scan_private_message(damaged)
    if fast is not None:
        assert fast == full(damaged)


def test_non_minimal_varint_is_refused_like_the_decoder() -> None:
    data = encode(MLSMessage(PrivateMessage(b"g" * 5, 1, ContentType.application, b"", b"s", b"c")))
    padded = data[:4] + b"\x40\x05" + data[5:]  # group_id length 5 in two bytes
    assert scan_private_message(padded) is None and full(padded) is None


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(private_messages(), st.binary(max_size=120).map(lambda b: b"\x00\x01\x00\x02" + b)), st.data()
)
def test_the_inline_scan_agrees_with_the_generic_one(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(0, len(data)))
    for candidate in (data, data[:cut], data + b"\x00"):
        assert scan_private_message(candidate) == scan_private_message_generic(candidate)
