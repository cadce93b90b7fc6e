"""The abstract MLS cipher suite (RFC 9420 section 5.1) and the registry of the seven standard suites.

A :class:`CipherSuite` bundles the suite's hash / HMAC / HKDF, AEAD, signature scheme and HPKE, all as
bytes-in, bytes-out methods. Get one with :func:`get_suite` (instances are cached singletons). Private keys
are opaque :class:`SignaturePrivateKey` / :class:`HPKEPrivateKey` objects; public keys are bytes.

Failures are typed: :class:`~pyxmtp.mls.errors.InvalidSignature` from :meth:`CipherSuite.verify` (also for a
malformed key or signature), :class:`~pyxmtp.mls.errors.DecryptError` from every open,
:class:`~pyxmtp.mls.errors.InvalidKey` for malformed key bytes (and a malformed HPKE recipient key),
:class:`~pyxmtp.mls.errors.UnsupportedError` for an unknown suite id and
:class:`~pyxmtp.mls.errors.LocalMLSError` for caller misuse (wrong key or nonce length, a key of another
suite).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from .hpke import ReceiverContext, SenderContext
from .keys import HPKEPrivateKey, RandomSource, SignaturePrivateKey

__all__ = [
    "CipherSuite",
    "HPKEPrivateKey",
    "RandomSource",
    "ReceiverContext",
    "SenderContext",
    "SignaturePrivateKey",
    "get_suite",
]


class CipherSuite(ABC):
    """One MLS cipher suite.

    Attributes: ``id`` (the 16-bit ``CipherSuite`` value), ``name`` (its IANA name), ``hash_len`` (``Nh``),
    ``aead_key_len`` (``Nk``), ``aead_nonce_len`` (``Nn``), ``aead_tag_len``, ``hpke_public_key_len``
    (``Npk``), ``hpke_private_key_len`` (``Nsk``), ``hpke_enc_len`` (``Nenc``), ``signature_scheme`` (the
    TLS ``SignatureScheme`` name, e.g. ``ed25519``), ``signature_public_key_len``.
    """

    id: int
    name: str
    hash_len: int
    aead_key_len: int
    aead_nonce_len: int
    aead_tag_len: int
    hpke_public_key_len: int
    hpke_private_key_len: int
    hpke_enc_len: int
    signature_scheme: str
    signature_public_key_len: int

    def __repr__(self) -> str:
        return f"<CipherSuite 0x{self.id:04x} {self.name}>"

    # --- hash, MAC, KDF ---------------------------------------------------------------------------------------
    @abstractmethod
    def hash(self, data: bytes) -> bytes:
        """``Hash(data)`` with the suite hash (``hash_len`` bytes)."""

    @abstractmethod
    def mac(self, key: bytes, data: bytes) -> bytes:
        """``MAC(key, data)``: HMAC with the suite hash."""

    def mac_function(self) -> Callable[[bytes, bytes], bytes]:
        """:meth:`mac` as a plain function, for hot loops (a suite may return one without method dispatch)."""
        return self.mac

    def mac_each_function(self) -> Callable[[bytes, Sequence[bytes]], list[bytes]]:
        """``mac_each(key, [data, ...])``: :meth:`mac` of several messages under one key, as a plain function
        (a suite may share the key setup between them)."""
        mac = self.mac

        def mac_each(key: bytes, data: Sequence[bytes]) -> list[bytes]:
            return [mac(key, d) for d in data]

        return mac_each

    @abstractmethod
    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        """``KDF.Extract(salt, ikm)`` (HKDF-Extract)."""

    @abstractmethod
    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        """``KDF.Expand(prk, info, length)`` (HKDF-Expand)."""

    # --- AEAD ---------------------------------------------------------------------------------------------------
    @abstractmethod
    def aead_seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        """Ciphertext with tag appended."""

    @abstractmethod
    def aead_open(self, key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        """Plaintext; :class:`DecryptError` if authentication fails."""

    # --- signatures -----------------------------------------------------------------------------------------
    @abstractmethod
    def generate_signature_key(self, rng: RandomSource) -> SignaturePrivateKey: ...

    @abstractmethod
    def signature_key_from_bytes(self, data: bytes) -> SignaturePrivateKey:
        """Parse a serialised signature private key; :class:`InvalidKey` if malformed."""

    @abstractmethod
    def sign(self, key: SignaturePrivateKey, message: bytes) -> bytes: ...

    @abstractmethod
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Return if valid; otherwise raise :class:`InvalidSignature` (also for malformed inputs)."""

    # --- HPKE -----------------------------------------------------------------------------------------------
    @abstractmethod
    def hpke_derive_key_pair(self, ikm: bytes) -> HPKEPrivateKey:
        """``DeriveKeyPair(ikm)`` of the suite's KEM (deterministic)."""

    @abstractmethod
    def hpke_generate_key_pair(self, rng: RandomSource) -> HPKEPrivateKey: ...

    @abstractmethod
    def hpke_private_key_from_bytes(self, data: bytes) -> HPKEPrivateKey:
        """Parse a serialised HPKE private key; :class:`InvalidKey` if malformed."""

    @abstractmethod
    def hpke_validate_public_key(self, data: bytes) -> None:
        """Raise :class:`InvalidKey` unless ``data`` is a valid public key of the suite's KEM."""

    @abstractmethod
    def hpke_seal(
        self, public_key: bytes, info: bytes, aad: bytes, plaintext: bytes, rng: RandomSource
    ) -> tuple[bytes, bytes]:
        """``SealBase`` -> ``(kem_output, ciphertext)``; :class:`InvalidKey` for a malformed ``public_key``."""

    @abstractmethod
    def hpke_open(
        self, private_key: HPKEPrivateKey, kem_output: bytes, info: bytes, aad: bytes, ciphertext: bytes
    ) -> bytes:
        """``OpenBase``; :class:`DecryptError` on any failure."""

    @abstractmethod
    def hpke_setup_sender(
        self, public_key: bytes, info: bytes, rng: RandomSource
    ) -> tuple[bytes, SenderContext]:
        """``SetupBaseS`` -> ``(kem_output, context)``."""

    @abstractmethod
    def hpke_setup_receiver(
        self, private_key: HPKEPrivateKey, kem_output: bytes, info: bytes
    ) -> ReceiverContext:
        """``SetupBaseR``; :class:`DecryptError` if ``kem_output`` is invalid."""

    @abstractmethod
    def hpke_send_export(
        self, public_key: bytes, info: bytes, exporter_context: bytes, length: int, rng: RandomSource
    ) -> tuple[bytes, bytes]:
        """``SetupBaseS(public_key, info)`` + ``Export(exporter_context, length)`` -> ``(kem_output, secret)``."""

    @abstractmethod
    def hpke_receive_export(
        self,
        private_key: HPKEPrivateKey,
        kem_output: bytes,
        info: bytes,
        exporter_context: bytes,
        length: int,
    ) -> bytes:
        """``SetupBaseR(kem_output, private_key, info)`` + ``Export(exporter_context, length)``."""


_SUITES: dict[int, CipherSuite] = {}


def get_suite(suite_id: int) -> CipherSuite:
    """The cipher suite with this id (cached); :class:`UnsupportedError` if unknown."""
    try:
        return _SUITES[suite_id]
    except KeyError:
        pass
    from .suites import build_suite  # the concrete suites import this module

    suite = _SUITES[suite_id] = build_suite(suite_id)
    return suite
