"""The encryption of a remote attachment's payload, as libxmtp (``xmtp_content_types::encryption``) and xmtp-js
(``content-type-remote-attachment``) do it.

To send: the attachment is encoded as an ``xmtp.org/attachment:1.0`` EncodedContent (any content can be sent
this way; attachments are what clients expect), and its protobuf bytes are sealed with a fresh random 32-byte
``secret``: ``key = HKDF-SHA256(salt = 32 random bytes, ikm = secret, info = "", L = 32)``, then
``payload = AES-256-GCM(key, nonce = 12 random bytes, no associated data)`` (ciphertext with its 16-byte tag).
The message carries ``contentDigest = hex(SHA-256(payload))`` with the secret, salt and nonce; the payload is
stored wherever the URL points.

To receive: the downloaded payload's SHA-256 must be the promised digest (else
:class:`AttachmentDigestError`), salt and nonce must have their sizes, the tag must verify and the plaintext
must be EncodedContent (else :class:`RemoteAttachmentError`). Nothing here does I/O: uploading and downloading
are the client's (``pyxmtp.client.attachments``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pyxmtp.mls.crypto.keys import RandomSource

from .attachments import ATTACHMENT, HTTPS_SCHEME, Attachment, AttachmentCodec, RemoteAttachment
from .encoded import MAX_DECOMPRESSED_BYTES, EncodedContent, decompress_content
from .errors import (
    AttachmentDigestError,
    ContentArgumentError,
    ContentDecodeError,
    RemoteAttachmentError,
)

SECRET_SIZE = 32
SALT_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
_UINT32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class EncryptedAttachment:
    """A sealed payload ready to upload, with what a :class:`RemoteAttachment` message needs to open it."""

    payload: bytes = field(repr=False)
    content_digest: str
    secret: bytes = field(repr=False)
    salt: bytes
    nonce: bytes
    filename: str | None = None

    @property
    def content_length(self) -> int:
        """The payload's size in bytes."""
        return len(self.payload)

    def remote_attachment(self, url: str, *, scheme: str = HTTPS_SCHEME) -> RemoteAttachment:
        """The message content once the payload is stored at ``url``."""
        return RemoteAttachment(
            url=url,
            content_digest=self.content_digest,
            secret=self.secret,
            salt=self.salt,
            nonce=self.nonce,
            scheme=scheme,
            content_length=self.content_length,
            filename=self.filename,
        )


def _key(secret: bytes, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"")
    return AESGCM(hkdf.derive(secret))


def _random(rng: RandomSource, n: int) -> bytes:
    data = rng(n)
    if not isinstance(data, bytes | bytearray) or len(data) != n:
        raise ContentArgumentError(f"random source must return {n} bytes")
    return bytes(data)


def encrypt_content(
    encoded: EncodedContent, *, rng: RandomSource, filename: str | None = None
) -> EncryptedAttachment:
    """``encoded`` sealed under a fresh secret, salt and nonce from ``rng``."""
    plaintext = encoded.to_bytes()
    secret = _random(rng, SECRET_SIZE)
    salt = _random(rng, SALT_SIZE)
    nonce = _random(rng, NONCE_SIZE)
    payload = _key(secret, salt).encrypt(nonce, plaintext, None)
    if len(payload) > _UINT32_MAX:
        raise ContentArgumentError(f"an encrypted attachment of {len(payload)} bytes exceeds 2^32-1")
    return EncryptedAttachment(
        payload=payload,
        content_digest=hashlib.sha256(payload).hexdigest(),
        secret=secret,
        salt=salt,
        nonce=nonce,
        filename=filename,
    )


def encrypt_attachment(attachment: Attachment, *, rng: RandomSource) -> EncryptedAttachment:
    """``attachment`` encoded as ``xmtp.org/attachment:1.0`` and sealed (what libxmtp's ``encrypt_attachment``
    does); upload ``payload``, then send ``remote_attachment(url)``."""
    return encrypt_content(AttachmentCodec().encode(attachment), rng=rng, filename=attachment.filename)


def decrypt_content(
    payload: bytes, remote: RemoteAttachment, *, limit: int = MAX_DECOMPRESSED_BYTES
) -> EncodedContent:
    """The EncodedContent (decompressed) sealed in a downloaded ``payload``, checked against ``remote``."""
    payload = bytes(payload)
    actual = hashlib.sha256(payload).hexdigest()
    if actual != remote.content_digest:
        raise AttachmentDigestError(remote.content_digest, actual)
    if len(remote.salt) != SALT_SIZE:
        raise RemoteAttachmentError(f"salt is {len(remote.salt)} bytes, not {SALT_SIZE}")
    if len(remote.nonce) != NONCE_SIZE:
        raise RemoteAttachmentError(f"nonce is {len(remote.nonce)} bytes, not {NONCE_SIZE}")
    if len(payload) < TAG_SIZE:
        raise RemoteAttachmentError(f"payload of {len(payload)} bytes is shorter than the AES-GCM tag")
    try:
        plaintext = _key(remote.secret, remote.salt).decrypt(remote.nonce, payload, None)
    except InvalidTag as exc:
        raise RemoteAttachmentError("payload does not decrypt with the message's secret") from exc
    try:
        encoded = EncodedContent.from_bytes(plaintext, structure="remote attachment plaintext")
        return decompress_content(encoded, limit=limit)
    except ContentDecodeError as exc:
        raise RemoteAttachmentError(str(exc)) from exc


def decrypt_attachment(payload: bytes, remote: RemoteAttachment) -> Attachment:
    """The :class:`Attachment` sealed in a downloaded ``payload``; :class:`RemoteAttachmentError` if the
    plaintext is some other content type (read it with :func:`decrypt_content`)."""
    encoded = decrypt_content(payload, remote)
    if encoded.content_type is None or not encoded.content_type.same_type(ATTACHMENT):
        raise RemoteAttachmentError(f"plaintext is {encoded.content_type}, not {ATTACHMENT}")
    return AttachmentCodec().decode(encoded)
