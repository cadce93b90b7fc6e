"""XMTP's welcome wrapping: the outer HPKE layer around MLS Welcomes (protocol reference, section 5).

Sending one welcome to one installation (section 5.3)::

    recipient = recipient_wrapper(key_package.init_key, extension_body_or_none)   # section 5.1's table
    data, welcome_metadata = wrap_welcome(welcome_bytes, metadata_bytes, recipient.public_key,
                                          recipient.algorithm, os.urandom)
    # -> WelcomeMessageInput.V1 { installation_key, data, hpke_public_key = recipient.public_key,
    #                             wrapper_algorithm = recipient.algorithm, welcome_metadata }

Receiving (section 5.4)::

    welcome_bytes, metadata_bytes = unwrap_welcome(v1.data, v1.welcome_metadata, private_key, v1.wrapper_algorithm)

where ``private_key`` is the key that ``v1.hpke_public_key`` names: our :class:`WrapperKeyPair` (its object or
its 32-byte :meth:`~WrapperKeyPair.private_key_bytes`) for X-Wing, the key package's init key for Curve25519.

The layer: one HPKE base-mode context per recipient, ``info`` = :data:`WELCOME_HPKE_INFO` (the TLS
``EncryptContext { label = "MLS 1.0 MLS_WELCOME", context = "" }``), empty ``aad``. Seal #1 (sequence 0)
carries the TLS ``MLSMessage`` Welcome and is sent as TLS ``HPKECiphertext { kem_output<V>; ciphertext<V> }``;
seal #2 (sequence 1, same context) carries the ``WelcomeMetadata`` protobuf as a bare AEAD ciphertext. Suites:
algorithm 1 (CURVE25519, and 0 = unspecified) is DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305;
algorithm 2 (XWING_MLKEM_768_DRAFT_6) is X-Wing on KEM id 0x004D (:mod:`pyxmtp.mls.crypto.xwing`) / HKDF-SHA256
/ ChaCha20-Poly1305.

Welcome pointers (section 5.5): :func:`seal_pointee` encrypts the welcome once under a fresh symmetric key,
:func:`wrap_welcome_pointer` HPKE-wraps the small :class:`WelcomePointer` to each recipient, and a recipient
runs :func:`unwrap_welcome_pointer`, fetches the pointee at ``pointer.destination`` and opens it with
:func:`open_pointee`.

Errors: anything wrong with a peer's bytes (a wrapped welcome, a pointer, a pointee, the 0xFF03 extension of
its key package, a wrapper algorithm we do not know) raises a :class:`WelcomeWrapError` (a
:class:`~pyxmtp.mls.errors.RemoteMLSError`) naming what was wrong; caller misuse raises
:class:`WelcomeWrapUsageError` (a :class:`~pyxmtp.mls.errors.LocalMLSError`).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.mls.codec import Reader, opaque
from pyxmtp.mls.crypto.aead import CHACHA20_POLY1305, open_with
from pyxmtp.mls.crypto.hpke import DHKEM_X25519_HKDF_SHA256, HPKE, ReceiverContext, SenderContext
from pyxmtp.mls.crypto.kdf import HKDF_SHA256
from pyxmtp.mls.crypto.keys import HPKEPrivateKey, RandomSource
from pyxmtp.mls.crypto.xwing import XWING_DRAFT06_OBSOLETE
from pyxmtp.mls.errors import (
    DecodeError,
    DecryptError,
    InvalidKey,
    LocalMLSError,
    RemoteMLSError,
    UnsupportedError,
)
from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.proto.mls.message_contents import welcome_pointer_pb2, wrapper_encryption_pb2

# --- constants ----------------------------------------------------------------------------------------------

UNSPECIFIED = 0
"""``WELCOME_WRAPPER_ALGORITHM_UNSPECIFIED``: read as :data:`CURVE25519`."""
CURVE25519 = 1
"""``WELCOME_WRAPPER_ALGORITHM_CURVE25519``: DHKEM(X25519) to the key package's init key."""
XWING = 2
"""``WELCOME_WRAPPER_ALGORITHM_XWING_MLKEM_768_DRAFT_6``: X-Wing (KEM id 0x004D) to the 0xFF03 key."""
SYMMETRIC_KEY = 3
"""``WELCOME_WRAPPER_ALGORITHM_SYMMETRIC_KEY``: a welcome-pointer pointee (never HPKE)."""
POINTEE_CHACHA20_POLY1305 = 3
"""``WELCOME_POINTEE_ENCRYPTION_AEAD_TYPE_CHACHA20_POLY1305``, the only pointee AEAD."""

