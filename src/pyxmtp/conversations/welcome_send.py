"""Welcoming new installations: the ``WelcomeMessageInput``s for one commit's Welcome (sections 5.3-5.5).

Each new installation gets the Welcome wrapped as its key package asks (X-Wing to its 0xFF03 key, else
Curve25519 to its init key). When more than :data:`POINTER_THRESHOLD` of them can read welcome pointers (an
X-Wing wrapper key and ChaCha20-Poly1305 in their 0xFF04 list), as libxmtp does, the Welcome is published once,
encrypted under a fresh symmetric key at a random destination (the pointee), and each of those installations
gets only a small HPKE-wrapped pointer to it; the others still get a V1 welcome.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError as ProtobufDecodeError

from pyxmtp.mls.crypto.keys import RandomSource
from pyxmtp.mls.messages.extensions import find_extension
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.proto.mls.api.v1 import mls_pb2
from pyxmtp.proto.mls.message_contents import welcome_pointer_pb2

from .key_packages import WELCOME_POINTEE_ENCRYPTION_AEAD_TYPES, WELCOME_WRAPPER_ENCRYPTION
from .welcome_wrap import (
    SYMMETRIC_KEY,
    XWING,
    WrapperEncryption,
    recipient_wrapper,
    seal_pointee,
    wrap_welcome,
    wrap_welcome_pointer,
)

#: Pointers are used only when more than this many new installations can read them (libxmtp's threshold).
POINTER_THRESHOLD = 2
_CHACHA20_POLY1305 = welcome_pointer_pb2.WELCOME_POINTEE_ENCRYPTION_AEAD_TYPE_CHACHA20_POLY1305


def _wrapper(kp: KeyPackage) -> WrapperEncryption:
    ext = find_extension(kp.extensions, WELCOME_WRAPPER_ENCRYPTION)
    return recipient_wrapper(kp.init_key, None if ext is None else ext.extension_data)


def reads_pointers(kp: KeyPackage) -> bool:
    """Whether the key package's installation can follow a welcome pointer: it lists ChaCha20-Poly1305 for
    pointees (0xFF04) and has an X-Wing wrapper key (the only algorithm a pointer may be wrapped with)."""
    ext = find_extension(kp.extensions, WELCOME_POINTEE_ENCRYPTION_AEAD_TYPES)
    if ext is None or _wrapper(kp).algorithm != XWING:
        return False
    try:
        body = welcome_pointer_pb2.WelcomePointeeEncryptionAeadTypesExtension.FromString(ext.extension_data)
    except ProtobufDecodeError:
        return False
    return _CHACHA20_POLY1305 in body.supported_aead_types


def _v1(kp: KeyPackage, welcome: bytes, metadata: bytes, rng: RandomSource) -> mls_pb2.WelcomeMessageInput:
    wrapper = _wrapper(kp)
    data, sealed = wrap_welcome(welcome, metadata, wrapper.public_key, wrapper.algorithm, rng)
    return mls_pb2.WelcomeMessageInput(
        v1=mls_pb2.WelcomeMessageInput.V1(
            installation_key=kp.leaf_node.signature_key,
            data=data,
            hpke_public_key=wrapper.public_key,
            wrapper_algorithm=wrapper.algorithm,  # type: ignore[arg-type]
            welcome_metadata=sealed,
        )
    )


def welcome_inputs(
    welcome: bytes, commit_id: int, key_packages: Sequence[KeyPackage], rng: RandomSource
) -> list[mls_pb2.WelcomeMessageInput]:
    """What to send (in this order: a pointee goes first) so that every installation of ``key_packages`` can
    join from ``welcome`` (MLSMessage bytes) and read the group from the commit with node id ``commit_id``."""
    metadata = mls_pb2.WelcomeMetadata(message_cursor=commit_id).SerializeToString()
    pointed = [kp for kp in key_packages if reads_pointers(kp)]
    if len(pointed) <= POINTER_THRESHOLD:
        return [_v1(kp, welcome, metadata, rng) for kp in key_packages]
    pointer, data, sealed = seal_pointee(welcome, metadata, rng)
    out = [
        mls_pb2.WelcomeMessageInput(
            v1=mls_pb2.WelcomeMessageInput.V1(
                installation_key=pointer.destination,
                data=data,
                hpke_public_key=b"",
                wrapper_algorithm=SYMMETRIC_KEY,  # type: ignore[arg-type]
                welcome_metadata=sealed,
            )
        )
    ]
    for kp in key_packages:
        if kp not in pointed:
            out.append(_v1(kp, welcome, metadata, rng))
            continue
        wrapper = _wrapper(kp)
        out.append(
            mls_pb2.WelcomeMessageInput(
                welcome_pointer=mls_pb2.WelcomeMessageInput.WelcomePointer(
                    installation_key=kp.leaf_node.signature_key,
                    welcome_pointer=wrap_welcome_pointer(pointer, wrapper.public_key, XWING, rng),
                    hpke_public_key=wrapper.public_key,
                    wrapper_algorithm=XWING,  # type: ignore[arg-type]
                )
            )
        )
    return out
