"""messages.json: every wire structure decodes and re-encodes to identical bytes.

Each case holds one encoding per structure; the ``mls_*``, ``public_message_*`` and ``private_message``
fields are MLSMessages whose body must also be of the named kind. Every extension found anywhere in a decoded
structure whose type has a typed body here is parsed and re-encoded as well.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Protocol, Self, TypeVar

from ..codec import Reader, Writer, decode, encode
from ..framing.messages import MLSMessage, PrivateMessage, PublicMessage
from ..messages.commit import Commit
from ..messages.extensions import (
    ApplicationId,
    Extension,
    ExternalPub,
    ExternalSenders,
    LastResort,
    RequiredCapabilities,
    TypedExtension,
)
from ..messages.group_info import GroupInfo
from ..messages.key_package import KeyPackage
from ..messages.proposals import (
    Add,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    ReInit,
    Remove,
    Update,
)
from ..messages.welcome import GroupSecrets, Welcome
from ..tree.nodes import RatchetTreeExtension, decode_ratchet_tree, encode_ratchet_tree
from . import Case, VectorMismatch, expect

T = TypeVar("T")


class _Struct(Protocol):
    def encode(self, w: Writer) -> None: ...

    @classmethod
    def decode(cls, r: Reader) -> Self: ...


# field -> structure it holds
_STRUCTS: dict[str, type[_Struct]] = {
    "group_secrets": GroupSecrets,
    "add_proposal": Add,
    "update_proposal": Update,
    "remove_proposal": Remove,
    "pre_shared_key_proposal": PreSharedKey,
    "re_init_proposal": ReInit,
    "external_init_proposal": ExternalInit,
    "group_context_extensions_proposal": GroupContextExtensions,
    "commit": Commit,
}
# MLSMessage field -> type its body must have
_MESSAGES: dict[str, type] = {
    "mls_welcome": Welcome,
    "mls_group_info": GroupInfo,
    "mls_key_package": KeyPackage,
    "public_message_application": PublicMessage,
    "public_message_proposal": PublicMessage,
    "public_message_commit": PublicMessage,
    "private_message": PrivateMessage,
}
TYPED_EXTENSIONS: dict[int, type[TypedExtension]] = {
    cls.extension_type: cls
    for cls in (
        ApplicationId,
        RatchetTreeExtension,
        RequiredCapabilities,
        ExternalPub,
        ExternalSenders,
        LastResort,
    )
}


def _decoder(cls: type[_Struct]) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        return decode(cls, data)

    return run


#: every field of a case and the function that decodes one structure from its bytes (for tests)
DECODERS: dict[str, Callable[[bytes], object]] = {
    **{name: _decoder(cls) for name, cls in _STRUCTS.items()},
    **{name: _decoder(MLSMessage) for name in _MESSAGES},
    "ratchet_tree": decode_ratchet_tree,
}


def extensions_in(value: object) -> Iterator[Extension]:
    """Every Extension reachable from a decoded structure (depth first)."""
    if isinstance(value, Extension):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from extensions_in(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from extensions_in(getattr(value, f.name))


def check_typed_extensions(value: object, where: str) -> None:
    for ext in extensions_in(value):
        cls = TYPED_EXTENSIONS.get(ext.extension_type)
        if cls is not None:
            body = cls.from_extension(ext)
            expect(f"{where}: {cls.__name__} extension", body.to_extension(), ext)


def rebuilt(value: T) -> T:
    """``value`` rebuilt from its fields, recursively, so that encoding it encodes every field afresh (a
    decoded :class:`~pyxmtp.mls.tree.nodes.LeafNode` keeps the bytes it was read from)."""
    if isinstance(value, tuple | list):
        return type(value)(rebuilt(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: rebuilt(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return type(value)(**fields)
    return value


def check(case: Case) -> None:
    for name, cls in _STRUCTS.items():
        data = bytes.fromhex(case[name])
        value = decode(cls, data)
        expect(name, encode(value), data)
        expect(f"{name} (encoded afresh)", encode(rebuilt(value)), data)
        check_typed_extensions(value, name)
    for name, body_type in _MESSAGES.items():
        data = bytes.fromhex(case[name])
        msg = decode(MLSMessage, data)
        if not isinstance(msg.body, body_type):
            raise VectorMismatch(f"{name}: body is {type(msg.body).__name__}, want {body_type.__name__}")
        expect(name, encode(msg), data)
        expect(f"{name} (encoded afresh)", encode(rebuilt(msg)), data)
        check_typed_extensions(msg, name)
    data = bytes.fromhex(case["ratchet_tree"])
    nodes = decode_ratchet_tree(data)
    expect("ratchet_tree", encode_ratchet_tree(nodes), data)
    expect("ratchet_tree (encoded afresh)", encode_ratchet_tree(rebuilt(nodes)), data)
    check_typed_extensions(nodes, "ratchet_tree")
    r = Reader(data, "ratchet_tree")
    expect("ratchet_tree extension", RatchetTreeExtension.decode(r).nodes, tuple(nodes))
