"""Property tests of the wire structures.

(a) Decoding arbitrary bytes, and mutations (bit flips, byte changes, insertions, deletions, truncations) of real
encodings from messages.json, raises nothing but DecodeError; whatever does decode re-encodes to exactly the
same bytes (every decoder here is canonical). (b) encode(decode(x)) == x for every structure in messages.json,
including the sub-structures reachable from them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyxmtp.mls.codec import Writer, decode, encode
from pyxmtp.mls.constants import ContentType
from pyxmtp.mls.errors import DecodeError
from pyxmtp.mls.framing.content import AuthenticatedContent, FramedContent, Sender
from pyxmtp.mls.framing.messages import (
    MLSMessage,
    PrivateMessage,
    PrivateMessageContent,
    PublicMessage,
    SenderData,
)
from pyxmtp.mls.messages.commit import Commit, UpdatePath
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.extensions import (
    ApplicationId,
    Extension,
    ExternalPub,
    ExternalSender,
    ExternalSenders,
    LastResort,
    RequiredCapabilities,
    TypedExtension,
)
from pyxmtp.mls.messages.group_info import GroupContext, GroupInfo
from pyxmtp.mls.messages.key_package import KeyPackage
from pyxmtp.mls.messages.proposals import (
    Add,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ReInit,
    Remove,
    Update,
)
from pyxmtp.mls.messages.welcome import GroupSecrets, Welcome
from pyxmtp.mls.tree.nodes import (
    Capabilities,
    LeafNode,
    Node,
    ParentNode,
    RatchetTreeExtension,
    decode_ratchet_tree,
    encode_ratchet_tree,
)
from pyxmtp.mls.vectors import default_dir
from pyxmtp.mls.vectors.messages import extensions_in, rebuilt

SEED_CASES = 40  # messages.json cases used as mutation seeds (all 300 are round-tripped in (b))


@dataclass(frozen=True)
class Kind:
    name: str
    decode: Callable[[bytes], object]
    encode: Callable[[Any], bytes]


def _struct(cls: type[Any]) -> Kind:
    return Kind(cls.__name__, lambda data: decode(cls, data), encode)


def _private_content(ct: ContentType) -> Kind:
    def dec(data: bytes) -> object:
        return PrivateMessageContent.from_bytes(data, ct)

    return Kind(f"PrivateMessageContent[{ct.name}]", dec, encode)


def _typed_extension(cls: type[TypedExtension]) -> Kind:
    def enc(value: object) -> bytes:
        assert isinstance(value, cls)
        return value.to_extension().extension_data

    return Kind(f"{cls.__name__} data", cls.from_data, enc)


def _encode_tree(value: object) -> bytes:
    assert isinstance(value, list)
    return encode_ratchet_tree(value)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        *(
            _struct(c)
            for c in (
                MLSMessage,
                KeyPackage,
                Welcome,
                GroupInfo,
                GroupContext,
                GroupSecrets,
                Commit,
                UpdatePath,
                Proposal,
                LeafNode,
                ParentNode,
                Node,
                Capabilities,
                Credential,
                Extension,
                PreSharedKeyID,
                PublicMessage,
                PrivateMessage,
                FramedContent,
                AuthenticatedContent,
                Sender,
                SenderData,
                Add,
                Update,
                Remove,
                PreSharedKey,
                ReInit,
                ExternalInit,
                GroupContextExtensions,
            )
        ),
        Kind("ratchet_tree", decode_ratchet_tree, _encode_tree),
        *(_private_content(ct) for ct in ContentType),
        *(
            _typed_extension(c)
            for c in (
                ApplicationId,
                RequiredCapabilities,
                ExternalPub,
                ExternalSenders,
                LastResort,
                RatchetTreeExtension,
            )
        ),
    ]
}


# --- seeds: real encodings from messages.json ----------------------------------------------------------------------
def _messages_cases() -> list[dict[str, str]]:
    d = default_dir()
    path = None if d is None else Path(d) / "messages.json"
    if path is None or not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        data: list[dict[str, str]] = json.load(f)
    return data


def _add(seeds: dict[str, list[bytes]], kind: str, data: bytes) -> None:
    seeds.setdefault(kind, []).append(data)


def _w(fn: Callable[[Writer], None]) -> bytes:
    w = Writer()
    fn(w)
    return w.getvalue()


def collect(case: dict[str, str]) -> dict[str, list[bytes]]:
    """Every valid encoding reachable from one messages.json case, by kind."""
    s: dict[str, list[bytes]] = {}
    field_kinds = {
        "group_secrets": "GroupSecrets",
        "add_proposal": "Add",
        "update_proposal": "Update",
        "remove_proposal": "Remove",
        "pre_shared_key_proposal": "PreSharedKey",
        "re_init_proposal": "ReInit",
        "external_init_proposal": "ExternalInit",
        "group_context_extensions_proposal": "GroupContextExtensions",
        "commit": "Commit",
        "ratchet_tree": "ratchet_tree",
    }
    for field, kind in field_kinds.items():
        _add(s, kind, bytes.fromhex(case[field]))
    for field in ("add_proposal", "update_proposal", "remove_proposal", "pre_shared_key_proposal"):
        body: Any = KINDS[field_kinds[field]].decode(bytes.fromhex(case[field]))
        _add(s, "Proposal", encode(Proposal(body)))
        if isinstance(body, PreSharedKey):
            _add(s, "PreSharedKeyID", encode(body.psk))
        if isinstance(body, Update):
            ln = body.leaf_node
            _add(s, "LeafNode", encode(ln))
            _add(s, "Capabilities", encode(ln.capabilities))
            _add(s, "Credential", encode(ln.credential))
            # structures messages.json does not contain, built from its values
            parent = ParentNode(ln.encryption_key, ln.signature_key, (0, 2))
            _add(s, "ParentNode", encode(parent))
            _add(s, "Node", encode(Node(parent)))
            _add(s, "ratchet_tree", encode_ratchet_tree([Node(ln), Node(parent), Node(ln)]))
            _add(s, "ApplicationId data", ApplicationId(ln.signature_key).to_extension().extension_data)
            senders = ExternalSenders((ExternalSender(ln.signature_key, ln.credential),) * 2)
            _add(s, "ExternalSenders data", senders.to_extension().extension_data)
            _add(s, "LastResort data", b"")
    commit = decode(Commit, bytes.fromhex(case["commit"]))
    if commit.path is not None:
        _add(s, "UpdatePath", encode(commit.path))
    for node in decode_ratchet_tree(bytes.fromhex(case["ratchet_tree"])):
        if node is not None:
            _add(s, "Node", encode(node))
            _add(s, "ParentNode" if isinstance(node.value, ParentNode) else "LeafNode", encode(node.value))
    for field in (
        "mls_welcome",
        "mls_group_info",
        "mls_key_package",
        "public_message_application",
        "public_message_proposal",
        "public_message_commit",
        "private_message",
    ):
        data = bytes.fromhex(case[field])
        _add(s, "MLSMessage", data)
        msg = decode(MLSMessage, data)
        body_ = msg.body
        _add(s, type(body_).__name__, encode(body_))
        if isinstance(body_, GroupInfo):
            _add(s, "GroupContext", encode(body_.group_context))
        if isinstance(body_, PublicMessage):
            content = body_.content
            _add(s, "FramedContent", encode(content))
            _add(s, "AuthenticatedContent", encode(body_.authenticated_content()))
            _add(s, "Sender", encode(content.sender))
            pmc = PrivateMessageContent(content.body, body_.auth, len(content.authenticated_data) % 7)
            _add(s, f"PrivateMessageContent[{content.content_type.name}]", encode(pmc))
            _add(
                s,
                "SenderData",
                encode(SenderData(content.sender.index, content.epoch & 0xFFFF, b"\x00\x01\x02\x03")),
            )
        for ext in extensions_in(body_):
            _add(s, "Extension", encode(ext))
            for k in KINDS.values():
                if k.name.endswith(" data"):
                    cls = {c.__name__: c for c in TypedExtension.__subclasses__()}.get(
                        k.name[: -len(" data")]
                    )
                    if cls is not None and cls.extension_type == ext.extension_type:
                        _add(s, k.name, ext.extension_data)
    return s


CASES = _messages_cases()
SEEDS: dict[str, list[bytes]] = {}
for _case in CASES[:SEED_CASES]:
    for _kind, _items in collect(_case).items():
        SEEDS.setdefault(_kind, []).extend(_items)
for _kind in SEEDS:
    SEEDS[_kind] = sorted(set(SEEDS[_kind]), key=len)[:40]

#: Skips without the official vectors, and fails instead under PYXMTP_REQUIRE_VECTORS=1 (tests/conftest.py).
needs_vectors = pytest.mark.usefixtures("mls_vectors")
PROPS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def decodes_canonically_or_raises_decode_error(kind: Kind, data: bytes) -> None:
    try:
        value = kind.decode(data)
    except DecodeError:
        return
    # anything else propagates and fails the test; a successful decode must be canonical
    assert kind.encode(value) == data, f"{kind.name}: decoded but re-encodes differently"
    # also when every field is encoded afresh (a decoded LeafNode keeps its content bytes for re-encoding)
    assert kind.encode(rebuilt(value)) == data, f"{kind.name}: decoded but re-encodes differently"


# --- (a) random bytes and mutations raise only DecodeError -----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(KINDS))
@PROPS
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(name: str, data: bytes) -> None:
    decodes_canonically_or_raises_decode_error(KINDS[name], data)


@st.composite
def mutations(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif op == "delete":
            del data[pos]
        else:
            del data[pos:]
    return bytes(data)


def _mutation_kinds() -> list[str]:
    return sorted(SEEDS) if SEEDS else ["MLSMessage"]


@needs_vectors
@pytest.mark.parametrize("name", _mutation_kinds())
@PROPS
@given(st.data())
def test_mutations_of_real_encodings_raise_only_decode_error(name: str, data: st.DataObject) -> None:
    mutated = data.draw(mutations(SEEDS[name]))
    decodes_canonically_or_raises_decode_error(KINDS[name], mutated)


@needs_vectors
@pytest.mark.parametrize("name", _mutation_kinds())
def test_every_truncation_raises_only_decode_error(name: str) -> None:
    kind = KINDS[name]
    seed = SEEDS[name][len(SEEDS[name]) // 2]
    for n in range(len(seed)):
        decodes_canonically_or_raises_decode_error(kind, seed[:n])
    for n in range(len(seed)):  # and every single-byte complement
        decodes_canonically_or_raises_decode_error(kind, seed[:n] + bytes([seed[n] ^ 0xFF]) + seed[n + 1 :])


@needs_vectors
def test_seeds_cover_every_kind() -> None:
    assert set(SEEDS) == set(KINDS)


# --- (b) every valid structure in messages.json round-trips ---------------------------------------------------------
@needs_vectors
def test_every_structure_in_messages_json_round_trips() -> None:
    total = 0
    for case in CASES:
        for name, items in collect(case).items():
            kind = KINDS[name]
            for data in items:
                assert kind.encode(kind.decode(data)) == data, name
                assert kind.encode(rebuilt(kind.decode(data))) == data, name
                total += 1
    assert total > 300 * 20