WELCOME_WRAPPER_ENCRYPTION = 0xFF03
"""The key-package extension type whose body is a ``WelcomeWrapperEncryption`` protobuf."""

WELCOME_HPKE_LABEL = "MLS_WELCOME"
WELCOME_HPKE_INFO = opaque(b"MLS 1.0 " + WELCOME_HPKE_LABEL.encode()) + opaque(b"")
"""HPKE ``info``: TLS ``EncryptContext("MLS 1.0 MLS_WELCOME", "")`` = ``13 4d4c5320...434f4d45 00``."""

CURVE25519_WRAPPER = HPKE(DHKEM_X25519_HKDF_SHA256, HKDF_SHA256, CHACHA20_POLY1305)
"""The HPKE suite of wrapper algorithm 1 (and 0): KEM 0x0020, KDF 0x0001, AEAD 0x0003."""
XWING_WRAPPER = HPKE(XWING_DRAFT06_OBSOLETE, HKDF_SHA256, CHACHA20_POLY1305)
"""The HPKE suite of wrapper algorithm 2: KEM 0x004D (X-Wing draft-06), KDF 0x0001, AEAD 0x0003."""

POINTEE_KEY_LEN = 32
POINTEE_NONCE_LEN = 12
POINTER_DESTINATION_LEN = 32

_NAMES = {
    UNSPECIFIED: "UNSPECIFIED",
    CURVE25519: "CURVE25519",
    XWING: "XWING_MLKEM_768_DRAFT_6",
    SYMMETRIC_KEY: "SYMMETRIC_KEY",
}


# --- errors -------------------------------------------------------------------------------------------------


class WelcomeWrapError(RemoteMLSError):
    """A peer's welcome-wrapping data is invalid; the message names what was wrong."""


class MalformedWrapperData(WelcomeWrapError):
    """Bytes do not parse: a wrapped welcome's ``HPKECiphertext``, a ``WelcomePointer``, a ``WelcomeWrapperEncryption``."""


class WelcomeUnwrapError(WelcomeWrapError, DecryptError):
    """HPKE or AEAD decryption failed: wrong key, wrong algorithm, or a tampered ``kem_output`` / ciphertext."""


class UnsupportedWrapperAlgorithm(WelcomeWrapError, UnsupportedError):
    """A wrapper algorithm (or pointee AEAD type) this implementation does not know, or that is not allowed there."""


class InvalidWrapperKey(WelcomeWrapError, InvalidKey):
    """A recipient's wrapper public key (from its key package) is not a valid key for its algorithm."""


class WelcomeWrapUsageError(LocalMLSError):
    """The caller misused this module (a private key of the wrong kind, a stored key of the wrong length)."""


# --- algorithms ---------------------------------------------------------------------------------------------


def algorithm_name(algorithm: int) -> str:
    """``CURVE25519``, ``XWING_MLKEM_768_DRAFT_6``, ... or ``unknown`` (for messages)."""
    return _NAMES.get(algorithm, "unknown")


def wrapper_hpke(algorithm: int) -> HPKE:
    """The HPKE suite of an HPKE wrapper algorithm (0, 1 or 2); :class:`UnsupportedWrapperAlgorithm` otherwise.

    The algorithm number comes from a peer (its key package or its welcome), hence a remote error.
    """
    if algorithm in (UNSPECIFIED, CURVE25519):
        return CURVE25519_WRAPPER
    if algorithm == XWING:
        return XWING_WRAPPER
    raise UnsupportedWrapperAlgorithm(
        f"welcome wrapper algorithm {algorithm} ({algorithm_name(algorithm)}) is not an HPKE wrapper "
        f"(known: 0/1 CURVE25519, 2 XWING_MLKEM_768_DRAFT_6)"
    )


# --- HPKECiphertext -----------------------------------------------------------------------------------------


def encode_hpke_ciphertext(kem_output: bytes, ciphertext: bytes) -> bytes:
    """TLS ``HPKECiphertext { opaque kem_output<V>; opaque ciphertext<V>; }``."""
    return opaque(kem_output) + opaque(ciphertext)


def decode_hpke_ciphertext(data: bytes, what: str = "welcome data") -> tuple[bytes, bytes]:
    """``(kem_output, ciphertext)`` of a TLS ``HPKECiphertext``; :class:`MalformedWrapperData` if it does not parse."""
    r = Reader(data, "HPKECiphertext")
    try:
        kem_output = r.opaque_v()
        ciphertext = r.opaque_v()
        r.expect_end()
    except DecodeError as exc:
        raise MalformedWrapperData(f"{what} is not a TLS HPKECiphertext: {exc}") from None
    return kem_output, ciphertext


