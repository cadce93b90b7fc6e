"""Welcome encryption and GroupInfo signatures (RFC 9420 sections 12.4.3 and 12.4.3.1).

::

    welcome_key   = ExpandWithLabel(welcome_secret, "key", "", AEAD.Nk)
    welcome_nonce = ExpandWithLabel(welcome_secret, "nonce", "", AEAD.Nn)
    encrypted_group_info    = AEAD.Seal(welcome_key, welcome_nonce, "", GroupInfo)
    encrypted_group_secrets = EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets)
    GroupInfo.signature     = SignWithLabel(signer_key, "GroupInfoTBS", GroupInfoTBS)

Committer: :func:`sign_group_info`, then :func:`build_welcome` with the epoch's ``welcome_secret`` (from
:func:`~pyxmtp.mls.key_schedule.advance_epoch`) and one ``(KeyPackage, GroupSecrets)`` per new member.

Joiner: :func:`open_welcome` finds the entry for its KeyPackageRef, decrypts the GroupSecrets, resolves and
combines the PSKs, decrypts the GroupInfo, derives the epoch secrets and checks the GroupInfo confirmation tag.
It does NOT verify the GroupInfo signature, because the signer's key is in the ratchet tree (the
``ratchet_tree`` extension or out of band): the caller builds the tree, then calls :func:`verify_group_info`
with the signer leaf's signature key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .codec import Reader, Writer
from .crypto import (
    CipherSuite,
    HPKEPrivateKey,
    RandomSource,
    SignaturePrivateKey,
    decrypt_with_label,
    encrypt_with_label,
    expand_with_label,
    make_key_package_ref,
    sign_with_label,
    verify_with_label,
)
from .crypto.labels import encrypt_with_label_each
from .errors import MissingKeyError, ValidationError
from .framing.sender_data import one_shot_aead
from .key_schedule import EpochSecrets, epoch_secrets_from_joiner, welcome_secret
from .messages.commit import HPKECiphertext
from .messages.extensions import Extension
from .messages.group_info import GroupContext, GroupInfo
from .messages.key_package import KeyPackage
from .messages.welcome import EncryptedGroupSecrets, GroupSecrets, Welcome
from .psk import PSKLookup, psk_secret, resolve_psks, validate_psk_ids
from .transcript import verify_confirmation_tag

__all__ = [
    "OpenedWelcome",
    "build_welcome",
    "decrypt_group_info",
    "decrypt_group_secrets",
    "encrypt_group_info",
    "encrypt_group_secrets",
    "open_welcome",
    "sign_group_info",
    "verify_group_info",
    "welcome_key_nonce",
]

_WELCOME_LABEL = "Welcome"
_GROUP_INFO_LABEL = "GroupInfoTBS"


def _encode(value: GroupInfo | GroupSecrets | KeyPackage | GroupContext) -> bytes:
    w = Writer()
    value.encode(w)
    return w.getvalue()


def welcome_key_nonce(suite: CipherSuite, welcome_secret: bytes) -> tuple[bytes, bytes]:
    """``(welcome_key, welcome_nonce)``."""
    return (
        expand_with_label(suite, welcome_secret, "key", b"", suite.aead_key_len),
        expand_with_label(suite, welcome_secret, "nonce", b"", suite.aead_nonce_len),
    )


# --- GroupInfo ---------------------------------------------------------------------------------------------------
def sign_group_info(
    suite: CipherSuite,
    signer_key: SignaturePrivateKey,
    group_context: GroupContext,
    extensions: tuple[Extension, ...],
    confirmation_tag: bytes,
    signer: int,
) -> GroupInfo:
    """A GroupInfo signed by the member at leaf ``signer``."""
    unsigned = GroupInfo(group_context, extensions, confirmation_tag, signer, b"")
    signature = sign_with_label(suite, signer_key, _GROUP_INFO_LABEL, unsigned.tbs())
    return GroupInfo(group_context, extensions, confirmation_tag, signer, signature)


def verify_group_info(suite: CipherSuite, signer_public_key: bytes, group_info: GroupInfo) -> None:
    """Raise :class:`~pyxmtp.mls.errors.InvalidSignature` unless the GroupInfo signature verifies."""
    verify_with_label(suite, signer_public_key, _GROUP_INFO_LABEL, group_info.tbs(), group_info.signature)


def encrypt_group_info(suite: CipherSuite, welcome_secret: bytes, group_info: GroupInfo) -> bytes:
    """``encrypted_group_info``."""
    key, nonce = welcome_key_nonce(suite, welcome_secret)
    return one_shot_aead(suite).seal(key, nonce, b"", _encode(group_info))


def decrypt_group_info(suite: CipherSuite, welcome_secret: bytes, encrypted_group_info: bytes) -> GroupInfo:
    """The GroupInfo; :class:`DecryptError` / :class:`DecodeError` on failure."""
    key, nonce = welcome_key_nonce(suite, welcome_secret)
    data = one_shot_aead(suite).open(key, nonce, b"", encrypted_group_info)
    r = Reader(data, "GroupInfo")
    group_info = GroupInfo.decode(r)
    r.expect_end()
    return group_info


# --- GroupSecrets ------------------------------------------------------------------------------------------------
def encrypt_group_secrets(
    suite: CipherSuite,
    key_package: KeyPackage,
    group_secrets: GroupSecrets,
    encrypted_group_info: bytes,
    rng: RandomSource,
) -> EncryptedGroupSecrets:
    """The Welcome entry for one new member: GroupSecrets encrypted to the KeyPackage's ``init_key``,
    addressed by its KeyPackageRef."""
    kem_output, ciphertext = encrypt_with_label(
        suite, key_package.init_key, _WELCOME_LABEL, encrypted_group_info, _encode(group_secrets), rng
    )
    return EncryptedGroupSecrets(
        make_key_package_ref(suite, _encode(key_package)), HPKECiphertext(kem_output, ciphertext)
    )


def decrypt_group_secrets(
    suite: CipherSuite,
    init_private_key: HPKEPrivateKey,
    encrypted: EncryptedGroupSecrets,
    encrypted_group_info: bytes,
) -> GroupSecrets:
    """Decrypt one Welcome entry with the KeyPackage's init private key; :class:`DecryptError` /
    :class:`DecodeError` on failure."""
    ct = encrypted.encrypted_group_secrets
    data = decrypt_with_label(
        suite, init_private_key, _WELCOME_LABEL, encrypted_group_info, ct.kem_output, ct.ciphertext
    )
    r = Reader(data, "GroupSecrets")
    secrets = GroupSecrets.decode(r)
    r.expect_end()
    return secrets


# --- whole Welcome -----------------------------------------------------------------------------------------------
def build_welcome(
    suite: CipherSuite,
    welcome_secret: bytes,
    group_info: GroupInfo,
    recipients: Sequence[tuple[KeyPackage, GroupSecrets]],
    rng: RandomSource,
) -> Welcome:
    """A Welcome carrying the signed ``group_info`` to every ``(key_package, group_secrets)`` recipient."""
    encrypted_group_info = encrypt_group_info(suite, welcome_secret, group_info)
    sealed = encrypt_with_label_each(
        suite,
        _WELCOME_LABEL,
        encrypted_group_info,
        [(kp.init_key, _encode(secrets)) for kp, secrets in recipients],
        rng,
    )
    entries = tuple(
        EncryptedGroupSecrets(
            make_key_package_ref(suite, _encode(kp)), HPKECiphertext(kem_output, ciphertext)
        )
        for (kp, _), (kem_output, ciphertext) in zip(recipients, sealed, strict=True)
    )
    return Welcome(suite.id, entries, encrypted_group_info)


@dataclass(frozen=True, slots=True, repr=False)
class OpenedWelcome:
    """What a joiner gets from :func:`open_welcome`. ``group_info``'s signature is still unverified;
    ``group_secrets.path_secret`` (if any) seeds the joiner's TreeKEM private keys."""

    group_secrets: GroupSecrets
    group_info: GroupInfo
    psk_secret: bytes
    epoch_secrets: EpochSecrets

    def __repr__(self) -> str:
        gc = self.group_info.group_context
        return f"<OpenedWelcome group={gc.group_id.hex()[:16]} epoch={gc.epoch}>"


