"""Sender-data encryption of PrivateMessages and the one-shot AEAD used for per-message keys
(RFC 9420 section 6.3.2).

::

    ciphertext_sample = ciphertext[0..KDF.Nh-1]          (the whole ciphertext if shorter)
    sender_data_key   = ExpandWithLabel(sender_data_secret, "key", ciphertext_sample, AEAD.Nk)
    sender_data_nonce = ExpandWithLabel(sender_data_secret, "nonce", ciphertext_sample, AEAD.Nn)
    encrypted_sender_data = AEAD.Seal(sender_data_key, sender_data_nonce, SenderDataAAD, SenderData)

The sender-data key depends on the ciphertext, so it is new for every message: like the ratchet keys it is
used through a fresh AEAD object (:func:`one_shot_aead`) and never enters the suite's key-object cache, which
would keep used keys alive and defeat forward secrecy.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag

from ..codec import encode_varint
from ..crypto import CipherSuite
from ..crypto.aead import AEADKey
from ..crypto.suites import ComposedCipherSuite
from ..errors import DecodeError, DecryptError, LocalMLSError

__all__ = [
    "SENDER_DATA_LEN",
    "OneShotAEAD",
    "SenderDataCipher",
    "decrypt_sender_data",
    "encrypt_sender_data",
    "one_shot_aead",
    "sender_data_aad",
    "sender_data_cipher",
    "sender_data_key_nonce",
]

SENDER_DATA_LEN = 12  # uint32 leaf_index, uint32 generation, opaque reuse_guard[4]


class OneShotAEAD:
    """Seal/open with keys that are used once: a fresh key object per call, nothing cached."""

    __slots__ = ("_factory", "name")

    def __init__(self, factory: Callable[[bytes], AEADKey], name: str) -> None:
        self._factory = factory
        self.name = name

    def seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        return self._factory(key).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        """The plaintext; :class:`~pyxmtp.mls.errors.DecryptError` if authentication fails."""
        try:
            return self._factory(key).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptError(f"{self.name}: authentication tag does not verify") from None


_ONE_SHOT: dict[int, OneShotAEAD] = {}


def one_shot_aead(suite: CipherSuite) -> OneShotAEAD:
    """The suite's AEAD without key caching."""
    found = _ONE_SHOT.get(suite.id)
    if found is not None:
        return found
    if not isinstance(suite, ComposedCipherSuite):
        raise LocalMLSError(f"{suite!r}: no uncached AEAD available")
    aead = _ONE_SHOT[suite.id] = OneShotAEAD(suite.aead.cipher, suite.aead.name)
    return aead


