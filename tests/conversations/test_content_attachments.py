"""Attachments: the three codecs' wire forms and tolerance, and the remote payload's encryption, checked against
an independent implementation of the scheme (HKDF-SHA256 written out with hmac, AES-256-GCM from pycryptodome)
in both directions. The byte comparisons with libxmtp's own encoders are in test_content_libxmtp.py."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxmtp.conversations.content import (
    ATTACHMENT,
    MULTI_REMOTE_ATTACHMENT,
    REMOTE_ATTACHMENT,
    TEXT,
    Attachment,
    AttachmentDigestError,
    Compression,
    ContentArgumentError,
    ContentDecodeError,
    EncodedContent,
    MultiRemoteAttachment,
    RemoteAttachment,
    RemoteAttachmentError,
    Text,
    compress_content,
    decode_content,
    decrypt_attachment,
    decrypt_content,
    encode_content,
    encode_for_sending,
    encrypt_attachment,
    encrypt_content,
)
from pyxmtp.proto.mls.message_contents.content_types import multi_remote_attachment_pb2

from .attachment_oracle import oracle_open, oracle_seal

SECRET, SALT, NONCE = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 76))
REMOTE = RemoteAttachment(
    url="https://files.example/abc",
    content_digest="ab" * 32,
    secret=SECRET,
    salt=SALT,
    nonce=NONCE,
    scheme="https://",
    content_length=1234,
    filename="photo.jpg",
)


def _counter_rng() -> Any:
    state = {"n": 0}

    def rng(n: int) -> bytes:
        out = bytes((state["n"] + i) % 256 for i in range(n))
        state["n"] += n
        return out

    return rng


# --- attachment ---------------------------------------------------------------------------------------------
def test_attachment_wire_form() -> None:
    ec = encode_content(Attachment("image/png", b"\x89PNG\x00", "a.png"))
    assert ec.content_type == ATTACHMENT
    assert ec.parameters == {"mimeType": "image/png", "filename": "a.png"}
    assert ec.content == b"\x89PNG\x00"
    assert ec.fallback == "Can't display a.png. This app doesn't support attachments."
    assert decode_content(ec.to_bytes()) == Attachment("image/png", b"\x89PNG\x00", "a.png")
    bare = encode_content(Attachment("application/octet-stream", b""))
    assert bare.parameters == {"mimeType": "application/octet-stream"}
    assert bare.fallback == "Can't display this content. This app doesn't support attachments."
    assert encode_for_sending(Attachment("x/y", b""))[1] is True
    assert "content" not in repr(Attachment("x/y", b"secret bytes"))


def test_attachment_decode_is_tolerant_like_libxmtp() -> None:
    assert decode_content(EncodedContent(ATTACHMENT, {}, b"x")) == Attachment("", b"x", None)


def test_attachment_misuse() -> None:
    with pytest.raises(ContentArgumentError):
        Attachment("x/y", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(ContentArgumentError):
        encode_content(Attachment("x/y", b"", "\ud800"))


# --- remote attachment --------------------------------------------------------------------------------------
def test_remote_attachment_wire_form() -> None:
    ec = encode_content(REMOTE)
    assert ec.content_type == REMOTE_ATTACHMENT
    assert ec.content == b"https://files.example/abc"
    assert ec.parameters == {
        "contentDigest": "ab" * 32,
        "salt": SALT.hex(),
        "nonce": NONCE.hex(),
        "secret": SECRET.hex(),
        "scheme": "https://",
        "contentLength": "1234",
        "filename": "photo.jpg",
    }
    assert ec.fallback == "Can't display photo.jpg. This app doesn't support remote attachments."
    assert decode_content(ec.to_bytes()) == REMOTE
    assert SECRET.hex() not in repr(REMOTE)
    minimal = RemoteAttachment("https://x", "d", b"", b"", b"", scheme="https")
    ec = encode_content(minimal)
    assert set(ec.parameters) == {"contentDigest", "salt", "nonce", "secret", "scheme"}
    assert ec.fallback == "Can't display this content. This app doesn't support remote attachments."
    assert decode_content(ec) == minimal


def test_remote_attachment_decode_tolerance_and_errors() -> None:
    url = b"https://x/y"
    # missing parameters read as empty, uppercase hex and a '+' length are accepted (as Rust's parsers do)
    value = decode_content(EncodedContent(REMOTE_ATTACHMENT, {"salt": "0A0B", "contentLength": "+7"}, url))
    assert value == RemoteAttachment("https://x/y", "", b"", b"\x0a\x0b", b"", "", 7, None)
    for parameters, reason in [
        ({"salt": "zz"}, "'salt' is not hex"),
        ({"nonce": "abc"}, "'nonce' is not hex"),
        ({"secret": "ab cd"}, "'secret' is not hex"),
        ({"secret": "é1"}, "'secret' is not hex"),
        ({"contentLength": "-1"}, "contentLength is not a uint32"),
        ({"contentLength": "4294967296"}, "contentLength is not a uint32"),
        ({"contentLength": " 5"}, "contentLength is not a uint32"),
        ({"contentLength": "٣"}, "contentLength is not a uint32"),  # an Arabic-Indic digit
    ]:
        with pytest.raises(ContentDecodeError, match=reason):
            decode_content(EncodedContent(REMOTE_ATTACHMENT, parameters, url))
    with pytest.raises(ContentDecodeError, match="not UTF-8"):
        decode_content(EncodedContent(REMOTE_ATTACHMENT, {}, b"https://\xff"))


def test_remote_attachment_misuse() -> None:
    for bad in (
        RemoteAttachment("http://plain.example/x", "d", b"", b"", b""),
        RemoteAttachment("https://x", "d", b"", b"", b"", content_length=2**32),
        RemoteAttachment("https://x", "d", b"", b"", b"", content_length=-1),
        RemoteAttachment("https://x", "d", b"", b"", b"", filename="\udfff"),
    ):
        with pytest.raises(ContentArgumentError):
            encode_content(bad)
    with pytest.raises(ContentArgumentError):
        RemoteAttachment("https://x", "d", "secret", b"", b"")  # type: ignore[arg-type]


# --- multi remote attachment --------------------------------------------------------------------------------
def test_multi_remote_attachment_wire_form() -> None:
    second = RemoteAttachment("https://y", "cd", b"\x01", b"\x02", b"\x03", scheme="https")
    value = MultiRemoteAttachment((REMOTE, second))
    ec = encode_content(value)
    assert ec.content_type == MULTI_REMOTE_ATTACHMENT
    assert ec.parameters == {}
    assert ec.fallback == "Can't display this content. This app doesn't support multiple remote attachments."
    message = multi_remote_attachment_pb2.MultiRemoteAttachment.FromString(ec.content)
    assert [a.url for a in message.attachments] == ["https://files.example/abc", "https://y"]
    assert message.attachments[0].content_length == 1234 and message.attachments[0].filename == "photo.jpg"
    assert not message.attachments[1].HasField("content_length")
    assert not message.attachments[1].HasField("filename")
    # field numbers: 1 digest, 2 secret, 3 nonce, 4 salt, 5 scheme, 6 url, 7 length, 8 filename (the bytes
    # libxmtp writes are compared in test_content_libxmtp)
    small = MultiRemoteAttachment((RemoteAttachment("https://u", "d", b"s", b"a", b"n", "h", 9, "f"),))
    assert encode_content(small).content == bytes.fromhex(
        "0a1f 0a0164 120173 1a016e 220161 2a0168 32096874747073 3a2f2f75 3809 420166"
    )
    assert decode_content(ec.to_bytes()) == value
    assert decode_content(encode_content(MultiRemoteAttachment([])).to_bytes()) == MultiRemoteAttachment(())


def test_multi_remote_attachment_errors() -> None:
    with pytest.raises(ContentDecodeError, match="not a MultiRemoteAttachment protobuf"):
        decode_content(EncodedContent(MULTI_REMOTE_ATTACHMENT, {}, b"\x0a\x05\x0a"))
    with pytest.raises(ContentArgumentError):
        encode_content(MultiRemoteAttachment(("not a remote attachment",)))  # type: ignore[arg-type]
    with pytest.raises(ContentArgumentError):
        encode_content(MultiRemoteAttachment((RemoteAttachment("ftp://x", "d", b"", b"", b""),)))


# --- the payload encryption, against an independent implementation ------------------------------------------
def test_encrypted_attachment_opens_with_the_independent_scheme() -> None:
    attachment = Attachment("text/plain", b"hello remote world", "note.txt")
    encrypted = encrypt_attachment(attachment, rng=_counter_rng())
    # the random source gives secret, then salt, then nonce
    assert encrypted.secret == bytes(range(32))
    assert encrypted.salt == bytes(range(32, 64))
    assert encrypted.nonce == bytes(range(64, 76))
    assert encrypted.content_digest == hashlib.sha256(encrypted.payload).hexdigest()
    assert encrypted.content_length == len(encrypted.payload)
    assert encrypted.filename == "note.txt"
    assert encrypted.secret.hex() not in repr(encrypted)
    plaintext = oracle_open(encrypted.payload, encrypted.secret, encrypted.salt, encrypted.nonce)
    assert plaintext == encode_content(attachment).to_bytes()  # the attachment's EncodedContent bytes
    remote = encrypted.remote_attachment("https://store.example/1")
    assert remote == RemoteAttachment(
        "https://store.example/1",
        encrypted.content_digest,
        encrypted.secret,
        encrypted.salt,
        encrypted.nonce,
        "https://",
        len(encrypted.payload),
        "note.txt",
    )
    assert decrypt_attachment(encrypted.payload, remote) == attachment


def test_a_payload_sealed_independently_decrypts() -> None:
    attachment = Attachment("image/gif", os.urandom(3000), None)
    plaintext = encode_content(attachment).to_bytes()
    payload = oracle_seal(plaintext, SECRET, SALT, NONCE)
    remote = RemoteAttachment(
        "https://x/1", hashlib.sha256(payload).hexdigest(), SECRET, SALT, NONCE, "https", len(payload)
    )
    assert decrypt_attachment(payload, remote) == attachment
    assert decrypt_content(payload, remote) == encode_content(attachment)


def test_fresh_keys_each_time() -> None:
    attachment = Attachment("text/plain", b"same")
    one, two = (encrypt_attachment(attachment, rng=os.urandom) for _ in range(2))
    assert one.secret != two.secret and one.salt != two.salt and one.nonce != two.nonce
    assert one.payload != two.payload
    assert len(one.payload) == len(encode_content(attachment).to_bytes()) + 16


def test_tampering_is_refused() -> None:
    attachment = Attachment("text/plain", b"do not touch")
    encrypted = encrypt_attachment(attachment, rng=os.urandom)
    remote = encrypted.remote_attachment("https://x/1")
    flipped = bytes([encrypted.payload[0] ^ 1]) + encrypted.payload[1:]
    with pytest.raises(AttachmentDigestError) as info:
        decrypt_attachment(flipped, remote)
    assert isinstance(info.value, ContentDecodeError)
    assert info.value.expected == encrypted.content_digest
    assert info.value.actual == hashlib.sha256(flipped).hexdigest()
    # a tampered payload with a matching (tampered) digest still fails the AEAD tag
    lying = RemoteAttachment(**{**_fields(remote), "content_digest": hashlib.sha256(flipped).hexdigest()})
    with pytest.raises(RemoteAttachmentError, match="does not decrypt"):
        decrypt_attachment(flipped, lying)
    # wrong secret, wrong sizes, truncated
    for changes, reason in [
        ({"secret": os.urandom(32)}, "does not decrypt"),
        ({"salt": remote.salt[:16]}, "salt is 16 bytes"),
        ({"nonce": remote.nonce + b"\x00"}, "nonce is 13 bytes"),
    ]:
        with pytest.raises(RemoteAttachmentError, match=reason):
            decrypt_attachment(encrypted.payload, RemoteAttachment(**{**_fields(remote), **changes}))
    short = encrypted.payload[:10]
    with pytest.raises(RemoteAttachmentError, match="shorter than the AES-GCM tag"):
        decrypt_attachment(
            short,
            RemoteAttachment(**{**_fields(remote), "content_digest": hashlib.sha256(short).hexdigest()}),
        )
    # the digest is compared exactly, lowercase hex as libxmtp writes it
    upper = RemoteAttachment(**{**_fields(remote), "content_digest": remote.content_digest.upper()})
    with pytest.raises(AttachmentDigestError):
        decrypt_attachment(encrypted.payload, upper)


def _fields(remote: RemoteAttachment) -> dict[str, Any]:
    return {name: getattr(remote, name) for name in RemoteAttachment.__dataclass_fields__}


def test_sealed_content_of_another_type() -> None:
    encrypted = encrypt_content(encode_content(Text("inline text")), rng=os.urandom)
    remote = encrypted.remote_attachment("https://x/t")
    assert decrypt_content(encrypted.payload, remote) == encode_content(Text("inline text"))
    with pytest.raises(RemoteAttachmentError, match=r"is xmtp.org/text:1.0, not xmtp.org/attachment:1.0"):
        decrypt_attachment(encrypted.payload, remote)
    # compressed inside: decompressed on the way out
    compressed = compress_content(encode_content(Attachment("a/b", b"z" * 5000)), Compression.GZIP)
    encrypted = encrypt_content(compressed, rng=os.urandom)
    assert (
        decrypt_attachment(encrypted.payload, encrypted.remote_attachment("https://x")).content == b"z" * 5000
    )
    # a plaintext that is not EncodedContent
    payload = oracle_seal(b"\xff\xff", SECRET, SALT, NONCE)
    remote = RemoteAttachment("https://x", hashlib.sha256(payload).hexdigest(), SECRET, SALT, NONCE)
    with pytest.raises(RemoteAttachmentError, match="not an EncodedContent"):
        decrypt_content(payload, remote)
    assert encode_content(Text("x")).content_type == TEXT


def test_random_source_misuse() -> None:
    with pytest.raises(ContentArgumentError, match="random source"):
        encrypt_attachment(Attachment("a/b", b""), rng=lambda n: b"\x00" * (n - 1))


@settings(max_examples=200)
@given(st.binary(max_size=120), st.binary(min_size=32, max_size=32))
def test_arbitrary_payloads_fail_only_with_typed_errors(payload: bytes, secret: bytes) -> None:
    remote = RemoteAttachment("https://x", hashlib.sha256(payload).hexdigest(), secret, SALT, NONCE)
    with pytest.raises(RemoteAttachmentError):
        decrypt_attachment(payload, remote)


@settings(max_examples=200)
@given(
    st.sampled_from([ATTACHMENT, REMOTE_ATTACHMENT, MULTI_REMOTE_ATTACHMENT]),
    st.dictionaries(
        st.sampled_from(["mimeType", "filename", "salt", "nonce", "secret", "contentLength", "scheme"]),
        st.text(max_size=10),
    ),
    st.binary(max_size=80),
)
def test_decoding_arbitrary_attachments_raises_only_typed_errors(
    content_type: Any, parameters: dict[str, str], content: bytes
) -> None:
    try:
        value = decode_content(EncodedContent(content_type, parameters, content))
    except ContentDecodeError:
        return
    assert isinstance(value, Attachment | RemoteAttachment | MultiRemoteAttachment)
