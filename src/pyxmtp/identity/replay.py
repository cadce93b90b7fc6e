"""Replay detection that survives signature re-encoding (a hardening beyond libxmtp).

libxmtp's replay protection remembers each signature's bytes as sent (ECDSA after low-s normalisation, but with
``v`` as given). The same ECDSA signature re-sent with ``v`` = 0/1 instead of 27/28 therefore does not count as
a replay, so anyone can re-publish an old "add wallet" after it was revoked. Clients must keep libxmtp's rule
(or they would disagree with libxmtp on such a log), but a node can refuse to *store* such an update: an honest
client never produces one.

:func:`signature_fingerprints` maps every signature in an update to an encoding-independent fingerprint
(ECDSA: ``r || low-s``; P-256 passkeys: ``r || low-s``; others: the signature bytes), and
:func:`check_no_reencoded_replay` rejects an update whose fingerprints were already used by an earlier one
(:func:`check_fresh_fingerprints` against the fingerprints of a whole log, kept as it grows).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pyxmtp.identity.actions import wire_signatures
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2

from .errors import AssociationError, Rule

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _low_s(r: int, s: int, n: int) -> bytes:
    return r.to_bytes(32, "big") + min(s, n - s).to_bytes(32, "big")


def _ecdsa(signature: bytes) -> bytes:
    if len(signature) != 65:
        return b"raw:" + signature
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    return b"secp256k1:" + _low_s(r, s, _SECP256K1_N)


def _passkey(signature: bytes) -> bytes:
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return b"raw:" + signature
    return b"p256:" + _low_s(r, s, _P256_N)


def _fingerprint(sig: signature_pb2.Signature) -> bytes | None:
    kind = sig.WhichOneof("signature")
    if kind == "erc_191":
        return _ecdsa(sig.erc_191.bytes)
    if kind == "delegated_erc_191":
        return _ecdsa(sig.delegated_erc_191.signature.bytes)
    if kind == "passkey":
        return _passkey(sig.passkey.signature)
    if kind == "installation_key":
        return b"ed25519:" + sig.installation_key.bytes
    if kind == "erc_6492":
        return b"scw:" + sig.erc_6492.signature
    return None


def signature_fingerprints(update: association_pb2.IdentityUpdate) -> set[bytes]:
    """Encoding-independent fingerprints of every signature in ``update``."""
    out: set[bytes] = set()
    for sig in wire_signatures(update):
        fp = _fingerprint(sig)
        if fp is not None:
            out.add(fp)
    return out


def check_fresh_fingerprints(seen: Set[bytes], update: association_pb2.IdentityUpdate) -> frozenset[bytes]:
    """Raise :class:`AssociationError` (``replay``) if ``update`` reuses a signature whose fingerprint is in
    ``seen``; otherwise return the update's fingerprints."""
    fingerprints = frozenset(signature_fingerprints(update))
    if not fingerprints.isdisjoint(seen):
        raise AssociationError(
            Rule.REPLAY, "the update reuses a signature of an earlier update (re-encoded: v or s changed)"
        )
    return fingerprints


def check_no_reencoded_replay(
    earlier: Iterable[association_pb2.IdentityUpdate], update: association_pb2.IdentityUpdate
) -> None:
    """Raise :class:`AssociationError` (``replay``) if ``update`` reuses a signature of an ``earlier`` update,
    in any encoding."""
    seen: set[bytes] = set()
    for old in earlier:
        seen |= signature_fingerprints(old)
    check_fresh_fingerprints(seen, update)
