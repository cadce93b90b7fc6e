"""NIST P-256 / P-384 / P-521 parameters and encodings shared by ECDSA and DHKEM.

Private keys are big-endian scalars of the field length (32/48/66 bytes), public keys uncompressed SEC1
points (``0x04 || X || Y``), as RFC 9180 section 7.1.1 and RFC 9420 section 5.1.2 specify.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import InvalidKey, LocalMLSError
from .keys import RandomSource


class Curve:
    """One NIST curve: ``scalar_len``-byte private scalars below ``order``, ``point_len``-byte public points."""

    __slots__ = ("curve", "name", "order", "point_len", "scalar_len", "top_mask")

    def __init__(
        self, name: str, curve: ec.EllipticCurve, order: int, scalar_len: int, top_mask: int
    ) -> None:
        self.name = name
        self.curve = curve
        self.order = order
        self.scalar_len = scalar_len
        self.point_len = 1 + 2 * scalar_len
        self.top_mask = top_mask  # RFC 9180 DeriveKeyPair bitmask for the first candidate byte

    def __repr__(self) -> str:
        return f"<Curve {self.name}>"

    def private_key(self, scalar: bytes) -> ec.EllipticCurvePrivateKey:
        """The key for a serialised scalar; :class:`InvalidKey` unless it is ``scalar_len`` bytes in [1, n-1]."""
        if len(scalar) != self.scalar_len:
            raise InvalidKey(f"{self.name} private key must be {self.scalar_len} bytes, got {len(scalar)}")
        value = int.from_bytes(scalar, "big")
        if not 0 < value < self.order:
            raise InvalidKey(f"{self.name} private scalar out of range")
        return ec.derive_private_key(value, self.curve)

    def scalar_candidate(self, data: bytes) -> bytes | None:
        """RFC 9180 rejection-sampling step: mask the first byte; the scalar if valid, else ``None``."""
        candidate = bytes((data[0] & self.top_mask,)) + data[1:]
        return candidate if 0 < int.from_bytes(candidate, "big") < self.order else None

    def random_scalar(self, rng: RandomSource) -> bytes:
        """A uniformly random serialised private scalar drawn from ``rng`` by rejection sampling."""
        n = self.scalar_len
        for _ in range(256):
            data = rng(n)
            if len(data) != n:
                raise LocalMLSError(f"random source returned {len(data)} bytes, asked for {n}")
            candidate = self.scalar_candidate(data)
            if candidate is not None:
                return candidate
        raise LocalMLSError(f"{self.name}: random source keeps returning invalid scalars")

    def point_bytes(self, key: ec.EllipticCurvePublicKey) -> bytes:
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def public_key(self, point: bytes) -> ec.EllipticCurvePublicKey:
        """Parse an uncompressed point (checked to lie on the curve); ``ValueError`` otherwise."""
        if len(point) != self.point_len or point[0] != 0x04:
            raise ValueError(f"{self.name} public key must be a {self.point_len}-byte uncompressed point")
        return ec.EllipticCurvePublicKey.from_encoded_point(self.curve, bytes(point))


P256 = Curve(
    "P-256",
    ec.SECP256R1(),
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    32,
    0xFF,
)
P384 = Curve(
    "P-384",
    ec.SECP384R1(),
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    48,
    0xFF,
)
P521 = Curve(
    "P-521",
    ec.SECP521R1(),
    int(
        "01FF"
        + "FFFFFFFF" * 7
        + "FFFFFFFA"
        + "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
    66,
    0x01,
)
