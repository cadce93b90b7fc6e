"""X-Wing, the ML-KEM-768 + X25519 hybrid KEM of draft-connolly-cfrg-xwing-kem-06, as an HPKE :class:`KEM`.

What draft-06 specifies, and what this module does (every primitive comes from ``cryptography`` or ``hashlib``)::

    expandDecapsulationKey(sk):   expanded = SHAKE256(sk, 96 bytes)
                                  (pk_M, sk_M) = ML-KEM-768.KeyGen_internal(d = expanded[0:32], z = expanded[32:64])
                                  sk_X = expanded[64:96];  pk_X = X25519(sk_X, 9)
    public key (1216 bytes)       = pk_M (1184) || pk_X (32)
    private key (32 bytes)        = sk, the seed itself
    Encapsulate(pk):              ek_X random;  ct_X = X25519(ek_X, 9);  ss_X = X25519(ek_X, pk_X)
                                  (ss_M, ct_M) = ML-KEM-768.Encaps(pk_M)
                                  ss = SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)
                                  enc (1120 bytes) = ct_M (1088) || ct_X (32)
    Decapsulate(ct, sk):          the same combiner over ML-KEM-768.Decaps(ct_M) and X25519(sk_X, ct_X)
    XWingLabel                    = "\\./" "/^\\" = 5c2e2f2f5e5c (6 bytes)
    HPKE DeriveKeyPair(ikm)       = GenerateKeyPairDerand(SHAKE256(ikm, 32 bytes)), i.e. the seed is SHAKE256(ikm)

Draft history that matters here: draft-04 put the label first in the combiner and expanded the seed with
SHAKE128; draft-05 moved the label to the end and switched to SHAKE256; draft-06 only changed the requested
codepoint (to 0x647A). Drafts 07-10 are editorial (SHAKE output lengths written in bits, an ASN.1 module): the
algorithm is the one above from draft-05 on. The ML-KEM seed is FIPS 203's 64-byte ``d || z``, which is what
``cryptography``'s :meth:`MLKEM768PrivateKey.from_seed_bytes` takes.

Codepoint: XMTP pins the **obsolete** HPKE KEM id 0x004D (hpke-rs ``XWingDraft06Obsolete``) for wire
compatibility with libxmtp 1.9/1.10; the algorithm is draft-06 either way. The id enters only HPKE's
``suite_id`` (X-Wing's own combiner has no KEM id in it), so :data:`XWING_DRAFT06_OBSOLETE` (0x004D) and
:data:`XWING_DRAFT06` (0x647A) share keys and shared secrets and differ only in the HPKE key schedule.

How libxmtp derives its key pair: ``derive_hpke_keypair(POST_QUANTUM_CIPHERSUITE.hpke_config(), 32 random
bytes)`` goes to hpke-rs (XMTP's fork of 0.6.1, libcrux backend). hpke-rs' released ``DeriveKeyPair`` for
X-Wing is ``libcrux_sha3::shake256::<32>(ikm)`` handed to libcrux-kem's ``key_gen_derand`` as the seed, i.e.
draft-06's ``DeriveKeyPair`` (read in hpke-rs' ``src/kem.rs`` of the 0.3/0.4 line; the fork's 0.6.1 source itself
was not available, and a review of the 0.6 line lists the same unlabeled call). libcrux-kem keeps the 32-byte
seed as the private key and expands it exactly as above (SHAKE256 to 96 bytes, ML-KEM from the first 64, the
label-last combiner). hpke-rs' unreleased main branch moves to draft-ietf-hpke-pq's ``SHAKE256.LabeledDerive(
ikm, "DeriveKeyPair", "", 32)``: that changes which seed an ``ikm`` gives, not the key format, and ``ikm``
never crosses the wire, so keys stay interchangeable either way.

Randomness: ``cryptography``'s ML-KEM encapsulation takes no caller randomness, so in :meth:`XWingKEM.encap`
only the 32-byte X25519 ephemeral ``ek_X`` comes from the injected ``rng``; the ML-KEM half draws its 32
bytes from the OS inside OpenSSL. Encapsulation is therefore never reproducible from ``rng`` alone.

Checks: the ML-KEM half of a public key must pass FIPS 203's encapsulation-key (modulus) check, done by
``cryptography`` on import (:class:`InvalidKey` otherwise). An X25519 exchange that yields the all-zero value
(a low-order point) is refused by OpenSSL, so it is rejected (draft-06 does not ask for this; it only matters
for a malicious key or ``enc``): :class:`InvalidKey` when encapsulating to such a key, :class:`DecryptError`
when decapsulating such an ``enc``.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from ..errors import DecryptError, InvalidKey, LocalMLSError
from .hpke import KEM, KEMPrivateKey
from .keys import HPKEPrivateKey, RandomSource

XWING_LABEL = b"\\.//^\\"
"""The 6-byte X-Wing combiner label ``\\./`` ``/^\\`` (hex 5c2e2f2f5e5c)."""

SEED_LEN = 32
PUBLIC_KEY_LEN = 1216
ENC_LEN = 1120
SHARED_SECRET_LEN = 32
MLKEM_PUBLIC_KEY_LEN = 1184
MLKEM_CIPHERTEXT_LEN = 1088
X25519_LEN = 32

KEM_ID_XWING_DRAFT06_OBSOLETE = 0x004D
"""The HPKE KEM id XMTP's welcome wrapper uses (hpke-rs ``XWingDraft06Obsolete``)."""
KEM_ID_XWING_DRAFT06 = 0x647A
"""The HPKE KEM id draft-06 requests (25519 + 203); hpke-rs ``XWingDraft06``. Same algorithm."""


