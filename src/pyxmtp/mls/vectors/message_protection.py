"""message-protection.json: unprotect the given PublicMessages and PrivateMessages (proposal, commit,
application) and protect the same content ourselves, then unprotect it (RFC 9420 sections 6.1-6.3;
test-vectors.md "Message Protection").

The group has two leaves; the sender is leaf 1 and signs with ``signature_priv``. The GroupContext is built
from the case with no extensions. Each given PrivateMessage is read with its own fresh secret tree of the
case's ``encryption_secret`` (the proposal and the commit both use handshake generation 0); ours are sent from
a fresh tree and read with another. Every unprotected message must carry the case's content, verify under
``signature_pub``, and be rejected (leaving the secret tree unchanged) after a tampered byte.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ..codec import decode, encode
from ..constants import ProtocolVersion, SenderType, WireFormat
from ..crypto import CipherSuite, get_suite
from ..errors import MLSError
from ..framing.content import AuthenticatedContent, ContentBody, FramedContent, Sender
from ..framing.messages import MLSMessage, PrivateMessage, PublicMessage
from ..framing.protection import (
    authenticate,
    no_padding,
    pad_to_multiple,
    protect_private,
    protect_public,
    unprotect_private,
    unprotect_public,
    verify_content,
)
from ..messages.commit import Commit
from ..messages.group_info import GroupContext
from ..messages.proposals import Proposal
from ..tree.secret_tree import SecretTree
from . import Case, VectorMismatch, expect

_SENDER_LEAF = 1
_N_LEAVES = 2


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


class _Epoch:
    def __init__(self, case: Case, suite: CipherSuite) -> None:
        self.suite = suite
        self.context = encode(
            GroupContext(
                ProtocolVersion.mls10,
                suite.id,
                _h(case["group_id"]),
                case["epoch"],
                _h(case["tree_hash"]),
                _h(case["confirmed_transcript_hash"]),
                (),
            )
        )
        self.group_id = _h(case["group_id"])
        self.epoch = case["epoch"]
        self.encryption_secret = _h(case["encryption_secret"])
        self.sender_data_secret = _h(case["sender_data_secret"])
        self.membership_key = _h(case["membership_key"])
        self.signature_pub = _h(case["signature_pub"])
        self.signature_key = suite.signature_key_from_bytes(_h(case["signature_priv"]))

    def tree(self) -> SecretTree:
        return SecretTree(self.suite, self.encryption_secret, _N_LEAVES)

    def check_content(self, where: str, content: AuthenticatedContent, body: ContentBody) -> None:
        framed = content.content
        expect(f"{where} group_id", framed.group_id, self.group_id)
        expect(f"{where} epoch", framed.epoch, self.epoch)
        expect(f"{where} sender", framed.sender, Sender(SenderType.member, _SENDER_LEAF))
        expect(f"{where} body", framed.body, body)
        verify_content(self.suite, self.signature_pub, content, self.context)

    def read_public(self, where: str, data: bytes, body: ContentBody) -> AuthenticatedContent:
        message = decode(MLSMessage, data).body
        if not isinstance(message, PublicMessage):
            raise VectorMismatch(f"{where}: not a PublicMessage")
        content = unprotect_public(self.suite, message, self.context, self.membership_key)
        self.check_content(where, content, body)
        self.expect_rejected(where, data, lambda m: self.read_public_raw(m))
        return content

    def read_public_raw(self, data: bytes) -> None:
        message = decode(MLSMessage, data).body
        assert isinstance(message, PublicMessage)
        content = unprotect_public(self.suite, message, self.context, self.membership_key)
        verify_content(self.suite, self.signature_pub, content, self.context)

    def read_private(
        self, where: str, data: bytes, body: ContentBody, tree: SecretTree
    ) -> AuthenticatedContent:
        message = decode(MLSMessage, data).body
        if not isinstance(message, PrivateMessage):
            raise VectorMismatch(f"{where}: not a PrivateMessage")
        before = tree.to_bytes()
        self.expect_rejected(where, data, lambda m: self.read_private_raw(m, tree))
        expect(f"{where} tree unchanged after a rejected message", tree.to_bytes(), before)
        opened = unprotect_private(self.suite, message, tree, self.sender_data_secret)
        expect(f"{where} leaf", opened.leaf_index, _SENDER_LEAF)
        self.check_content(where, opened.content, body)
        opened.commit()
        return opened.content

    def read_private_raw(self, data: bytes, tree: SecretTree) -> None:
        message = decode(MLSMessage, data).body
        assert isinstance(message, PrivateMessage)
        opened = unprotect_private(self.suite, message, tree, self.sender_data_secret)
        verify_content(self.suite, self.signature_pub, opened.content, self.context)

    def expect_rejected(self, where: str, data: bytes, read: Callable[[bytes], None]) -> None:
        """Flip one byte near the end (inside the MAC, signature or ciphertext) and expect an MLSError."""
        tampered = bytearray(data)
        tampered[-3] ^= 0x40
        try:
            read(bytes(tampered))
        except MLSError:
            return
        raise VectorMismatch(f"{where}: a tampered message was accepted")


def check(case: Case) -> None:
    suite = get_suite(case["cipher_suite"])
    ep = _Epoch(case, suite)
    rng = random.Random(case["cipher_suite"]).randbytes
    bodies: tuple[tuple[str, ContentBody], ...] = (
        ("proposal", decode(Proposal, _h(case["proposal"]))),
        ("commit", decode(Commit, _h(case["commit"]))),
        ("application", _h(case["application"])),
    )
    for name, body in bodies:
        if name != "application":
            ep.read_public(f"{name}_pub", _h(case[f"{name}_pub"]), body)
        given = ep.read_private(f"{name}_priv", _h(case[f"{name}_priv"]), body, ep.tree())

        # protect the same content ourselves, then unprotect it
        framed = FramedContent(ep.group_id, ep.epoch, Sender.member(_SENDER_LEAF), b"our own", body)
        tag = given.auth.confirmation_tag
        if name != "application":
            ours = authenticate(suite, ep.signature_key, WireFormat.public_message, framed, ep.context, tag)
            message = protect_public(suite, ours, ep.context, ep.membership_key)
            got = ep.read_public(f"{name} (our PublicMessage)", encode(MLSMessage(message)), body)
            expect(f"{name} (our PublicMessage) auth", got.auth, ours.auth)
        ours = authenticate(suite, ep.signature_key, WireFormat.private_message, framed, ep.context, tag)
        sender, receiver = ep.tree(), ep.tree()
        for padding in (no_padding, pad_to_multiple(32)):
            private = protect_private(suite, ours, sender, ep.sender_data_secret, rng, padding)
            got = ep.read_private(f"{name} (our PrivateMessage)", encode(MLSMessage(private)), body, receiver)
            expect(f"{name} (our PrivateMessage) auth", got.auth, ours.auth)
            expect(
                f"{name} (our PrivateMessage) authenticated_data", got.content.authenticated_data, b"our own"
            )