# --- keys ---------------------------------------------------------------------------------------------------


def _private_key(hpke: HPKE, private_key: HPKEPrivateKey | bytes, algorithm: int) -> HPKEPrivateKey:
    """``private_key`` as a key of ``hpke``'s KEM (raw bytes are read as that KEM's serialised private key)."""
    if isinstance(private_key, HPKEPrivateKey):
        if private_key.kem_id != hpke.kem.kem_id:
            # The key was picked by the welcome's hpke_public_key; the algorithm number is the peer's.
            raise WelcomeUnwrapError(
                f"wrapper_algorithm {algorithm} ({algorithm_name(algorithm)}) needs a {hpke.kem.name} key, but "
                f"the key for this welcome's hpke_public_key is {private_key.algorithm}"
            )
        return private_key
    if isinstance(private_key, (bytes, bytearray, memoryview)):
        try:
            return hpke.kem.private_key_from_bytes(bytes(private_key))
        except InvalidKey as exc:
            raise WelcomeWrapUsageError(f"stored private key is not a {hpke.kem.name} key: {exc}") from None
    raise WelcomeWrapUsageError(
        f"private key must be an HPKEPrivateKey or bytes, got {type(private_key).__name__}"
    )


def _receiver(hpke: HPKE, key: HPKEPrivateKey, kem_output: bytes, what: str) -> ReceiverContext:
    try:
        return hpke.setup_receiver(key, kem_output, WELCOME_HPKE_INFO)
    except DecryptError as exc:
        raise WelcomeUnwrapError(
            f"{what}: kem_output does not decapsulate under {hpke.kem.name}: {exc}"
        ) from None


def _open(ctx: ReceiverContext, ciphertext: bytes, what: str) -> bytes:
    try:
        return ctx.open(b"", ciphertext)
    except DecryptError:
        raise WelcomeUnwrapError(
            f"{what} does not decrypt (wrong key or algorithm, or a tampered kem_output or ciphertext)"
        ) from None


def _sender(hpke_public_key: bytes, algorithm: int, rng: RandomSource) -> tuple[bytes, SenderContext]:
    hpke = wrapper_hpke(algorithm)
    try:
        enc, ctx = hpke.setup_sender(bytes(hpke_public_key), WELCOME_HPKE_INFO, rng)
    except InvalidKey as exc:
        raise InvalidWrapperKey(
            f"recipient's hpke_public_key is not a valid {hpke.kem.name} public key "
            f"for wrapper algorithm {algorithm} ({algorithm_name(algorithm)}): {exc}"
        ) from None
    return enc, ctx


# --- V1 welcomes (sections 5.3 and 5.4) ---------------------------------------------------------------------


def wrap_welcome(
    welcome_mls_message: bytes, metadata: bytes, hpke_public_key: bytes, algorithm: int, rng: RandomSource
) -> tuple[bytes, bytes]:
    """``(data, welcome_metadata)`` of a ``WelcomeMessageInput.V1`` (section 5.3).

    ``welcome_mls_message`` is the TLS ``MLSMessage`` Welcome, ``metadata`` the ``WelcomeMetadata`` protobuf
    (empty for cursor 0: it still seals, to a 16-byte tag). ``hpke_public_key`` and ``algorithm`` are the
    recipient's (:func:`recipient_wrapper`). Raises :class:`UnsupportedWrapperAlgorithm` or
    :class:`InvalidWrapperKey` when those (which come from the recipient's key package) are unusable.
    """
    enc, ctx = _sender(hpke_public_key, algorithm, rng)
    data = encode_hpke_ciphertext(enc, ctx.seal(b"", bytes(welcome_mls_message)))
    return data, ctx.seal(b"", bytes(metadata))


