"""Builders of the payloads tests publish: XMTP key packages and MLS group messages (real bytes, real keys)."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass

from pyxmtp.conversations.credential import build_credential
from pyxmtp.mls.codec import encode
from pyxmtp.mls.constants import ContentType, LeafNodeSource
from pyxmtp.mls.crypto import get_suite, sign_with_label
from pyxmtp.mls.crypto.keys import SignaturePrivateKey
from pyxmtp.mls.framing.content import FramedContent, FramedContentAuthData, Sender
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, PublicMessage
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.extensions import ApplicationId, Extension
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import Proposal, Remove
from pyxmtp.mls.tree.nodes import Capabilities, LeafNode, Lifetime

SUITE = get_suite(3)
INBOX_ID = "ab" * 32
#: Capabilities as libxmtp 1.10.0 advertises them (protocol reference, section 4.1).
XMTP_CAPABILITIES = Capabilities(
    versions=(1,),
    cipher_suites=(3,),
    extensions=(0x000A, 0x0001, 0xFF02, 0xFF00, 0xFF01, 0xFF03, 0xFF04, 0xF000),
    proposals=(7,),
    credentials=(1,),
)
XMTP_KP_EXTENSIONS = (
    Extension(0x000A, b""),
    Extension(0xFF04, bytes.fromhex("0a0103")),
    Extension(0xFF03, b"\x0a\x04test\x10\x02"),
)


@dataclass
class KeyPackageSpec:
    """Every field of a key package a test may want to break; :meth:`build` signs what it describes."""

    inbox_id: str = INBOX_ID
    signer: SignaturePrivateKey = dataclasses.field(
        default_factory=lambda: SUITE.generate_signature_key(os.urandom)
    )
    version: int = 1
    cipher_suite: int = 3
    init_key: bytes | None = None
    encryption_key: bytes | None = None
    credential: Credential | None = None
    capabilities: Capabilities = XMTP_CAPABILITIES
    source: LeafNodeSource = LeafNodeSource.key_package
    not_before: int | None = None
    not_after: int | None = None
    kp_extensions: tuple[Extension, ...] = XMTP_KP_EXTENSIONS
    leaf_extensions: tuple[Extension, ...] | None = None
    leaf_signer: SignaturePrivateKey | None = None  # signs the leaf instead of ``signer``
    kp_signer: SignaturePrivateKey | None = None  # signs the key package instead of ``signer``
    leaf_label: str = "LeafNodeTBS"
    kp_label: str = "KeyPackageTBS"

    @property
    def installation_key(self) -> bytes:
        return self.signer.public_bytes()

    def build(self) -> KeyPackage:
        now = int(time.time())
        init_key = self.init_key or SUITE.hpke_generate_key_pair(os.urandom).public_bytes()
        enc_key = self.encryption_key or SUITE.hpke_generate_key_pair(os.urandom).public_bytes()
        credential = self.credential or build_credential(self.inbox_id)
        lifetime = Lifetime(
            now - 3600 if self.not_before is None else self.not_before,
            now + 7_257_600 if self.not_after is None else self.not_after,
        )
        leaf_exts = self.leaf_extensions
        if leaf_exts is None:
            leaf_exts = (ApplicationId(self.inbox_id.encode()).to_extension(),)
        unsigned = LeafNode(
            enc_key,
            self.installation_key,
            credential,
            self.capabilities,
            self.source,
            lifetime if self.source == LeafNodeSource.key_package else None,
            b"" if self.source == LeafNodeSource.commit else None,
            leaf_exts,
            b"",
        )
        tbs = unsigned.tbs(b"group", 0)
        leaf = dataclasses.replace(
            unsigned, signature=sign_with_label(SUITE, self.leaf_signer or self.signer, self.leaf_label, tbs)
        )
        kp = KeyPackage(self.version, self.cipher_suite, init_key, leaf, self.kp_extensions, b"")
        signature = sign_with_label(SUITE, self.kp_signer or self.signer, self.kp_label, kp.tbs())
        return dataclasses.replace(kp, signature=signature)

    def to_bytes(self) -> bytes:
        return encode(self.build())


def key_package(inbox_id: str = INBOX_ID) -> tuple[bytes, bytes]:
    """A valid XMTP key package: ``(tls bytes, installation key)``."""
    spec = KeyPackageSpec(inbox_id=inbox_id)
    return spec.to_bytes(), spec.installation_key


def private_message(
    group_id: bytes,
    content_type: ContentType = ContentType.application,
    payload: bytes | None = None,
    epoch: int = 1,
) -> bytes:
    """An MLSMessage(PrivateMessage) as libxmtp publishes (the ciphertext is random: nobody can check it)."""
    body = PrivateMessage(
        group_id, epoch, content_type, b"", os.urandom(16), payload if payload is not None else os.urandom(64)
    )
    return encode(MLSMessage(body))


def public_proposal(group_id: bytes) -> bytes:
    """An MLSMessage(PublicMessage) carrying a Remove proposal from leaf 0 (structure only)."""
    content = FramedContent(group_id, 1, Sender.member(0), b"", Proposal(Remove(1)))
    return encode(MLSMessage(PublicMessage(content, FramedContentAuthData(os.urandom(64)), os.urandom(32))))


def public_application(group_id: bytes) -> bytes:
    content = FramedContent(group_id, 1, Sender.member(0), b"", b"hello")
    return encode(MLSMessage(PublicMessage(content, FramedContentAuthData(os.urandom(64)), os.urandom(32))))


def key_package_message(kp: bytes) -> bytes:
    """A key package wrapped as an MLSMessage: parses, but is not a group message."""
    return b"\x00\x01\x00\x05" + kp
