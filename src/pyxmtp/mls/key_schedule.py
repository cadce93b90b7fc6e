"""The key schedule (RFC 9420 section 8) and the secrets derived from it (8.3 external init, 8.5 exporter).

::

    init_secret_[n-1]                                       (salt)
    commit_secret -> KDF.Extract -> ExpandWithLabel(., "joiner", GroupContext_[n], Nh) = joiner_secret
    psk_secret    -> KDF.Extract(salt = joiner_secret)  = member secret
                        +-> DeriveSecret(., "welcome") = welcome_secret
                        +-> ExpandWithLabel(., "epoch", GroupContext_[n], Nh) = epoch_secret
    epoch_secret  -> DeriveSecret(., label) for every field of :class:`EpochSecrets`
                  -> DeriveSecret(., "init") = init_secret_[n]

Entry points:

* a member processing or creating a commit: :func:`advance_epoch` (``init_secret`` of the previous epoch, the
  commit secret, the PSK secret, the new GroupContext) -> :class:`EpochKeySchedule` with the joiner and welcome
  secrets (for building the Welcome) and the new :class:`EpochSecrets`;
* a new member from a Welcome: :func:`welcome_secret` (to decrypt the GroupInfo), then
  :func:`epoch_secrets_from_joiner` with the GroupInfo's GroupContext;
* a new group (RFC 9420 section 11): :func:`advance_epoch` with a random ``init_secret``, ``commit_secret =``
  :func:`zero_secret` and no PSKs;
* an external commit: :func:`external_init_send` (joiner) / :func:`external_init_receive` (members) give the
  ``init_secret`` that replaces the previous epoch's.

The epoch secret itself is never kept. :class:`EpochSecrets` serialises with :meth:`EpochSecrets.to_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from .codec import Reader, Writer, encode_varint
from .crypto import CipherSuite, HPKEPrivateKey, RandomSource, derive_secret, expand_with_label
from .errors import LocalMLSError
from .messages.group_info import GroupContext
from .tree.secret_tree import DEFAULT_RATCHET_CONFIG, RatchetConfig, SecretTree

__all__ = [
    "EXTERNAL_INIT_EXPORT_LABEL",
    "EpochKeySchedule",
    "EpochSecrets",
    "advance_epoch",
    "epoch_secrets_from_joiner",
    "external_init_receive",
    "external_init_send",
    "joiner_secret",
    "mls_exporter",
    "welcome_secret",
    "zero_secret",
]

EXTERNAL_INIT_EXPORT_LABEL = b"MLS 1.0 external init secret"

# field name -> DeriveSecret label (RFC 9420 table 4), in wire order
_EPOCH_LABELS: tuple[tuple[str, str], ...] = (
    ("sender_data_secret", "sender data"),
    ("encryption_secret", "encryption"),
    ("exporter_secret", "exporter"),
    ("external_secret", "external"),
    ("confirmation_key", "confirm"),
    ("membership_key", "membership"),
    ("resumption_psk", "resumption"),
    ("epoch_authenticator", "authentication"),
    ("init_secret", "init"),
)


def _context_bytes(group_context: GroupContext | bytes) -> bytes:
    if isinstance(group_context, bytes):
        return group_context
    w = Writer()
    group_context.encode(w)
    return w.getvalue()


def zero_secret(suite: CipherSuite) -> bytes:
    """``Nh`` zero bytes: the commit secret of a commit without path and of epoch 0, and the empty psk_secret."""
    return bytes(suite.hash_len)


def mls_exporter(
    suite: CipherSuite, exporter_secret: bytes, label: str | bytes, context: bytes, length: int
) -> bytes:
    """``MLS-Exporter(label, context, length) = ExpandWithLabel(DeriveSecret(exporter_secret, label),
    "exported", Hash(context), length)``. ``label`` may be bytes (the test vectors use binary labels)."""
    label_bytes = label.encode() if isinstance(label, str) else label
    full = b"MLS 1.0 " + label_bytes
    nh = suite.hash_len
    info = nh.to_bytes(2, "big") + encode_varint(len(full)) + full + b"\x00"
    derived = suite.expand(exporter_secret, info, nh)
    return expand_with_label(suite, derived, "exported", suite.hash(context), length)


@dataclass(frozen=True, slots=True, repr=False)
class EpochSecrets:
    """The secrets of one epoch derived from its epoch secret. ``init_secret`` is the *next* epoch's input.

    ``repr`` never shows secrets.
    """

    sender_data_secret: bytes
    encryption_secret: bytes
    exporter_secret: bytes
    external_secret: bytes
    confirmation_key: bytes
    membership_key: bytes
    resumption_psk: bytes
    epoch_authenticator: bytes
    init_secret: bytes

    def __repr__(self) -> str:
        return f"<EpochSecrets {len(self.init_secret)}-byte secrets>"

    @classmethod
    def from_epoch_secret(cls, suite: CipherSuite, epoch_secret: bytes) -> Self:
        return cls(*(derive_secret(suite, epoch_secret, label) for _, label in _EPOCH_LABELS))

    # --- derived values -----------------------------------------------------------------------------------
    def exporter(self, suite: CipherSuite, label: str | bytes, context: bytes, length: int) -> bytes:
        """:func:`mls_exporter` with this epoch's exporter secret."""
        return mls_exporter(suite, self.exporter_secret, label, context, length)

    def external_private_key(self, suite: CipherSuite) -> HPKEPrivateKey:
        """``KEM.DeriveKeyPair(external_secret)``: the key external joiners encrypt to."""
        return suite.hpke_derive_key_pair(self.external_secret)

    def external_pub(self, suite: CipherSuite) -> bytes:
        """The public key of the ``external_pub`` GroupInfo extension."""
        return self.external_private_key(suite).public_bytes()

    def secret_tree(
        self, suite: CipherSuite, n_leaves: int, config: RatchetConfig = DEFAULT_RATCHET_CONFIG
    ) -> SecretTree:
        """A fresh secret tree for this epoch (``n_leaves`` = leaf count of the epoch's ratchet tree)."""
        return SecretTree(suite, self.encryption_secret, n_leaves, config)

    # --- persistence ----------------------------------------------------------------------------------------
    def encode(self, w: Writer) -> None:
        """``struct { opaque <each field><V>; } EpochSecrets`` in declaration order."""
        for name, _ in _EPOCH_LABELS:
            w.opaque_v(getattr(self, name))

    @classmethod
    def decode(cls, r: Reader) -> Self:
        with r.structure("EpochSecrets"):
            start = r.pos
            values = [r.opaque_v() for _ in _EPOCH_LABELS]
            if len({len(v) for v in values}) != 1 or not values[0]:
                raise r.error("epoch secrets must all have the same non-zero length", start)
            return cls(*values)

    def to_bytes(self) -> bytes:
        w = Writer()
        self.encode(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        r = Reader(data, "EpochSecrets")
        value = cls.decode(r)
        r.expect_end()
        return value


@dataclass(frozen=True, slots=True, repr=False)
class EpochKeySchedule:
    """Result of :func:`advance_epoch`: ``joiner_secret`` and ``welcome_secret`` serve the Welcome for this
    epoch and should be dropped once it is built; ``secrets`` are kept for the epoch."""

    joiner_secret: bytes
    welcome_secret: bytes
    secrets: EpochSecrets

    def __repr__(self) -> str:
        return "<EpochKeySchedule>"


def _check(suite: CipherSuite, name: str, value: bytes) -> None:
    if len(value) != suite.hash_len:
        raise LocalMLSError(f"{name} must be {suite.hash_len} bytes, got {len(value)}")


def joiner_secret(
    suite: CipherSuite, init_secret: bytes, commit_secret: bytes, group_context: GroupContext | bytes
) -> bytes:
    """``ExpandWithLabel(KDF.Extract(init_secret, commit_secret), "joiner", GroupContext_[n], Nh)``."""
    _check(suite, "init_secret", init_secret)
    _check(suite, "commit_secret", commit_secret)
    prk = suite.extract(init_secret, commit_secret)
    return expand_with_label(suite, prk, "joiner", _context_bytes(group_context), suite.hash_len)


def _member_secret(suite: CipherSuite, joiner: bytes, psk_secret: bytes | None) -> bytes:
    _check(suite, "joiner_secret", joiner)
    if psk_secret is None:
        psk_secret = bytes(suite.hash_len)
    _check(suite, "psk_secret", psk_secret)
    return suite.extract(joiner, psk_secret)


def welcome_secret(suite: CipherSuite, joiner_secret: bytes, psk_secret: bytes | None) -> bytes:
    """``DeriveSecret(KDF.Extract(joiner_secret, psk_secret), "welcome")``; ``None`` = no PSKs (zero vector)."""
    return derive_secret(suite, _member_secret(suite, joiner_secret, psk_secret), "welcome")


def _epoch_from_member(
    suite: CipherSuite, member: bytes, group_context: GroupContext | bytes
) -> EpochSecrets:
    epoch_secret = expand_with_label(suite, member, "epoch", _context_bytes(group_context), suite.hash_len)
    return EpochSecrets.from_epoch_secret(suite, epoch_secret)


def epoch_secrets_from_joiner(
    suite: CipherSuite, joiner_secret: bytes, psk_secret: bytes | None, group_context: GroupContext | bytes
) -> EpochSecrets:
    """A new member's epoch secrets from the Welcome's joiner secret and the GroupInfo's GroupContext."""
    return _epoch_from_member(suite, _member_secret(suite, joiner_secret, psk_secret), group_context)


def advance_epoch(
    suite: CipherSuite,
    init_secret: bytes,
    commit_secret: bytes,
    group_context: GroupContext | bytes,
    psk_secret: bytes | None = None,
) -> EpochKeySchedule:
    """Run the key schedule into the epoch whose GroupContext is ``group_context`` (already holding the new
    epoch number, tree hash and confirmed transcript hash)."""
    context = _context_bytes(group_context)
    joiner = joiner_secret(suite, init_secret, commit_secret, context)
    member = _member_secret(suite, joiner, psk_secret)
    return EpochKeySchedule(
        joiner, derive_secret(suite, member, "welcome"), _epoch_from_member(suite, member, context)
    )


def external_init_send(suite: CipherSuite, external_pub: bytes, rng: RandomSource) -> tuple[bytes, bytes]:
    """The external joiner's side of ExternalInit: ``(kem_output, init_secret)``. ``kem_output`` goes in the
    ExternalInit proposal; ``init_secret`` replaces the previous epoch's in :func:`advance_epoch`."""
    return suite.hpke_send_export(external_pub, b"", EXTERNAL_INIT_EXPORT_LABEL, suite.hash_len, rng)


def external_init_receive(
    suite: CipherSuite, external_private_key: HPKEPrivateKey, kem_output: bytes
) -> bytes:
    """The members' side: the ``init_secret`` from an ExternalInit ``kem_output`` and the previous epoch's
    external key pair (:meth:`EpochSecrets.external_private_key`). :class:`DecryptError` on a bad kem_output."""
    return suite.hpke_receive_export(
        external_private_key, kem_output, b"", EXTERNAL_INIT_EXPORT_LABEL, suite.hash_len
    )