def unwrap_welcome(
    data: bytes, welcome_metadata: bytes, private_key: HPKEPrivateKey | bytes, algorithm: int
) -> tuple[bytes, bytes]:
    """``(welcome MLSMessage bytes, WelcomeMetadata bytes)`` of a received ``WelcomeMessage.V1`` (section 5.4).

    ``private_key`` is the key named by the welcome's ``hpke_public_key``: an :class:`HPKEPrivateKey`, or the
    raw serialised key (the 32-byte X-Wing seed, or the 32-byte X25519 key), read per ``algorithm``. An empty
    ``welcome_metadata`` is skipped and gives ``b""``; a non-empty one must open as the context's second
    message. Peer errors: :class:`MalformedWrapperData`, :class:`WelcomeUnwrapError`,
    :class:`UnsupportedWrapperAlgorithm`.
    """
    hpke = wrapper_hpke(algorithm)
    key = _private_key(hpke, private_key, algorithm)
    kem_output, ciphertext = decode_hpke_ciphertext(data)
    ctx = _receiver(hpke, key, kem_output, "welcome data")
    welcome = _open(ctx, ciphertext, "welcome data")
    metadata = _open(ctx, bytes(welcome_metadata), "welcome_metadata") if welcome_metadata else b""
    return welcome, metadata


# --- our own wrapper key and the 0xFF03 extension (section 4.1) ---------------------------------------------


@dataclass(frozen=True)
class WrapperEncryption:
    """A ``WelcomeWrapperEncryption`` body: the algorithm and public key senders must wrap welcomes with."""

    algorithm: int
    public_key: bytes

    def to_bytes(self) -> bytes:
        """The protobuf body (for X-Wing: ``0a c009 <1216 bytes> 10 02``)."""
        return build_wrapper_encryption(self.public_key, self.algorithm)


def build_wrapper_encryption(public_key: bytes, algorithm: int = XWING) -> bytes:
    """The 0xFF03 extension body ``WelcomeWrapperEncryption { pub_key = 1; algorithm = 2 }``."""
    value = wrapper_encryption_pb2.WelcomeWrapperAlgorithm.ValueType(algorithm)
    return wrapper_encryption_pb2.WelcomeWrapperEncryption(
        pub_key=bytes(public_key), algorithm=value
    ).SerializeToString()


def parse_wrapper_encryption(body: bytes) -> WrapperEncryption:
    """A peer's 0xFF03 body, checked: known HPKE algorithm (0 is read as 1) and a valid public key for it."""
    try:
        parsed = wrapper_encryption_pb2.WelcomeWrapperEncryption.FromString(bytes(body))
    except ProtobufDecodeError as exc:
        raise MalformedWrapperData(
            f"0xFF03 extension body is not a WelcomeWrapperEncryption protobuf: {exc}"
        ) from None
    algorithm = CURVE25519 if parsed.algorithm == UNSPECIFIED else int(parsed.algorithm)
    hpke = wrapper_hpke(algorithm)
    try:
        hpke.kem.validate_public_key(parsed.pub_key)
    except InvalidKey as exc:
        raise InvalidWrapperKey(
            f"0xFF03 pub_key ({len(parsed.pub_key)} bytes) is not a valid {hpke.kem.name} public key: {exc}"
        ) from None
    return WrapperEncryption(algorithm, parsed.pub_key)


def recipient_wrapper(init_key: bytes, wrapper_encryption: bytes | None) -> WrapperEncryption:
    """How to wrap to a key package (section 5.1): its 0xFF03 body if present, else Curve25519 to ``init_key``."""
    if wrapper_encryption is not None:
        return parse_wrapper_encryption(wrapper_encryption)
    return WrapperEncryption(CURVE25519, bytes(init_key))


class WrapperKeyPair:
    """Our welcome-wrapper key pair, advertised in our key package's 0xFF03 extension (X-Wing by default).

    ``private_key`` is opaque; :meth:`private_key_bytes` is its serialisation (the 32-byte X-Wing seed) for
    storage, read back with :meth:`from_private_key_bytes` (or passed as is to :func:`unwrap_welcome`).
    """

    __slots__ = ("algorithm", "private_key")

    def __init__(self, private_key: HPKEPrivateKey, algorithm: int = XWING) -> None:
        if private_key.kem_id != wrapper_hpke(algorithm).kem.kem_id:
            raise WelcomeWrapUsageError(
                f"{private_key.algorithm} key cannot serve wrapper algorithm {algorithm}"
            )
        self.private_key = private_key
        self.algorithm = algorithm

    def __repr__(self) -> str:  # never shows the secret
        return f"<WrapperKeyPair {algorithm_name(self.algorithm)} public={self.public_key[:8].hex()}...>"

    @property
    def public_key(self) -> bytes:
        """The public key senders wrap to (1216 bytes for X-Wing); also the welcome's ``hpke_public_key``."""
        return self.private_key.public_bytes()

    def private_key_bytes(self) -> bytes:
        """The serialised private key (secret!): the 32-byte X-Wing seed."""
        return self.private_key.to_bytes()

    def wrapper_encryption(self) -> WrapperEncryption:
        return WrapperEncryption(self.algorithm, self.public_key)

    def extension_body(self) -> bytes:
        """The 0xFF03 ``WelcomeWrapperEncryption`` protobuf body."""
        return build_wrapper_encryption(self.public_key, self.algorithm)

    def extension(self) -> Extension:
        """The 0xFF03 key-package extension."""
        return Extension(WELCOME_WRAPPER_ENCRYPTION, self.extension_body())

    @classmethod
    def from_private_key_bytes(cls, data: bytes, algorithm: int = XWING) -> WrapperKeyPair:
        """The key pair whose :meth:`private_key_bytes` are ``data``."""
        kem = wrapper_hpke(algorithm).kem
        try:
            return cls(kem.private_key_from_bytes(bytes(data)), algorithm)
        except InvalidKey as exc:
            raise WelcomeWrapUsageError(f"stored wrapper key is not a {kem.name} key: {exc}") from None


