"""welcome_inputs: V1 welcomes for small batches, a pointee plus pointers once more than two installations can
read pointers, and every recipient able to open its welcome with its own key."""

from __future__ import annotations

import os

from pyxmtp.conversations.key_packages import XMTP_CIPHER_SUITE, create_xmtp_key_package
from pyxmtp.conversations.welcome_send import POINTER_THRESHOLD, reads_pointers, welcome_inputs
from pyxmtp.conversations.welcome_wrap import (
    SYMMETRIC_KEY,
    WrapperKeyPair,
    generate_wrapper_key_pair,
    open_pointee,
    unwrap_welcome,
    unwrap_welcome_pointer,
)
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.key_packages import KeyPackageBundle
from pyxmtp.proto.mls.api.v1 import mls_pb2

NOW = 1_800_000_000
WELCOME = b"\x00\x01\x00\x03" + os.urandom(300)  # opaque to this layer


def recipient(xwing: bool) -> tuple[KeyPackageBundle, WrapperKeyPair | None]:
    signer = get_suite(XMTP_CIPHER_SUITE).generate_signature_key(os.urandom)
    wrapper = generate_wrapper_key_pair(os.urandom) if xwing else None
    bundle = create_xmtp_key_package(
        "ab" * 32,
        signer,
        rng=os.urandom,
        now=NOW,
        welcome_wrapper=None if wrapper is None else wrapper.extension(),
    )
    return bundle, wrapper


def opened(
    inputs: list[mls_pb2.WelcomeMessageInput], bundle: KeyPackageBundle, wrapper: WrapperKeyPair | None
) -> tuple[bytes, bytes]:
    """What the recipient of ``bundle`` reads from the batch (following a pointer to the pointee if need be)."""
    me = bundle.key_package.leaf_node.signature_key
    [mine] = [m for m in inputs if getattr(m, m.WhichOneof("version")).installation_key == me]
    key = wrapper.private_key if wrapper is not None else bundle.init_private_key
    if mine.WhichOneof("version") == "v1":
        return unwrap_welcome(mine.v1.data, mine.v1.welcome_metadata, key, mine.v1.wrapper_algorithm)
    pointer = unwrap_welcome_pointer(
        mine.welcome_pointer.welcome_pointer, key, mine.welcome_pointer.wrapper_algorithm
    )
    [pointee] = [
        m.v1
        for m in inputs
        if m.WhichOneof("version") == "v1" and m.v1.installation_key == pointer.destination
    ]
    assert pointee.wrapper_algorithm == SYMMETRIC_KEY and pointee.hpke_public_key == b""
    return open_pointee(pointer, pointee.data, pointee.welcome_metadata)


def test_up_to_the_threshold_everyone_gets_a_v1_welcome() -> None:
    people = [recipient(True) for _ in range(POINTER_THRESHOLD)] + [recipient(False)]
    inputs = welcome_inputs(WELCOME, 7, [b.key_package for b, _ in people], os.urandom)
    assert [m.WhichOneof("version") for m in inputs] == ["v1"] * len(people)
    metadata = mls_pb2.WelcomeMetadata(message_cursor=7).SerializeToString()
    for bundle, wrapper in people:
        assert opened(inputs, bundle, wrapper) == (WELCOME, metadata)


def test_above_it_a_pointee_first_then_pointers_and_v1_for_the_rest() -> None:
    capable = [recipient(True) for _ in range(POINTER_THRESHOLD + 1)]
    plain = recipient(False)
    assert all(reads_pointers(b.key_package) for b, _ in capable) and not reads_pointers(plain[0].key_package)
    inputs = welcome_inputs(WELCOME, 9, [b.key_package for b, _ in [*capable, plain]], os.urandom)
    assert [m.WhichOneof("version") for m in inputs] == ["v1"] + ["welcome_pointer"] * len(capable) + ["v1"]
    # a pointer is an X-Wing encapsulation (1120 bytes) and a ~100-byte sealed pointer, whatever the welcome's size
    assert all(len(m.welcome_pointer.welcome_pointer) < 1120 + 200 for m in inputs[1:-1])
    metadata = mls_pb2.WelcomeMetadata(message_cursor=9).SerializeToString()
    for bundle, wrapper in [*capable, plain]:
        assert opened(inputs, bundle, wrapper) == (WELCOME, metadata)
