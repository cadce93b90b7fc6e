"""The remote-attachment payload encryption written independently of pyxmtp: HKDF-SHA256 (RFC 5869, empty info)
with the stdlib's hmac, AES-256-GCM from pycryptodome (pyxmtp uses ``cryptography``). The scheme as libxmtp's
``xmtp_content_types::encryption`` and xmtp-js's ``content-type-remote-attachment`` have it."""

from __future__ import annotations

import hashlib
import hmac

from Crypto.Cipher import AES


def _hkdf_sha256(salt: bytes, ikm: bytes, length: int = 32) -> bytes:
    """RFC 5869 with empty info, written out with hmac."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def oracle_open(payload: bytes, secret: bytes, salt: bytes, nonce: bytes) -> bytes:
    cipher = AES.new(_hkdf_sha256(salt, secret), AES.MODE_GCM, nonce=nonce)
    return bytes(cipher.decrypt_and_verify(payload[:-16], payload[-16:]))


def oracle_seal(plaintext: bytes, secret: bytes, salt: bytes, nonce: bytes) -> bytes:
    cipher = AES.new(_hkdf_sha256(salt, secret), AES.MODE_GCM, nonce=nonce)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return bytes(ciphertext + tag)