def generate_wrapper_key_pair(rng: RandomSource) -> WrapperKeyPair:
    """A fresh X-Wing wrapper key pair, as libxmtp makes it: ``DeriveKeyPair(32 random bytes)``."""
    return derive_wrapper_key_pair(_random(rng, 32))


def derive_wrapper_key_pair(ikm: bytes) -> WrapperKeyPair:
    """The X-Wing wrapper key pair of HPKE ``DeriveKeyPair(ikm)`` (the seed is ``SHAKE256(ikm, 32)``)."""
    return WrapperKeyPair(XWING_DRAFT06_OBSOLETE.derive_key_pair(bytes(ikm)), XWING)


# --- welcome pointers (section 5.5) -------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class WelcomePointer:
    """``WelcomePointer.WelcomeV1Pointer``: where the pointee is and the symmetric key that opens it."""

    destination: bytes
    encryption_key: bytes
    data_nonce: bytes
    welcome_metadata_nonce: bytes
    aead_type: int = POINTEE_CHACHA20_POLY1305

    def __repr__(self) -> str:  # never shows the key
        return f"<WelcomePointer destination={self.destination.hex()}>"

    def to_bytes(self) -> bytes:
        """The ``WelcomePointer { welcome_v1_pointer = 1 }`` protobuf (the plaintext that gets HPKE-wrapped)."""
        aead = welcome_pointer_pb2.WelcomePointeeEncryptionAeadType.ValueType(self.aead_type)
        v1 = welcome_pointer_pb2.WelcomePointer.WelcomeV1Pointer(
            destination=self.destination,
            aead_type=aead,
            encryption_key=self.encryption_key,
            data_nonce=self.data_nonce,
            welcome_metadata_nonce=self.welcome_metadata_nonce,
        )
        return welcome_pointer_pb2.WelcomePointer(welcome_v1_pointer=v1).SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> WelcomePointer:
        """A peer's decrypted pointer, checked: V1, ChaCha20-Poly1305, 32-byte key and destination, 12-byte nonces."""
        try:
            parsed = welcome_pointer_pb2.WelcomePointer.FromString(bytes(data))
        except ProtobufDecodeError as exc:
            raise MalformedWrapperData(f"welcome pointer is not a WelcomePointer protobuf: {exc}") from None
        if parsed.WhichOneof("version") != "welcome_v1_pointer":
            raise MalformedWrapperData(
                "welcome pointer has no welcome_v1_pointer (unknown or missing version)"
            )
        v1 = parsed.welcome_v1_pointer
        if v1.aead_type != POINTEE_CHACHA20_POLY1305:
            raise UnsupportedWrapperAlgorithm(
                f"welcome pointer aead_type {v1.aead_type} is not CHACHA20_POLY1305 ({POINTEE_CHACHA20_POLY1305})"
            )
        for name, value, want in (
            ("destination", v1.destination, POINTER_DESTINATION_LEN),
            ("encryption_key", v1.encryption_key, POINTEE_KEY_LEN),
            ("data_nonce", v1.data_nonce, POINTEE_NONCE_LEN),
            ("welcome_metadata_nonce", v1.welcome_metadata_nonce, POINTEE_NONCE_LEN),
        ):
            if len(value) != want:
                raise MalformedWrapperData(f"welcome pointer {name} must be {want} bytes, got {len(value)}")
        return cls(v1.destination, v1.encryption_key, v1.data_nonce, v1.welcome_metadata_nonce, v1.aead_type)


