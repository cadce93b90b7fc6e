"""Hybrid Public Key Encryption, RFC 9180, base mode (``mode_base``), with the secret exporter.

Layers, as in the RFC:

* :class:`KEM` is the pluggable key-encapsulation interface (generate / derive / deserialise / encap /
  decap). :class:`DHKEM` implements section 4.1 over X25519 (0x0020), X448 (0x0021), P-256 (0x0010),
  P-384 (0x0011) and P-521 (0x0012), including ``DeriveKeyPair`` with the NIST rejection-sampling loop
  (section 7.1.3). Another KEM plugs in by subclassing :class:`KEM`: X-Wing is :mod:`.xwing`.
* :class:`HPKE` combines a KEM, a KDF (:mod:`.kdf`) and an AEAD (:mod:`.aead`): ``SetupBaseS`` /
  ``SetupBaseR`` returning :class:`SenderContext` / :class:`ReceiverContext` (``Seal`` / ``Open`` with
  sequence numbers, ``Export``), the single-shot ``SealBase`` / ``OpenBase``, and export-only helpers
  (``SetupBaseS`` + ``Export``) for MLS external joins.

Encapsulation is deterministic in its randomness: :meth:`KEM.encap` draws the ephemeral key from the injected
``rng`` (``Nsk`` bytes for DHKEM; for X25519/X448 they are the raw private key, for NIST curves the scalar
after rejection sampling), so a known-answer test passes the RFC's ``skEm`` as the random bytes. (X-Wing
takes only its X25519 ephemeral from ``rng``: see :mod:`.xwing`.)

Failures: a malformed recipient public key raises :class:`InvalidKey` on the sending side; every receiving
failure (malformed ``enc``, wrong key, tampered ciphertext, AAD or info) raises :class:`DecryptError`.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from ..errors import DecryptError, InvalidKey, LocalMLSError
from .aead import AEAD, AEADKey, open_with
from .kdf import HKDF, HKDF_SHA256, HKDF_SHA384, HKDF_SHA512
from .keys import HPKEPrivateKey, RandomSource
from .nist import P256, P384, P521, Curve

_HPKE_V1 = b"HPKE-v1"
_PUBLIC_KEY_CACHE = 256


def _draw(rng: RandomSource, n: int) -> bytes:
    data = rng(n)
    if len(data) != n:
        raise LocalMLSError(f"random source returned {len(data)} bytes, asked for {n}")
    return data


def _u16(n: int) -> bytes:
    if not 0 <= n <= 0xFFFF:
        raise LocalMLSError(f"HPKE: output length {n} does not fit in two bytes")
    return n.to_bytes(2, "big")


# --- KEM interface ----------------------------------------------------------------------------------------


class KEM(ABC):
    """A key-encapsulation mechanism (RFC 9180 section 4): ``Nsecret``, ``Nenc``, ``Npk``, ``Nsk`` in bytes."""

    kem_id: int
    name: str
    shared_secret_len: int
    enc_len: int
    public_key_len: int
    private_key_len: int

    def __repr__(self) -> str:
        return f"<KEM {self.name}>"

    @abstractmethod
    def generate_key_pair(self, rng: RandomSource) -> HPKEPrivateKey:
        """A fresh key pair from ``rng``."""

    @abstractmethod
    def derive_key_pair(self, ikm: bytes) -> HPKEPrivateKey:
        """``DeriveKeyPair(ikm)``: the same ``ikm`` always gives the same key pair."""

    @abstractmethod
    def private_key_from_bytes(self, data: bytes) -> HPKEPrivateKey:
        """``DeserializePrivateKey``; :class:`InvalidKey` if malformed."""

    @abstractmethod
    def validate_public_key(self, data: bytes) -> None:
        """``DeserializePublicKey`` as a check; :class:`InvalidKey` if ``data`` is not a valid public key."""

    @abstractmethod
    def encap(self, public_key: bytes, rng: RandomSource) -> tuple[bytes, bytes]:
        """``Encap(pkR)`` -> ``(shared_secret, enc)``, the ephemeral drawn from ``rng``."""

    @abstractmethod
    def decap(self, enc: bytes, private_key: HPKEPrivateKey) -> bytes:
        """``Decap(enc, skR)`` -> ``shared_secret``; :class:`DecryptError` if ``enc`` is invalid."""


# --- DHKEM ------------------------------------------------------------------------------------------------

SK = TypeVar("SK")
PK = TypeVar("PK")


class KEMPrivateKey(HPKEPrivateKey):
    """A KEM's private key: the KEM it belongs to, its serialized form and its public key (for subclasses)."""

    __slots__ = ("_kem", "_public", "_raw")

    def __init__(self, kem: KEM, raw: bytes, public: bytes) -> None:
        self._kem = kem
        self._raw = raw
        self._public = public

    @property
    def algorithm(self) -> str:
        return self._kem.name

    @property
    def kem_id(self) -> int:
        return self._kem.kem_id

    def to_bytes(self) -> bytes:
        return self._raw

    def public_bytes(self) -> bytes:
        return self._public


