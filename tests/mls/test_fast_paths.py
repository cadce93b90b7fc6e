"""The hot-path shortcuts compute exactly what the general code computes.

* HMAC built from two ``hashlib`` hashes (crypto/kdf.py) equals ``hmac.digest``, one key or several messages;
* :func:`protect_application` produces the bytes of ``authenticate`` + ``protect_private`` + ``encode``;
* :meth:`OpenedPrivateMessage.verify` accepts and refuses what :func:`verify_content` does, and its lazily
  built ``content`` is the AuthenticatedContent of the message;
* a decoded LeafNode's or KeyPackage's kept content bytes are its fresh encoding, and ``dataclasses.replace``
  drops them.

(The PrivateMessage fast parser is checked against the generic decoder in test_group_tamper.py.)
"""

from __future__ import annotations

import dataclasses
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxmtp.mls.codec import decode, encode
from pyxmtp.mls.constants import WireFormat
from pyxmtp.mls.crypto import get_suite
from pyxmtp.mls.crypto.kdf import make_hmac, make_hmac_each
from pyxmtp.mls.crypto.labels import decrypt_with_label, encrypt_with_label, encrypt_with_label_each
from pyxmtp.mls.errors import DecryptError, InvalidSignature
from pyxmtp.mls.framing.content import AuthenticatedContent, FramedContent, FramedContentAuthData, Sender
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage
from pyxmtp.mls.framing.protection import (
    authenticate,
    no_padding,
    pad_to_multiple,
    protect_application,
    protect_private,
    unprotect_private,
    verify_content,
)
from pyxmtp.mls.messages.group_info import GroupContext
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.tree.nodes import LeafNode
from pyxmtp.mls.tree.secret_tree import SecretTree
from pyxmtp.mls.vectors.messages import rebuilt
from tests.mls.helpers import InMemoryGroup, SeededRandom

PROPS = settings(max_examples=100, deadline=None)
EDDSA_SUITES = (1, 3, 4, 6)  # deterministic signatures: identical bytes from identical inputs


@PROPS
@given(
    hash_name=st.sampled_from(("sha256", "sha384", "sha512")),
    key=st.binary(max_size=300),
    messages=st.lists(st.binary(max_size=300), min_size=1, max_size=4),
)
def test_hmac_from_hashlib_equals_hmac_digest(hash_name: str, key: bytes, messages: list[bytes]) -> None:
    mac, mac_each = make_hmac(hash_name), make_hmac_each(hash_name)
    expected = [hmac.digest(key, m, hash_name) for m in messages]
    assert [mac(key, m) for m in messages] == expected
    assert mac_each(key, messages) == expected
    assert mac(bytearray(key), messages[0]) == expected[0]  # type: ignore[arg-type]  # any buffer, as hmac


@pytest.mark.parametrize("suite_id", [1, 2, 3, 4, 5, 6, 7])
def test_suites_mac_each_equals_mac(suite_id: int) -> None:
    suite = get_suite(suite_id)
    key = bytes(range(suite.hash_len))
    data = [b"", b"abc", bytes(200)]
    assert suite.mac_each_function()(key, data) == [suite.mac(key, d) for d in data]
    assert suite.mac_function()(key, b"abc") == hmac.digest(key, b"abc", f"sha{8 * suite.hash_len}")


@PROPS
@given(
    suite_id=st.sampled_from(EDDSA_SUITES),
    data=st.binary(max_size=2000),
    ad=st.binary(max_size=70),
    padding=st.sampled_from((0, 1, 32, 100)),
    leaf=st.integers(0, 7),
    epoch=st.integers(0, 2**64 - 1),
    seed=st.integers(0, 2**32),
)
def test_protect_application_equals_the_general_path(
    suite_id: int, data: bytes, ad: bytes, padding: int, leaf: int, epoch: int, seed: int
) -> None:
    suite = get_suite(suite_id)
    signer = suite.generate_signature_key(SeededRandom(seed))
    context = encode(GroupContext(1, suite_id, b"gid", epoch, b"t" * 8, b"c" * 8, ()))
    encryption_secret = SeededRandom(seed + 1)(suite.hash_len)
    sender_data_secret = SeededRandom(seed + 2)(suite.hash_len)
    policy = pad_to_multiple(padding) if padding else no_padding
    trees = [SecretTree(suite, encryption_secret, 8) for _ in range(2)]
    general = []
    for _ in range(2):  # two messages: generations 0 and 1
        framed = FramedContent(b"gid", epoch, Sender.member(leaf), ad, data)
        content = authenticate(suite, signer, WireFormat.private_message, framed, context)
        message = protect_private(suite, content, trees[0], sender_data_secret, SeededRandom(seed), policy)
        general.append(encode(MLSMessage(message)))
    fast = [
        protect_application(
            suite,
            signer,
            trees[1],
            sender_data_secret,
            SeededRandom(seed),
            group_id=b"gid",
            epoch=epoch,
            leaf_index=leaf,
            group_context=context,
            authenticated_data=ad,
            data=data,
            padding=policy,
        )
        for _ in range(2)
    ]
    assert fast == general
    assert trees[0].to_bytes() == trees[1].to_bytes()