def seal_pointee(
    welcome_mls_message: bytes, metadata: bytes, rng: RandomSource
) -> tuple[WelcomePointer, bytes, bytes]:
    """``(pointer, data, welcome_metadata)``: the pointee, encrypted once under a fresh key.

    Publish it as ``WelcomeMessageInput.V1 { installation_key = pointer.destination, data, welcome_metadata,
    hpke_public_key = b"", wrapper_algorithm = SYMMETRIC_KEY }`` and wrap ``pointer`` to each capable
    recipient with :func:`wrap_welcome_pointer`. The two nonces are distinct, as libxmtp makes them.
    """
    destination = _random(rng, POINTER_DESTINATION_LEN)
    key = _random(rng, POINTEE_KEY_LEN)
    data_nonce = _random(rng, POINTEE_NONCE_LEN)
    metadata_nonce = _random(rng, POINTEE_NONCE_LEN)
    while metadata_nonce == data_nonce:
        metadata_nonce = _random(rng, POINTEE_NONCE_LEN)
    aead = CHACHA20_POLY1305.key_object(key)
    data = aead.encrypt(data_nonce, bytes(welcome_mls_message), b"")
    sealed_metadata = aead.encrypt(metadata_nonce, bytes(metadata), b"")
    return WelcomePointer(destination, key, data_nonce, metadata_nonce), data, sealed_metadata


def open_pointee(pointer: WelcomePointer, data: bytes, welcome_metadata: bytes) -> tuple[bytes, bytes]:
    """``(welcome MLSMessage bytes, WelcomeMetadata bytes)`` of the pointee ``pointer`` names.

    Both parts must open (as libxmtp: the pointee's metadata is always sealed, even when empty).
    """
    if pointer.aead_type != POINTEE_CHACHA20_POLY1305:
        raise UnsupportedWrapperAlgorithm(
            f"welcome pointer aead_type {pointer.aead_type} is not CHACHA20_POLY1305"
        )
    aead = CHACHA20_POLY1305.key_object(pointer.encryption_key)
    out = []
    for what, nonce, ciphertext in (
        ("pointee data", pointer.data_nonce, data),
        ("pointee welcome_metadata", pointer.welcome_metadata_nonce, welcome_metadata),
    ):
        try:
            out.append(open_with(aead, "ChaCha20-Poly1305", nonce, b"", bytes(ciphertext)))
        except DecryptError:
            raise WelcomeUnwrapError(
                f"{what} does not decrypt under the pointer's key (tampered or wrong pointee)"
            ) from None
    return out[0], out[1]


def wrap_welcome_pointer(
    pointer: WelcomePointer, hpke_public_key: bytes, algorithm: int, rng: RandomSource
) -> bytes:
    """``WelcomeMessageInput.WelcomePointer.welcome_pointer``: seal #1 of one HPKE context, as ``HPKECiphertext``.

    Only X-Wing (2) is legal for pointers (the node rejects anything else): another ``algorithm`` is caller
    misuse here, since only recipients whose key package has 0xFF03 and 0xFF04 get pointers.
    """
    if algorithm != XWING:
        raise WelcomeWrapUsageError(
            f"welcome pointers are X-Wing only, not algorithm {algorithm} ({algorithm_name(algorithm)})"
        )
    enc, ctx = _sender(hpke_public_key, algorithm, rng)
    return encode_hpke_ciphertext(enc, ctx.seal(b"", pointer.to_bytes()))


def unwrap_welcome_pointer(
    welcome_pointer: bytes, private_key: HPKEPrivateKey | bytes, algorithm: int
) -> WelcomePointer:
    """The :class:`WelcomePointer` in a received ``WelcomeMessage.WelcomePointer`` (``welcome_pointer`` field).

    ``algorithm`` is the message's ``wrapper_algorithm``, mapped as for V1 welcomes (libxmtp does the same).
    """
    hpke = wrapper_hpke(algorithm)
    key = _private_key(hpke, private_key, algorithm)
    kem_output, ciphertext = decode_hpke_ciphertext(welcome_pointer, "welcome pointer")
    ctx = _receiver(hpke, key, kem_output, "welcome pointer")
    return WelcomePointer.from_bytes(_open(ctx, ciphertext, "welcome pointer"))


def _random(rng: RandomSource, n: int) -> bytes:
    data = rng(n)
    if len(data) != n:
        raise WelcomeWrapUsageError(f"random source returned {len(data)} bytes, asked for {n}")
    return bytes(data)