class _DHPrivateKey(KEMPrivateKey, Generic[SK]):
    __slots__ = ("_sk",)

    def __init__(self, kem: KEM, sk: SK, raw: bytes, public: bytes) -> None:
        super().__init__(kem, raw, public)
        self._sk = sk


class DHKEM(KEM, Generic[SK, PK]):
    """``DHKEM(Group, KDF)`` of RFC 9180 section 4.1; subclasses supply the Diffie-Hellman group."""

    def __init__(self, kem_id: int, name: str, kdf: HKDF, public_key_len: int, private_key_len: int) -> None:
        self.kem_id = kem_id
        self.name = name
        self.kdf = kdf
        self.shared_secret_len = kdf.hash_len
        self.enc_len = public_key_len
        self.public_key_len = public_key_len
        self.private_key_len = private_key_len
        self._prefix = _HPKE_V1 + b"KEM" + kem_id.to_bytes(2, "big")
        self._cached_public = functools.lru_cache(maxsize=_PUBLIC_KEY_CACHE)(self._parse_public)

    # group operations -----------------------------------------------------------------------------------
    @abstractmethod
    def _load_private(self, raw: bytes) -> SK:
        """The group private key for serialised bytes; :class:`InvalidKey` if malformed."""

    @abstractmethod
    def _public_of(self, sk: SK) -> bytes: ...

    @abstractmethod
    def _parse_public(self, data: bytes) -> PK:
        """The group public key; ``ValueError`` if malformed."""

    @abstractmethod
    def _exchange(self, sk: SK, pk: PK) -> bytes:
        """``DH(sk, pk)``; ``ValueError`` if the result is the identity (low-order peer key)."""

    @abstractmethod
    def _random_raw(self, rng: RandomSource) -> bytes: ...

    @abstractmethod
    def _derive_raw(self, dkp_prk: bytes) -> bytes: ...

    # labeled KDF with suite_id = "KEM" || I2OSP(kem_id, 2) ------------------------------------------------
    def labeled_extract(self, salt: bytes, label: bytes, ikm: bytes) -> bytes:
        return self.kdf.extract(salt, self._prefix + label + ikm)

    def labeled_expand(self, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
        return self.kdf.expand(prk, _u16(length) + self._prefix + label + info, length)

    def _extract_and_expand(self, dh: bytes, kem_context: bytes) -> bytes:
        eae_prk = self.kdf.extract(b"", self._prefix + b"eae_prk" + dh)
        return self.labeled_expand(eae_prk, b"shared_secret", kem_context, self.shared_secret_len)

    # KEM interface ----------------------------------------------------------------------------------------
    def _key(self, raw: bytes) -> _DHPrivateKey[SK]:
        sk = self._load_private(raw)
        return _DHPrivateKey(self, sk, raw, self._public_of(sk))

    def _own(self, key: HPKEPrivateKey) -> _DHPrivateKey[SK]:
        if isinstance(key, _DHPrivateKey) and key._kem is self:
            return key
        raise LocalMLSError(f"{self.name}: not a key of this KEM ({key.algorithm})")

    def generate_key_pair(self, rng: RandomSource) -> HPKEPrivateKey:
        return self._key(self._random_raw(rng))

    def derive_key_pair(self, ikm: bytes) -> HPKEPrivateKey:
        return self._key(self._derive_raw(self.labeled_extract(b"", b"dkp_prk", ikm)))

    def private_key_from_bytes(self, data: bytes) -> HPKEPrivateKey:
        if len(data) != self.private_key_len:
            raise InvalidKey(f"{self.name} private key must be {self.private_key_len} bytes, got {len(data)}")
        return self._key(bytes(data))

    def _recipient(self, data: bytes) -> PK:
        try:
            return self._cached_public(data if type(data) is bytes else bytes(data))
        except (ValueError, TypeError):
            raise InvalidKey(f"{self.name}: malformed public key") from None

    def validate_public_key(self, data: bytes) -> None:
        self._recipient(data)

    def encap(self, public_key: bytes, rng: RandomSource) -> tuple[bytes, bytes]:
        pk = self._recipient(public_key)
        sk_e = self._load_private(self._random_raw(rng))
        enc = self._public_of(sk_e)
        try:
            dh = self._exchange(sk_e, pk)
        except ValueError:
            raise InvalidKey(f"{self.name}: Diffie-Hellman with the recipient key failed") from None
        return self._extract_and_expand(dh, enc + public_key), enc

    def decap(self, enc: bytes, private_key: HPKEPrivateKey) -> bytes:
        key = self._own(private_key)
        enc = bytes(enc)
        try:
            dh = self._exchange(key._sk, self._parse_public(enc))
        except (ValueError, TypeError):
            raise DecryptError(f"{self.name}: invalid encapsulated key") from None
        return self._extract_and_expand(dh, enc + key._public)


class _XDHKEM(DHKEM[SK, PK]):
    """X25519 / X448: any ``Nsk`` bytes are a private key (clamped by the scalar multiplication)."""

    def _random_raw(self, rng: RandomSource) -> bytes:
        return _draw(rng, self.private_key_len)

    def _derive_raw(self, dkp_prk: bytes) -> bytes:
        return self.labeled_expand(dkp_prk, b"sk", b"", self.private_key_len)


class _X25519KEM(_XDHKEM[x25519.X25519PrivateKey, x25519.X25519PublicKey]):
    def _load_private(self, raw: bytes) -> x25519.X25519PrivateKey:
        return x25519.X25519PrivateKey.from_private_bytes(raw)

    def _public_of(self, sk: x25519.X25519PrivateKey) -> bytes:
        return sk.public_key().public_bytes_raw()

    def _parse_public(self, data: bytes) -> x25519.X25519PublicKey:
        return x25519.X25519PublicKey.from_public_bytes(data)

    def _exchange(self, sk: x25519.X25519PrivateKey, pk: x25519.X25519PublicKey) -> bytes:
        return sk.exchange(pk)


class _X448KEM(_XDHKEM[x448.X448PrivateKey, x448.X448PublicKey]):
    def _load_private(self, raw: bytes) -> x448.X448PrivateKey:
        return x448.X448PrivateKey.from_private_bytes(raw)

    def _public_of(self, sk: x448.X448PrivateKey) -> bytes:
        return sk.public_key().public_bytes_raw()

    def _parse_public(self, data: bytes) -> x448.X448PublicKey:
        return x448.X448PublicKey.from_public_bytes(data)

    def _exchange(self, sk: x448.X448PrivateKey, pk: x448.X448PublicKey) -> bytes:
        return sk.exchange(pk)


class _NISTKEM(DHKEM[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]):
    """P-256 / P-384 / P-521: scalar private keys, uncompressed points, x-coordinate shared secrets."""

    def __init__(self, kem_id: int, kdf: HKDF, curve: Curve) -> None:
        super().__init__(kem_id, f"DHKEM({curve.name}, {kdf.name})", kdf, curve.point_len, curve.scalar_len)
        self.curve = curve
        self._ecdh = ec.ECDH()

    def _load_private(self, raw: bytes) -> ec.EllipticCurvePrivateKey:
        return self.curve.private_key(raw)

    def _public_of(self, sk: ec.EllipticCurvePrivateKey) -> bytes:
        return self.curve.point_bytes(sk.public_key())

    def _parse_public(self, data: bytes) -> ec.EllipticCurvePublicKey:
        return self.curve.public_key(data)

    def _exchange(self, sk: ec.EllipticCurvePrivateKey, pk: ec.EllipticCurvePublicKey) -> bytes:
        return sk.exchange(self._ecdh, pk)

    def _random_raw(self, rng: RandomSource) -> bytes:
        return self.curve.random_scalar(rng)

    def _derive_raw(self, dkp_prk: bytes) -> bytes:
        for counter in range(256):
            candidate = self.labeled_expand(dkp_prk, b"candidate", bytes((counter,)), self.private_key_len)
            scalar = self.curve.scalar_candidate(candidate)
            if scalar is not None:
                return scalar
        raise LocalMLSError(f"{self.name}: DeriveKeyPairError")  # probability < 2^-256


DHKEM_P256_HKDF_SHA256: KEM = _NISTKEM(0x0010, HKDF_SHA256, P256)
DHKEM_P384_HKDF_SHA384: KEM = _NISTKEM(0x0011, HKDF_SHA384, P384)
DHKEM_P521_HKDF_SHA512: KEM = _NISTKEM(0x0012, HKDF_SHA512, P521)
DHKEM_X25519_HKDF_SHA256: KEM = _X25519KEM(0x0020, "DHKEM(X25519, HKDF-SHA256)", HKDF_SHA256, 32, 32)
DHKEM_X448_HKDF_SHA512: KEM = _X448KEM(0x0021, "DHKEM(X448, HKDF-SHA512)", HKDF_SHA512, 56, 56)


# --- HPKE contexts ----------------------------------------------------------------------------------------


class _Context:
    """RFC 9180 section 5.2 context: ``key``, ``base_nonce``, ``exporter_secret`` and the sequence number ``seq``
    (public for known-answer tests; treat them as secrets)."""

    __slots__ = ("_aead", "_hpke", "_nonce_int", "base_nonce", "exporter_secret", "key", "seq")

    def __init__(self, hpke: HPKE, key: bytes, base_nonce: bytes, exporter_secret: bytes) -> None:
        self._hpke = hpke
        self.key = key
        self.base_nonce = base_nonce
        self.exporter_secret = exporter_secret
        self.seq = 0
        self._nonce_int = int.from_bytes(base_nonce, "big")
        self._aead: AEADKey = hpke.aead.key_object(key)

    def _nonce(self) -> bytes:
        n = self._hpke.aead.nonce_len
        if self.seq >= (1 << (8 * n)) - 1:
            raise LocalMLSError("HPKE: message limit reached")
        return (self._nonce_int ^ self.seq).to_bytes(n, "big")

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """``Context.Export``: a secret bound to this context (at most 255 * Nh bytes)."""
        return self._hpke.labeled_expand(self.exporter_secret, b"sec", exporter_context, length)


class SenderContext(_Context):
    """``SetupBaseS`` result: seal messages in order."""

    __slots__ = ()

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        ct = self._aead.encrypt(self._nonce(), plaintext, aad)
        self.seq += 1
        return ct


class ReceiverContext(_Context):
    """``SetupBaseR`` result: open messages in order (a failed open does not advance the sequence)."""

    __slots__ = ()

    def open(self, aad: bytes, ciphertext: bytes) -> bytes:
        pt = open_with(self._aead, "HPKE", self._nonce(), aad, ciphertext)
        self.seq += 1
        return pt


# --- HPKE ---------------------------------------------------------------------------------------------------


class HPKE:
    """One HPKE cipher suite (KEM, KDF, AEAD) in base mode."""

    __slots__ = ("_info_context", "_ksc_prefix", "_prefix", "_secret_ikm", "aead", "kdf", "kem", "suite_id")

    def __init__(self, kem: KEM, kdf: HKDF, aead: AEAD) -> None:
        self.kem = kem
        self.kdf = kdf
        self.aead = aead
        self.suite_id = (
            b"HPKE"
            + kem.kem_id.to_bytes(2, "big")
            + kdf.kdf_id.to_bytes(2, "big")
            + aead.aead_id.to_bytes(2, "big")
        )
        self._prefix = _HPKE_V1 + self.suite_id
        # mode_base: psk = psk_id = "", so psk_id_hash and the "secret" extract input are constants
        self._ksc_prefix = b"\x00" + self.labeled_extract(b"", b"psk_id_hash", b"")
        self._secret_ikm = self._prefix + b"secret"
        # (info, key_schedule_context) of the last call: the context depends on info only, and a Welcome
        # seals the same (large: it holds the encrypted GroupInfo) info to every new member
        self._info_context: tuple[bytes, bytes] = (
            b"",
            self._ksc_prefix + self.labeled_extract(b"", b"info_hash", b""),
        )

    def __repr__(self) -> str:
        return f"<HPKE {self.kem.name}, {self.kdf.name}, {self.aead.name}>"

    def labeled_extract(self, salt: bytes, label: bytes, ikm: bytes) -> bytes:
        return self.kdf.extract(salt, self._prefix + label + ikm)

    def labeled_expand(self, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
        return self.kdf.expand(prk, _u16(length) + self._prefix + label + info, length)

    def _schedule(self, shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
        """``(secret, key_schedule_context)`` of the base-mode ``KeySchedule``."""
        last_info, context = self._info_context
        if info is not last_info:  # the same bytes object again: the same context (bytes are immutable)
            context = self._ksc_prefix + self.labeled_extract(b"", b"info_hash", info)
            if type(info) is bytes:
                self._info_context = (info, context)
        return self.kdf.extract(shared_secret, self._secret_ikm), context

    def _key_and_nonce(self, shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
        secret, context = self._schedule(shared_secret, info)
        key = self.labeled_expand(secret, b"key", context, self.aead.key_len)
        return key, self.labeled_expand(secret, b"base_nonce", context, self.aead.nonce_len)

    def _exporter_secret(self, shared_secret: bytes, info: bytes) -> bytes:
        secret, context = self._schedule(shared_secret, info)
        return self.labeled_expand(secret, b"exp", context, self.kdf.hash_len)

    def _context_values(self, shared_secret: bytes, info: bytes) -> tuple[bytes, bytes, bytes]:
        secret, context = self._schedule(shared_secret, info)
        return (
            self.labeled_expand(secret, b"key", context, self.aead.key_len),
            self.labeled_expand(secret, b"base_nonce", context, self.aead.nonce_len),
            self.labeled_expand(secret, b"exp", context, self.kdf.hash_len),
        )

    def _decap(self, private_key: HPKEPrivateKey, enc: bytes) -> bytes:
        if len(enc) != self.kem.enc_len:
            raise DecryptError(f"HPKE: encapsulated key must be {self.kem.enc_len} bytes, got {len(enc)}")
        return self.kem.decap(enc, private_key)

    # --- contexts -------------------------------------------------------------------------------------------
    def setup_sender(self, public_key: bytes, info: bytes, rng: RandomSource) -> tuple[bytes, SenderContext]:
        """``SetupBaseS(pkR, info)`` -> ``(enc, context)``."""
        shared_secret, enc = self.kem.encap(public_key, rng)
        return enc, SenderContext(self, *self._context_values(shared_secret, info))

    def setup_receiver(self, private_key: HPKEPrivateKey, enc: bytes, info: bytes) -> ReceiverContext:
        """``SetupBaseR(enc, skR, info)``."""
        return ReceiverContext(self, *self._context_values(self._decap(private_key, enc), info))

    # --- single shot ----------------------------------------------------------------------------------------
    def seal(
        self, public_key: bytes, info: bytes, aad: bytes, plaintext: bytes, rng: RandomSource
    ) -> tuple[bytes, bytes]:
        """``SealBase`` -> ``(enc, ciphertext)``."""
        shared_secret, enc = self.kem.encap(public_key, rng)
        key, nonce = self._key_and_nonce(shared_secret, info)
        return enc, self.aead.key_object(key).encrypt(nonce, plaintext, aad)

    def open(
        self, private_key: HPKEPrivateKey, enc: bytes, info: bytes, aad: bytes, ciphertext: bytes
    ) -> bytes:
        """``OpenBase``; :class:`DecryptError` on any failure."""
        key, nonce = self._key_and_nonce(self._decap(private_key, enc), info)
        return open_with(self.aead.key_object(key), "HPKE", nonce, aad, ciphertext)

    def send_export(
        self, public_key: bytes, info: bytes, exporter_context: bytes, length: int, rng: RandomSource
    ) -> tuple[bytes, bytes]:
        """``SetupBaseS(pkR, info)`` then ``Export(exporter_context, length)`` -> ``(enc, secret)``."""
        shared_secret, enc = self.kem.encap(public_key, rng)
        exporter = self._exporter_secret(shared_secret, info)
        return enc, self.labeled_expand(exporter, b"sec", exporter_context, length)

    def receive_export(
        self, private_key: HPKEPrivateKey, enc: bytes, info: bytes, exporter_context: bytes, length: int
    ) -> bytes:
        """``SetupBaseR(enc, skR, info)`` then ``Export(exporter_context, length)``."""
        exporter = self._exporter_secret(self._decap(private_key, enc), info)
        return self.labeled_expand(exporter, b"sec", exporter_context, length)
