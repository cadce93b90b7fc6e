"""Creating key packages: they validate, serialize with their private keys, and refuse misuse."""

from __future__ import annotations

import pytest

from pyxmtp.mls.codec import encode
from pyxmtp.mls.crypto import get_suite, make_key_package_ref
from pyxmtp.mls.errors import LocalMLSError
from pyxmtp.mls.group import Group
from pyxmtp.mls.key_package_validation import KeyPackageValidationError, validate_key_package
from pyxmtp.mls.key_packages import DEFAULT_LIFETIME, LIFETIME_MARGIN, KeyPackageBundle, create_key_package
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.extensions import Extension, LastResort
from pyxmtp.mls.tree.nodes import Capabilities, Lifetime
from tests.mls.helpers import SeededRandom

NOW = 1_700_000_000


@pytest.mark.parametrize("suite_id", [1, 2, 3, 4, 5, 6, 7])
def test_created_key_packages_validate(suite_id: int) -> None:
    suite = get_suite(suite_id)
    rng = SeededRandom(suite_id)
    signer = suite.generate_signature_key(rng)
    bundle = create_key_package(suite_id, signer, Credential.basic(b"me"), rng=rng, now=NOW)
    kp = bundle.key_package
    verified = validate_key_package(kp, now=NOW)
    assert verified.signature_key == signer.public_bytes()
    assert kp.init_key == bundle.init_private_key.public_bytes()
    assert kp.leaf_node.encryption_key == bundle.encryption_private_key.public_bytes()
    assert verified.lifetime == Lifetime(NOW - LIFETIME_MARGIN, NOW + DEFAULT_LIFETIME)
    assert bundle.reference() == make_key_package_ref(suite, encode(kp))
    restored = KeyPackageBundle.from_bytes(bundle.to_bytes())
    assert restored == bundle


def test_lifetime_capabilities_and_extensions_are_the_callers() -> None:
    suite = get_suite(3)
    rng = SeededRandom(1)
    signer = suite.generate_signature_key(rng)
    caps = Capabilities((1,), (3, 1), (0xFF00, 0x000A), (), (1,))
    bundle = create_key_package(
        3,
        signer,
        Credential.basic(b"me"),
        rng=rng,
        now=NOW,
        lifetime=Lifetime(NOW, NOW + 60),
        capabilities=caps,
        extensions=(LastResort().to_extension(),),
        leaf_extensions=(Extension(0xFF00, b"leaf"),),
    )
    kp = bundle.key_package
    assert kp.leaf_node.capabilities == caps
    assert kp.leaf_node.extensions == (Extension(0xFF00, b"leaf"),)
    validate_key_package(kp, now=NOW + 59)
    with pytest.raises(KeyPackageValidationError):
        validate_key_package(kp, now=NOW + 60)


def test_default_capabilities_list_the_non_default_extension_types() -> None:
    suite = get_suite(3)
    rng = SeededRandom(2)
    bundle = create_key_package(
        suite,
        suite.generate_signature_key(rng),
        Credential.basic(b"x"),
        rng=rng,
        now=NOW,
        extensions=(LastResort().to_extension(),),
    )
    assert bundle.key_package.leaf_node.capabilities.extensions == (0x000A,)
    validate_key_package(bundle.key_package, now=NOW)


def test_misuse_is_a_local_error() -> None:
    rng = SeededRandom(3)
    ed25519 = get_suite(3).generate_signature_key(rng)
    with pytest.raises(LocalMLSError):
        create_key_package(2, ed25519, Credential.basic(b"x"), rng=rng, now=NOW)
    ext = Extension(0xFF00, b"")
    with pytest.raises(LocalMLSError):
        create_key_package(3, ed25519, Credential.basic(b"x"), rng=rng, now=NOW, leaf_extensions=(ext, ext))


def test_grease_key_package_extensions_are_ignored_like_unknown_ones() -> None:
    """mls-rs adds GREASE extensions (RFC 9420 13.5) to its key packages without listing them in the leaf's
    capabilities: such a key package validates and can be added; an unknown non-GREASE type that the
    capabilities do not list is still refused."""
    suite = get_suite(3)
    rng = SeededRandom(2)
    signer = suite.generate_signature_key(rng)
    caps = Capabilities((1,), (3,), (), (), (1,))

    def made(extension_type: int) -> KeyPackageBundle:
        extensions = (Extension(extension_type, b"\x00"),)
        return create_key_package(
            3, signer, Credential.basic(b"me"), rng=rng, now=NOW, capabilities=caps, extensions=extensions
        )

    validate_key_package(made(0x5A5A).key_package, now=NOW)
    with pytest.raises(KeyPackageValidationError, match="capabilities"):
        validate_key_package(made(0xFF00).key_package, now=NOW)
    group = Group.create(3, suite.generate_signature_key(rng), Credential.basic(b"a"), rng=rng, now=NOW)
    staged = group.commit(add=[made(0x5A5A).key_package], rng=rng, now=NOW)
    assert len(staged.added) == 1