def open_welcome(
    suite: CipherSuite,
    welcome: Welcome,
    key_package_ref: bytes,
    init_private_key: HPKEPrivateKey,
    resolve_psk: PSKLookup | None = None,
) -> OpenedWelcome:
    """Decrypt a Welcome for the KeyPackage with reference ``key_package_ref`` and check the GroupInfo's
    confirmation tag. ``resolve_psk`` supplies PSK values named in the GroupSecrets.

    Raises :class:`ValidationError` (cipher suite mismatch, bad PSK ids), :class:`MissingKeyError` (no entry
    for this KeyPackage, unknown PSK), :class:`DecryptError`, :class:`DecodeError`,
    :class:`~pyxmtp.mls.transcript.InvalidConfirmationTag`.
    """
    if welcome.cipher_suite != suite.id:
        raise ValidationError(f"Welcome is for cipher suite {welcome.cipher_suite}, not {suite.id}")
    entry = welcome.secrets_for(key_package_ref)
    if entry is None:
        raise MissingKeyError(f"Welcome has no entry for KeyPackage {key_package_ref.hex()}")
    group_secrets = decrypt_group_secrets(suite, init_private_key, entry, welcome.encrypted_group_info)
    validate_psk_ids(suite, group_secrets.psks)
    if group_secrets.psks and resolve_psk is None:
        raise MissingKeyError(
            f"Welcome needs {len(group_secrets.psks)} pre-shared keys and no resolver was given"
        )
    psks = resolve_psks(group_secrets.psks, resolve_psk) if resolve_psk is not None else []
    psk = psk_secret(suite, psks)
    joiner = group_secrets.joiner_secret
    if len(joiner) != suite.hash_len:
        raise ValidationError(f"joiner_secret must be {suite.hash_len} bytes, got {len(joiner)}")
    group_info = decrypt_group_info(suite, welcome_secret(suite, joiner, psk), welcome.encrypted_group_info)
    context = group_info.group_context
    if context.cipher_suite != suite.id:
        raise ValidationError(f"GroupInfo is for cipher suite {context.cipher_suite}, not {suite.id}")
    secrets = epoch_secrets_from_joiner(suite, joiner, psk, _encode(context))
    verify_confirmation_tag(
        suite, secrets.confirmation_key, context.confirmed_transcript_hash, group_info.confirmation_tag
    )
    return OpenedWelcome(group_secrets, group_info, psk, secrets)
