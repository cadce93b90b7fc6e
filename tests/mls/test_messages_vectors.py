"""The wire structures against the official vectors: messages.json byte-exactly, every structure found in the
other vector files round-trips, and the TBS / TBM / transcript-hash inputs built here reproduce the vectors'
signatures, membership tags and transcript hashes (checked with hashlib, hmac and ``cryptography`` directly,
independently of :mod:`pyxmtp.mls.crypto`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pyxmtp.mls.codec import Writer, decode, encode
from pyxmtp.mls.constants import LeafNodeSource
from pyxmtp.mls.framing.content import AuthenticatedContent
from pyxmtp.mls.framing.messages import MLSMessage, PublicMessage
from pyxmtp.mls.messages.commit import UpdatePath
from pyxmtp.mls.messages.group_info import GroupContext, interim_transcript_hash_input
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import Proposal
from pyxmtp.mls.tree.nodes import LeafNode, decode_ratchet_tree, encode_ratchet_tree
from pyxmtp.mls.vectors.messages import DECODERS, rebuilt
from tests.conftest import require_vectors

Case = dict[str, Any]


def cases(name: str) -> list[Case]:
    path: Path = require_vectors() / f"{name}.json"
    with open(path, encoding="utf-8") as f:
        data: list[Case] = json.load(f)
    return data


# cipher suite -> (hash name, signature verifier(public key, message, signature) raising InvalidSignature)
def _ecdsa(curve: ec.EllipticCurve, h: hashes.HashAlgorithm) -> Callable[[bytes, bytes, bytes], None]:
    def verify(pub: bytes, msg: bytes, sig: bytes) -> None:
        ec.EllipticCurvePublicKey.from_encoded_point(curve, pub).verify(sig, msg, ec.ECDSA(h))

    return verify


def _ed25519(pub: bytes, msg: bytes, sig: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)


def _ed448(pub: bytes, msg: bytes, sig: bytes) -> None:
    Ed448PublicKey.from_public_bytes(pub).verify(sig, msg)


SUITES: dict[int, tuple[str, Callable[[bytes, bytes, bytes], None]]] = {
    1: ("sha256", _ed25519),
    2: ("sha256", _ecdsa(ec.SECP256R1(), hashes.SHA256())),
    3: ("sha256", _ed25519),
    4: ("sha512", _ed448),
    5: ("sha512", _ecdsa(ec.SECP521R1(), hashes.SHA512())),
    6: ("sha512", _ed448),
    7: ("sha384", _ecdsa(ec.SECP384R1(), hashes.SHA384())),
}


def verify_with_label(suite: int, pub: bytes, label: str, content: bytes, sig: bytes) -> None:
    """RFC 9420 VerifyWithLabel over SignContent {opaque label<V>; opaque content<V>}."""
    w = Writer()
    w.opaque_v(b"MLS 1.0 " + label.encode())
    w.opaque_v(content)
    SUITES[suite][1](pub, w.getvalue(), sig)


# --- messages.json ------------------------------------------------------------------------------------------------


def test_messages_json_mismatch_is_reported() -> None:
    from pyxmtp.mls.vectors import VectorMismatch
    from pyxmtp.mls.vectors.messages import check

    case = dict(cases("messages")[0])
    case["mls_welcome"] = case["mls_group_info"]
    with pytest.raises(VectorMismatch, match="mls_welcome: body is GroupInfo"):
        check(case)


def test_messages_json_every_field_has_a_decoder() -> None:
    assert set(cases("messages")[0]) == set(DECODERS)


# --- every structure in the other vector files ----------------------------------------------------------------------
def structures() -> Iterator[tuple[str, str, str | None]]:
    """(what, decoder kind, hex) for every wire structure in the other vector files."""
    for c in cases("tree-validation"):
        yield "tree-validation tree", "tree", c["tree"]
    for c in cases("treekem"):
        yield "treekem ratchet_tree", "tree", c["ratchet_tree"]
        for u in c["update_paths"]:
            yield "treekem update_path", "UpdatePath", u["update_path"]
    for c in cases("welcome"):
        yield "welcome key_package", "MLSMessage", c["key_package"]
        yield "welcome welcome", "MLSMessage", c["welcome"]
    for c in cases("transcript-hashes"):
        yield "transcript-hashes authenticated_content", "AuthenticatedContent", c["authenticated_content"]
    for c in cases("message-protection"):
        yield "message-protection proposal", "Proposal", c["proposal"]
        for k in ("proposal_pub", "proposal_priv", "commit_pub", "commit_priv", "application_priv"):
            yield f"message-protection {k}", "MLSMessage", c[k]
    for name in ("passive-client-welcome", "passive-client-handling-commit", "passive-client-random"):
        for c in cases(name):
            yield f"{name} key_package", "MLSMessage", c["key_package"]
            yield f"{name} welcome", "MLSMessage", c["welcome"]
            yield f"{name} ratchet_tree", "tree", c["ratchet_tree"]
            for e in c["epochs"]:
                for p in e["proposals"]:
                    yield f"{name} proposal", "MLSMessage", p
                yield f"{name} commit", "MLSMessage", e["commit"]
    for c in cases("tree-operations"):
        yield "tree-operations tree_before", "tree", c["tree_before"]
        yield "tree-operations tree_after", "tree", c["tree_after"]
        yield "tree-operations proposal", "Proposal", c["proposal"]
    for c in cases("key-schedule"):
        for e in c["epochs"]:
            yield "key-schedule group_context", "GroupContext", e["group_context"]


_KINDS: dict[str, type[Any]] = {
    "MLSMessage": MLSMessage,
    "UpdatePath": UpdatePath,
    "AuthenticatedContent": AuthenticatedContent,
    "Proposal": Proposal,
    "GroupContext": GroupContext,
}


def test_every_structure_in_the_other_vector_files_round_trips() -> None:
    count = 0
    for what, kind, hex_ in structures():
        if hex_ is None:
            continue
        data = bytes.fromhex(hex_)
        if kind == "tree":
            assert encode_ratchet_tree(decode_ratchet_tree(data)) == data, what
            assert encode_ratchet_tree(rebuilt(decode_ratchet_tree(data))) == data, what
        else:
            assert encode(decode(_KINDS[kind], data)) == data, what
            assert encode(rebuilt(decode(_KINDS[kind], data))) == data, what
        count += 1
    assert count > 2500


# --- TBS, TBM and transcript inputs reproduce the vectors' signatures, tags and hashes ----------------------------
def test_confirmed_and_interim_transcript_inputs() -> None:
    for c in cases("transcript-hashes"):
        hash_name = SUITES[c["cipher_suite"]][0]
        ac = decode(AuthenticatedContent, bytes.fromhex(c["authenticated_content"]))
        confirmed = hashlib.new(
            hash_name,
            bytes.fromhex(c["interim_transcript_hash_before"]) + ac.confirmed_transcript_hash_input(),
        ).digest()
        assert confirmed.hex() == c["confirmed_transcript_hash_after"]
        tag = hmac.digest(bytes.fromhex(c["confirmation_key"]), confirmed, hash_name)
        assert ac.auth.confirmation_tag == tag
        interim = hashlib.new(hash_name, confirmed + interim_transcript_hash_input(tag)).digest()
        assert interim.hex() == c["interim_transcript_hash_after"]


def test_public_message_tbs_and_tbm_reproduce_signature_and_membership_tag() -> None:
    checked = 0
    for c in cases("message-protection"):
        suite = c["cipher_suite"]
        gc = GroupContext(
            1,
            suite,
            bytes.fromhex(c["group_id"]),
            c["epoch"],
            bytes.fromhex(c["tree_hash"]),
            bytes.fromhex(c["confirmed_transcript_hash"]),
            (),
        )
        for k in ("proposal_pub", "commit_pub"):
            pm = decode(MLSMessage, bytes.fromhex(c[k])).body
            assert isinstance(pm, PublicMessage)
            tag = hmac.digest(bytes.fromhex(c["membership_key"]), pm.tbm(gc), SUITES[suite][0])
            assert pm.membership_tag == tag, k
            pub = bytes.fromhex(c["signature_pub"])
            tbs = pm.authenticated_content().tbs(gc)
            verify_with_label(suite, pub, "FramedContentTBS", tbs, pm.auth.signature)
            with pytest.raises(InvalidSignature):
                verify_with_label(suite, pub, "FramedContentTBS", tbs + b"\x00", pm.auth.signature)
            checked += 1
    assert checked == 14


def _check_leaf(suite: int, ln: LeafNode, group_id: bytes, leaf_index: int) -> None:
    verify_with_label(suite, ln.signature_key, "LeafNodeTBS", ln.tbs(group_id, leaf_index), ln.signature)


def test_leaf_node_tbs_reproduces_tree_signatures() -> None:
    sources: set[LeafNodeSource] = set()
    for c in cases("tree-validation"):
        group_id = bytes.fromhex(c["group_id"])
        for i, node in enumerate(decode_ratchet_tree(bytes.fromhex(c["tree"]))):
            if node is not None and isinstance(node.value, LeafNode):
                _check_leaf(c["cipher_suite"], node.value, group_id, i // 2)
                sources.add(node.value.leaf_node_source)
    # update-source leaves take the same TBS branch as commit ones; no tree vector contains one
    assert sources == {LeafNodeSource.key_package, LeafNodeSource.commit}


def test_commit_leaf_tbs_reproduces_update_path_signatures() -> None:
    for c in cases("treekem"):
        for u in c["update_paths"]:
            path = decode(UpdatePath, bytes.fromhex(u["update_path"]))
            assert path.leaf_node.leaf_node_source is LeafNodeSource.commit
            _check_leaf(c["cipher_suite"], path.leaf_node, bytes.fromhex(c["group_id"]), u["sender"])


def test_key_package_tbs_reproduces_signatures() -> None:
    for c in cases("welcome"):
        kp = decode(MLSMessage, bytes.fromhex(c["key_package"])).body
        assert isinstance(kp, KeyPackage)
        suite = c["cipher_suite"]
        verify_with_label(suite, kp.leaf_node.signature_key, "KeyPackageTBS", kp.tbs(), kp.signature)
        _check_leaf(suite, kp.leaf_node, b"unused", 0)