def test_opened_message_verify_and_content_match_the_general_functions() -> None:
    net = InMemoryGroup(seed="fast paths")
    net.create("a")
    net.add("a", "b")
    a, b = net["a"], net["b"]
    state = b.state
    epoch = state.current
    for body in (b"application data", None):
        if body is None:  # a proposal: the general path inside verify()
            data = a.propose_remove(1, rng=net.rng, now=0)
        else:
            data = a.create_message(body, rng=net.rng, authenticated_data=b"ad")
        message = decode(MLSMessage, data).body
        assert isinstance(message, PrivateMessage)
        opened = unprotect_private(state.suite, message, epoch.secret_tree, epoch.secrets.sender_data_secret)
        content = opened.content
        assert content == AuthenticatedContent(
            WireFormat.private_message,
            FramedContent(
                message.group_id, message.epoch, Sender.member(0), message.authenticated_data, opened.body
            ),
            FramedContentAuthData(opened.signature) if body is not None else content.auth,
        )
        right = a.member(0)
        wrong = a.member(1)
        assert right is not None and wrong is not None
        for context in (epoch.context_bytes, epoch.context):
            opened.verify(state.suite, right.signature_key, context)
            verify_content(state.suite, right.signature_key, content, context)
            with pytest.raises(InvalidSignature):
                opened.verify(state.suite, wrong.signature_key, context)
            with pytest.raises(InvalidSignature):
                verify_content(state.suite, wrong.signature_key, content, context)
        other_context = dataclasses.replace(epoch.context, epoch=epoch.context.epoch + 1)
        with pytest.raises(InvalidSignature):
            opened.verify(state.suite, right.signature_key, other_context)
        opened.commit()


def test_a_decoded_leaf_keeps_its_fresh_encoding_and_replace_drops_it() -> None:
    net = InMemoryGroup(seed="leaf cache")
    net.create("a")
    net.add("a", "b", "c")
    net.update("b")  # a commit-source leaf (parent hash) besides key_package ones
    for leaf in net["a"].state.tree.to_nodes()[::2]:
        assert leaf is not None and isinstance(leaf.value, LeafNode)
        decoded = decode(LeafNode, encode(leaf.value))
        fresh = rebuilt(decoded)
        assert fresh == decoded
        assert decoded.content_bytes() == fresh.content_bytes()
        assert decoded.tbs(b"group", 3) == fresh.tbs(b"group", 3)
        assert encode(decoded) == encode(fresh)
        changed = dataclasses.replace(decoded, encryption_key=b"\x01" * 32)
        assert changed.content_bytes() != decoded.content_bytes()
        assert changed.content_bytes() == rebuilt(changed).content_bytes()


def test_a_key_package_keeps_its_fresh_encoding_and_replace_drops_it() -> None:
    net = InMemoryGroup(seed="key package cache")
    kp = net.key_package("x").key_package
    decoded = decode(KeyPackage, encode(kp))
    fresh = rebuilt(decoded)
    assert decoded.tbs() == fresh.tbs() == kp.tbs()
    assert encode(decoded) == encode(fresh) == encode(kp)
    changed = dataclasses.replace(decoded, init_key=b"\x02" * 32)
    assert changed.tbs() != decoded.tbs() and changed.tbs() == rebuilt(changed).tbs()


@pytest.mark.parametrize("suite_id", [1, 2, 3, 4, 5, 6, 7])
def test_sealing_many_under_one_context_opens_like_single_seals(suite_id: int) -> None:
    """encrypt_with_label_each (one EncryptContext, one HPKE key-schedule context for all recipients) gives
    ciphertexts that decrypt_with_label opens, interleaved with seals under other contexts."""
    suite = get_suite(suite_id)
    rng = SeededRandom(suite_id)
    keys = [suite.hpke_generate_key_pair(rng) for _ in range(3)]
    context = bytes(range(256)) * 40  # as large as an encrypted GroupInfo
    sealed = encrypt_with_label_each(
        suite, "Welcome", context, [(k.public_bytes(), b"secret %d" % i) for i, k in enumerate(keys)], rng
    )
    other = encrypt_with_label(suite, keys[0].public_bytes(), "Welcome", context[:-1], b"other", rng)
    for i, (key, (kem_output, ciphertext)) in enumerate(zip(keys, sealed, strict=True)):
        assert (
            decrypt_with_label(suite, key, "Welcome", bytes(context), kem_output, ciphertext)
            == b"secret %d" % i
        )
        with pytest.raises(DecryptError):
            decrypt_with_label(suite, key, "Welcome", context[:-1], kem_output, ciphertext)
    assert decrypt_with_label(suite, keys[0], "Welcome", context[:-1], *other) == b"other"