def combiner(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    """draft-06 ``Combiner``: ``SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)``."""
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()


def expand_seed(seed: bytes) -> tuple[bytes, bytes]:
    """``expandDecapsulationKey`` split: ``(ML-KEM-768 seed d || z (64 bytes), X25519 private key (32 bytes))``."""
    expanded = hashlib.shake_256(seed).digest(96)
    return expanded[:64], expanded[64:]


class XWingPrivateKey(KEMPrivateKey):
    """An X-Wing decapsulation key: serialises as the 32-byte seed, caching its expansion (draft-06 5.4).

    ``public_bytes()`` is the 1216-byte encapsulation key ``pk_M || pk_X``.
    """

    __slots__ = ("_mlkem", "_pk_x", "_x25519")

    def __init__(self, kem: XWingKEM, seed: bytes) -> None:
        mlkem_seed, sk_x = expand_seed(seed)
        self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed)
        self._x25519 = x25519.X25519PrivateKey.from_private_bytes(sk_x)
        self._pk_x = self._x25519.public_key().public_bytes_raw()
        super().__init__(kem, seed, self._mlkem.public_key().public_bytes_raw() + self._pk_x)


class XWingKEM(KEM):
    """X-Wing (draft-06) under one HPKE KEM id: ``Nsecret`` 32, ``Nenc`` 1120, ``Npk`` 1216, ``Nsk`` 32."""

    shared_secret_len = SHARED_SECRET_LEN
    enc_len = ENC_LEN
    public_key_len = PUBLIC_KEY_LEN
    private_key_len = SEED_LEN

    def __init__(self, kem_id: int, name: str) -> None:
        self.kem_id = kem_id
        self.name = name

    def _key(self, seed: bytes) -> XWingPrivateKey:
        return XWingPrivateKey(self, seed)

    def _own(self, key: HPKEPrivateKey) -> XWingPrivateKey:
        if isinstance(key, XWingPrivateKey) and key.kem_id == self.kem_id:
            return key
        raise LocalMLSError(f"{self.name}: not a key of this KEM ({key.algorithm})")

    def generate_key_pair(self, rng: RandomSource) -> HPKEPrivateKey:
        """``GenerateKeyPair``: a random 32-byte seed from ``rng``."""
        seed = rng(SEED_LEN)
        if len(seed) != SEED_LEN:
            raise LocalMLSError(f"random source returned {len(seed)} bytes, asked for {SEED_LEN}")
        return self._key(bytes(seed))

    def derive_key_pair(self, ikm: bytes) -> HPKEPrivateKey:
        """draft-06 ``DeriveKeyPair``: the seed is ``SHAKE256(ikm, 32)``."""
        return self._key(hashlib.shake_256(bytes(ikm)).digest(SEED_LEN))

    def private_key_from_bytes(self, data: bytes) -> HPKEPrivateKey:
        """The key whose seed is ``data`` (any 32 bytes are a valid X-Wing private key)."""
        if len(data) != SEED_LEN:
            raise InvalidKey(f"{self.name} private key must be {SEED_LEN} bytes, got {len(data)}")
        return self._key(bytes(data))

    def _parse_public(self, data: bytes) -> tuple[mlkem.MLKEM768PublicKey, x25519.X25519PublicKey, bytes]:
        if len(data) != PUBLIC_KEY_LEN:
            raise InvalidKey(f"{self.name} public key must be {PUBLIC_KEY_LEN} bytes, got {len(data)}")
        data = bytes(data)
        pk_x = data[MLKEM_PUBLIC_KEY_LEN:]
        try:
            pk_m = mlkem.MLKEM768PublicKey.from_public_bytes(data[:MLKEM_PUBLIC_KEY_LEN])
        except ValueError:
            raise InvalidKey(
                f"{self.name}: ML-KEM-768 half of the public key fails the FIPS 203 check"
            ) from None
        return pk_m, x25519.X25519PublicKey.from_public_bytes(pk_x), pk_x

    def validate_public_key(self, data: bytes) -> None:
        self._parse_public(data)

    def encap(self, public_key: bytes, rng: RandomSource) -> tuple[bytes, bytes]:
        """``Encapsulate(pk)`` -> ``(shared_secret, enc)``; ``ek_X`` from ``rng``, the ML-KEM coins from the OS."""
        pk_m, pk_x_key, pk_x = self._parse_public(public_key)
        ek_raw = rng(X25519_LEN)
        if len(ek_raw) != X25519_LEN:
            raise LocalMLSError(f"random source returned {len(ek_raw)} bytes, asked for {X25519_LEN}")
        ek_x = x25519.X25519PrivateKey.from_private_bytes(ek_raw)
        ct_x = ek_x.public_key().public_bytes_raw()
        try:
            ss_x = ek_x.exchange(pk_x_key)
        except ValueError:
            raise InvalidKey(f"{self.name}: X25519 half of the public key is a low-order point") from None
        ss_m, ct_m = pk_m.encapsulate()
        return combiner(ss_m, ss_x, ct_x, pk_x), ct_m + ct_x

    def decap(self, enc: bytes, private_key: HPKEPrivateKey) -> bytes:
        """``Decapsulate(enc, sk)``; :class:`DecryptError` if ``enc`` is malformed."""
        key = self._own(private_key)
        if len(enc) != ENC_LEN:
            raise DecryptError(f"{self.name}: encapsulated key must be {ENC_LEN} bytes, got {len(enc)}")
        enc = bytes(enc)
        ct_m, ct_x = enc[:MLKEM_CIPHERTEXT_LEN], enc[MLKEM_CIPHERTEXT_LEN:]
        try:
            ss_m = key._mlkem.decapsulate(ct_m)  # implicit rejection: a wrong ct_M gives a pseudo-random ss_M
            ss_x = key._x25519.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
        except ValueError:
            raise DecryptError(f"{self.name}: invalid encapsulated key (low-order X25519 point)") from None
        return combiner(ss_m, ss_x, ct_x, key._pk_x)


XWING_DRAFT06_OBSOLETE: KEM = XWingKEM(KEM_ID_XWING_DRAFT06_OBSOLETE, "X-Wing draft-06 (0x004D)")
"""X-Wing on the obsolete HPKE codepoint 0x004D: what XMTP's welcome wrapper uses."""
XWING_DRAFT06: KEM = XWingKEM(KEM_ID_XWING_DRAFT06, "X-Wing draft-06 (0x647A)")
"""X-Wing on the codepoint draft-06 requests, 0x647A (not used by XMTP today)."""
