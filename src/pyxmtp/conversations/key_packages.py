"""XMTP key packages: building our own (protocol reference, section 4.1) and validating others' (section 4.3).

Validation is what xmtp-node-go's validation service (libxmtp ``apps/mls_validation_service``) checks: the
bytes parse exactly as a TLS ``KeyPackage``; OpenMLS's key-package validation passes
(:func:`pyxmtp.mls.key_package_validation.validate_key_package`: both signatures, mls10, init key != encryption
key, extensions within the leaf capabilities, lifetime currently valid); and the credential is Basic holding an
``MlsCredential``. A client about to add a key package also holds its lifetime range to
:data:`MAX_KEY_PACKAGE_LIFETIME_RANGE` (RFC 9420 7.2; the node, as xmtp-node-go, does not). Not checked: that the
installation belongs to the inbox (the caller holds it against the inbox's identity log).

Building follows libxmtp 1.10.0 byte for byte in structure: suite 0x0003, a last-resort key package with the
welcome-pointee AEAD list (0xFF04) and, when the caller has a welcome-wrapper key, the 0xFF03 extension naming
it; the leaf carries ``application_id`` = the inbox id; the capabilities are the ones released clients
advertise; the lifetime is ``[now - 1 h, now + 84 days]``.
"""

from __future__ import annotations

from pyxmtp.mls.crypto.keys import RandomSource, SignaturePrivateKey
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.key_package_validation import VerifiedKeyPackage, validate_key_package_bytes
from pyxmtp.mls.key_packages import KeyPackageBundle, create_key_package
from pyxmtp.mls.messages.extensions import ApplicationId, Extension, LastResort
from pyxmtp.mls.tree.nodes import Capabilities, Lifetime

from .credential import build_credential, parse_credential

#: The only cipher suite XMTP uses: MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519.
XMTP_CIPHER_SUITE = 0x0003

# XMTP's extension and proposal types (protocol reference, sections 4.1 and 6.2)
APPLICATION_ID = 0x0001
REQUIRED_CAPABILITIES = 0x0003
LAST_RESORT = 0x000A
IMMUTABLE_METADATA = 0xF000
GROUP_MUTABLE_METADATA = 0xFF00
GROUP_MEMBERSHIP = 0xFF01
GROUP_MUTABLE_PERMISSIONS = 0xFF02
WELCOME_WRAPPER_ENCRYPTION = 0xFF03
WELCOME_POINTEE_ENCRYPTION_AEAD_TYPES = 0xFF04
GROUP_CONTEXT_EXTENSIONS_PROPOSAL = 0x0007

#: What our leaves advertise: the legacy-group set of libxmtp 1.9.1 / 1.10.0 (no 0x0006 / 0x0008, which only
#: migrated groups need; section 6.4 says a client that omits them gets legacy groups).
XMTP_CAPABILITIES = Capabilities(
    versions=(1,),
    cipher_suites=(XMTP_CIPHER_SUITE,),
    extensions=(
        LAST_RESORT,
        APPLICATION_ID,
        GROUP_MUTABLE_PERMISSIONS,
        GROUP_MUTABLE_METADATA,
        GROUP_MEMBERSHIP,
        WELCOME_WRAPPER_ENCRYPTION,
        WELCOME_POINTEE_ENCRYPTION_AEAD_TYPES,
        IMMUTABLE_METADATA,
    ),
    proposals=(GROUP_CONTEXT_EXTENSIONS_PROPOSAL,),
    credentials=(1,),
)

#: OpenMLS's default lifetime, which libxmtp keeps: 3 x 28 days, valid from an hour before creation.
KEY_PACKAGE_LIFETIME = 3 * 28 * 24 * 3600
KEY_PACKAGE_MARGIN = 3600
#: The longest lifetime range of a key package we add (RFC 9420 7.2): libxmtp's own, 84 days and an hour
#: (OpenMLS's ``MAX_LEAF_NODE_LIFETIME_RANGE_SECONDS``).
MAX_KEY_PACKAGE_LIFETIME_RANGE = KEY_PACKAGE_LIFETIME + KEY_PACKAGE_MARGIN

#: ``WelcomePointeeEncryptionAeadTypesExtension { supported_aead_types: [CHACHA20_POLY1305] }``.
_POINTEE_AEADS = bytes.fromhex("0a0103")


def create_xmtp_key_package(
    inbox_id: str,
    signer: SignaturePrivateKey,
    *,
    rng: RandomSource,
    now: int,
    welcome_wrapper: Extension | None = None,
) -> KeyPackageBundle:
    """A last-resort key package for our installation (``signer``'s key) in ``inbox_id``, valid from ``now``.

    ``welcome_wrapper`` (the 0xFF03 extension, see :class:`~.welcome_wrap.WrapperKeyPair`) asks senders to wrap welcomes to that key;
    without it they wrap to the key package's init key (Curve25519).
    """
    extensions = [
        LastResort().to_extension(),
        Extension(WELCOME_POINTEE_ENCRYPTION_AEAD_TYPES, _POINTEE_AEADS),
    ]
    if welcome_wrapper is not None:
        extensions.append(welcome_wrapper)
    return create_key_package(
        get_suite(XMTP_CIPHER_SUITE),
        signer,
        build_credential(inbox_id),
        rng=rng,
        now=now,
        lifetime=Lifetime(max(0, now - KEY_PACKAGE_MARGIN), now + KEY_PACKAGE_LIFETIME),
        capabilities=XMTP_CAPABILITIES,
        extensions=tuple(extensions),
        leaf_extensions=(ApplicationId(inbox_id.encode()).to_extension(),),
    )


def validate_xmtp_key_package(
    tls_bytes: bytes, now: int, *, max_lifetime_range: int | None = MAX_KEY_PACKAGE_LIFETIME_RANGE
) -> tuple[str, bytes, VerifiedKeyPackage]:
    """``(inbox_id, installation_key, verified)`` for a key package received at Unix time ``now`` (seconds), its
    lifetime range at most ``max_lifetime_range`` seconds (None: any, as the node).

    ``installation_key`` is the leaf signature key. Raises :class:`pyxmtp.mls.errors.DecodeError`,
    :class:`~pyxmtp.mls.key_package_validation.KeyPackageValidationError`,
    :class:`~pyxmtp.mls.key_package_validation.KeyPackageSignatureError` or
    :class:`~pyxmtp.conversations.credential.CredentialError` (all :class:`pyxmtp.mls.errors.RemoteMLSError`).
    """
    verified = validate_key_package_bytes(tls_bytes, now=now, max_lifetime_range=max_lifetime_range)
    inbox_id = parse_credential(verified.credential)
    return inbox_id, verified.signature_key, verified
