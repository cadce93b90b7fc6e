"""Errors of the application-message content layer.

As in :mod:`pyxmtp.mls.errors`: a peer's bad bytes raise a :class:`~pyxmtp.mls.errors.RemoteMLSError`
subclass, misuse by the caller a :class:`~pyxmtp.mls.errors.LocalMLSError` subclass. Messages name the
structure and what was wrong with it, never the content itself.
"""

from __future__ import annotations

from pyxmtp.mls.errors import LocalMLSError, RemoteMLSError


class ContentDecodeError(RemoteMLSError):
    """Bytes from a peer are not valid XMTP content.

    ``structure`` names what was being decoded (``EncodedContent``, ``PlaintextEnvelope``, ``xmtp.org/text:1.0``,
    ...), ``reason`` says what was wrong.
    """

    def __init__(self, structure: str, reason: str) -> None:
        self.structure = structure
        self.reason = reason
        super().__init__(f"{structure}: {reason}")


class DecompressionLimitError(ContentDecodeError):
    """Compressed content inflates past the size cap (a decompression bomb, or simply too large)."""

    def __init__(self, structure: str, limit: int) -> None:
        self.limit = limit
        super().__init__(structure, f"decompressed content exceeds {limit} bytes")


class ContentArgumentError(LocalMLSError):
    """The caller passed a value that cannot be encoded as content (a malformed content-type string, a reply
    whose inner content has no type, an unknown reaction action, content that is already compressed, ...)."""


class RemoteAttachmentError(ContentDecodeError):
    """A downloaded remote-attachment payload does not open with the keys its message gave: wrong salt or
    nonce size, an AEAD tag that does not verify, a plaintext that is not EncodedContent, ..."""

    def __init__(self, reason: str) -> None:
        super().__init__("remote attachment", reason)


class AttachmentDigestError(RemoteAttachmentError):
    """A downloaded payload's SHA-256 is not the ``contentDigest`` its message promised (tampered or swapped)."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"payload digest {actual} is not the promised {expected[:64]!r}")