class SenderDataCipher:
    """Sender-data encryption of one suite, with precomputed ``KDFLabel`` prefixes.

    ``ExpandWithLabel`` for the key and the nonce is the single HKDF-Expand block ``MAC(secret, KDFLabel ||
    0x01)`` truncated (both are shorter than ``Nh``); the AEAD object is built fresh for every message (the
    key depends on the ciphertext) and never cached.
    """

    __slots__ = (
        "key_head",
        "key_len",
        "mac_each",
        "name",
        "new_aead",
        "nh",
        "nonce_head",
        "nonce_len",
    )

    def __init__(self, suite: CipherSuite) -> None:
        if not isinstance(suite, ComposedCipherSuite):
            raise LocalMLSError(f"{suite!r}: no uncached AEAD available")
        self.mac_each = suite.mac_each_function()
        self.nh = suite.hash_len
        self.key_len = suite.aead_key_len
        self.nonce_len = suite.aead_nonce_len
        self.key_head = _label_head("key", self.key_len)
        self.nonce_head = _label_head("nonce", self.nonce_len)
        self.new_aead: Callable[[bytes], AEADKey] = suite.aead.cipher
        """A fresh (uncached) AEAD key object of the suite, for the one-time message keys as well."""
        self.name = suite.aead.name

    def key_nonce(self, secret: bytes, ciphertext: bytes) -> tuple[bytes, bytes]:
        sample = ciphertext[: self.nh]
        context = encode_varint(len(sample)) + sample + b"\x01"
        key, nonce = self.mac_each(secret, (self.key_head + context, self.nonce_head + context))
        return key[: self.key_len], nonce[: self.nonce_len]

    def seal(
        self,
        secret: bytes,
        aad: bytes,
        leaf_index: int,
        generation: int,
        reuse_guard: bytes,
        ciphertext: bytes,
    ) -> bytes:
        """``encrypted_sender_data`` of ``(leaf_index, generation, reuse_guard)`` for this ciphertext."""
        key, nonce = self.key_nonce(secret, ciphertext)
        plaintext = leaf_index.to_bytes(4, "big") + generation.to_bytes(4, "big") + reuse_guard
        return self.new_aead(key).encrypt(nonce, plaintext, aad)

    def open(
        self, secret: bytes, aad: bytes, encrypted_sender_data: bytes, ciphertext: bytes
    ) -> tuple[int, int, bytes]:
        """``(leaf_index, generation, reuse_guard)``; DecryptError / DecodeError as
        :func:`decrypt_sender_data`."""
        key, nonce = self.key_nonce(secret, ciphertext)
        try:
            data = self.new_aead(key).decrypt(nonce, encrypted_sender_data, aad)
        except InvalidTag:
            raise DecryptError(f"{self.name}: authentication tag does not verify") from None
        if len(data) != SENDER_DATA_LEN:
            raise DecodeError("SenderData", 0, f"expected {SENDER_DATA_LEN} bytes, got {len(data)}")
        return int.from_bytes(data[:4], "big"), int.from_bytes(data[4:8], "big"), data[8:]


def _label_head(label: str, length: int) -> bytes:
    """``KDFLabel`` before the context: ``uint16 length || opaque label<V>``."""
    full = b"MLS 1.0 " + label.encode()
    return length.to_bytes(2, "big") + encode_varint(len(full)) + full


_CIPHERS: dict[int, SenderDataCipher] = {}


def sender_data_cipher(suite: CipherSuite) -> SenderDataCipher:
    """The (cached) :class:`SenderDataCipher` of ``suite``."""
    found = _CIPHERS.get(suite.id)
    if found is None:
        found = _CIPHERS[suite.id] = SenderDataCipher(suite)
    return found


def sender_data_key_nonce(
    suite: CipherSuite, sender_data_secret: bytes, ciphertext: bytes
) -> tuple[bytes, bytes]:
    """``(sender_data_key, sender_data_nonce)`` for a message with this content ciphertext."""
    return sender_data_cipher(suite).key_nonce(sender_data_secret, ciphertext)


def sender_data_aad(group_id: bytes, epoch: int, content_type: int) -> bytes:
    """``SenderDataAAD {opaque group_id<V>; uint64 epoch; ContentType content_type;}``."""
    return encode_varint(len(group_id)) + group_id + epoch.to_bytes(8, "big") + bytes((content_type,))


def encrypt_sender_data(
    suite: CipherSuite,
    sender_data_secret: bytes,
    leaf_index: int,
    generation: int,
    reuse_guard: bytes,
    aad: bytes,
    ciphertext: bytes,
) -> bytes:
    """``encrypted_sender_data`` for the SenderData ``(leaf_index, generation, reuse_guard)``."""
    return sender_data_cipher(suite).seal(
        sender_data_secret, aad, leaf_index, generation, reuse_guard, ciphertext
    )


def decrypt_sender_data(
    suite: CipherSuite, sender_data_secret: bytes, aad: bytes, encrypted_sender_data: bytes, ciphertext: bytes
) -> tuple[int, int, bytes]:
    """``(leaf_index, generation, reuse_guard)``; :class:`DecryptError` if it does not decrypt,
    :class:`DecodeError` if the plaintext is not a SenderData."""
    return sender_data_cipher(suite).open(sender_data_secret, aad, encrypted_sender_data, ciphertext)
