"""One MLS group member on any peer that speaks the harness ops through `rpc(op, **kw)`.

Both the ts-mls harness and the in-process pyxmtp peer expose the same ops (hex for bytes), so a test
written against `Member` runs unchanged for every (creator, joiner) pairing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# (label, context, length) triples every snapshot exports; compared across members after each epoch.
EXPORTS: tuple[tuple[str, bytes, int], ...] = (
    ("exporter", b"", 32),
    ("pyxmtp interop", b"\x00\x01context", 48),
)


WIRE_PUBLIC, WIRE_PRIVATE = 1, 2


def wire_format(message: bytes) -> int:
    """The wire_format field of an encoded MLSMessage (1 PublicMessage, 2 PrivateMessage, 3 Welcome, ...)."""
    assert message[:2] == b"\x00\x01", f"not an mls10 MLSMessage: {message[:8].hex()}"
    return int.from_bytes(message[2:4])


class RpcPeer(Protocol):
    def rpc(self, op: str, **kw: Any) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Processed:
    kind: str  # "application" | "commit" | "proposal"
    data: bytes | None
    epoch: int  # once removed: the last epoch the member was in
    active: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a member reports about its current epoch; equal snapshots mean an agreed group state."""

    group_id: bytes
    epoch: int
    epoch_authenticator: bytes
    tree_hash: bytes
    ratchet_tree: bytes
    exporters: tuple[bytes, ...]
    members: tuple[tuple[int, bytes], ...]  # (leaf index, basic-credential identity)
    own_leaf: int = field(compare=False)
    active: bool = field(compare=False)


@dataclass
class Member:
    peer: RpcPeer
    peer_name: str
    identity: bytes
    client: str
    group: str | None = None

    @classmethod
    def new(cls, peer: RpcPeer, peer_name: str, identity: bytes, suite: int = 3) -> Member:
        reply = peer.rpc("new_client", identity=identity, suite=suite)
        return cls(peer, peer_name, identity, reply["client"])

    def __repr__(self) -> str:
        return f"{self.identity.decode(errors='replace')}@{self.peer_name}"

    def _gid(self) -> str:
        assert self.group is not None, f"{self} is in no group"
        return self.group

    def key_package(self) -> bytes:
        return bytes.fromhex(self.peer.rpc("new_key_package", client=self.client)["key_package"])

    def key_package_with_private_keys(self) -> dict[str, bytes]:
        return {k: bytes.fromhex(v) for k, v in self.peer.rpc("new_key_package", client=self.client).items()}

    def create_group(self, group_id: bytes, *, public_handshakes: bool = False) -> None:
        reply = self.peer.rpc(
            "create_group", client=self.client, group_id=group_id, public_handshakes=public_handshakes
        )
        self.group = reply["group"]

    def _commit_reply(self, reply: dict[str, Any]) -> tuple[bytes, bytes | None]:
        welcome = reply.get("welcome")
        return bytes.fromhex(reply["commit"]), None if welcome is None else bytes.fromhex(welcome)

    def add(self, *key_packages: bytes, tree_in_welcome: bool = True) -> tuple[bytes, bytes]:
        commit, welcome = self._commit_reply(
            self.peer.rpc(
                "add",
                client=self.client,
                group=self._gid(),
                key_packages=list(key_packages),
                tree_in_welcome=tree_in_welcome,
            )
        )
        assert welcome is not None, f"{self}: an Add commit without a Welcome"
        return commit, welcome

    def remove(self, *leaves: int) -> bytes:
        return self._commit_reply(
            self.peer.rpc("remove", client=self.client, group=self._gid(), leaves=list(leaves))
        )[0]

    def commit(self) -> bytes:
        """An empty commit (a full UpdatePath from this member's leaf), or one covering the cached proposals."""
        return self._commit_reply(self.peer.rpc("commit", client=self.client, group=self._gid()))[0]

    def propose(self, op: str, **kw: Any) -> bytes:
        """A standalone proposal (``propose_remove`` with ``leaf``, ``propose_update``) as an MLSMessage."""
        return bytes.fromhex(self.peer.rpc(op, client=self.client, group=self._gid(), **kw)["message"])

    def join(
        self,
        welcome: bytes,
        ratchet_tree: bytes | None = None,
        *,
        public_handshakes: bool = False,
        foreign_keys: Mapping[str, bytes] | None = None,
    ) -> None:
        """Join from a Welcome with one of our key packages, or (passive client) with ``foreign_keys``: another
        client's ``key_package``, ``init_priv``, ``encryption_priv`` and ``signature_priv`` (raw seed)."""
        kw: dict[str, Any] = {"public_handshakes": public_handshakes, **(foreign_keys or {})}
        if ratchet_tree is not None:
            kw["ratchet_tree"] = ratchet_tree
        self.group = self.peer.rpc("join", client=self.client, welcome=welcome, **kw)["group"]

    def protect(self, data: bytes) -> bytes:
        return bytes.fromhex(
            self.peer.rpc("protect", client=self.client, group=self._gid(), data=data)["message"]
        )

    def process(self, message: bytes) -> Processed:
        r = self.peer.rpc("process", client=self.client, group=self._gid(), message=message)
        data = r.get("data")
        return Processed(r["kind"], None if data is None else bytes.fromhex(data), r["epoch"], r["active"])

    def group_info(self, **kw: Any) -> bytes:
        """A GroupInfo MLSMessage with external_pub (``with_tree=False``: without the ratchet tree)."""
        return bytes.fromhex(
            self.peer.rpc("group_info", client=self.client, group=self._gid(), **kw)["group_info"]
        )

    def external_join(self, group_info: bytes, ratchet_tree: bytes | None = None, **kw: Any) -> bytes:
        if ratchet_tree is not None:
            kw["ratchet_tree"] = ratchet_tree
        reply = self.peer.rpc("external_join", client=self.client, group_info=group_info, **kw)
        self.group = reply["group"]
        return bytes.fromhex(reply["commit"])

    def snapshot(self) -> Snapshot:
        r = self.peer.rpc(
            "state",
            client=self.client,
            group=self._gid(),
            exporters=[{"label": lb, "context": ctx, "length": n} for lb, ctx, n in EXPORTS],
        )
        return Snapshot(
            group_id=bytes.fromhex(r["group_id"]),
            epoch=r["epoch"],
            epoch_authenticator=bytes.fromhex(r["epoch_authenticator"]),
            tree_hash=bytes.fromhex(r["tree_hash"]),
            ratchet_tree=bytes.fromhex(r["ratchet_tree"]),
            exporters=tuple(bytes.fromhex(x) for x in r["exporters"]),
            members=tuple((m["leaf"], bytes.fromhex(m["identity"])) for m in r["members"]),
            own_leaf=r["own_leaf"],
            active=r["active"],
        )

    def leaf_of(self, other: Member) -> int:
        leaves = [leaf for leaf, ident in self.snapshot().members if ident == other.identity]
        assert len(leaves) == 1, f"{self} sees {other.identity!r} at leaves {leaves}"
        return leaves[0]


def assert_agree(*members: Member, epoch: int | None = None) -> Snapshot:
    """All members report the same epoch, epoch_authenticator, exporter outputs, tree hash and tree."""
    snaps = [(m, m.snapshot()) for m in members]
    first_member, first = snaps[0]
    if epoch is not None:
        assert first.epoch == epoch, f"{first_member} is at epoch {first.epoch}, expected {epoch}"
    for m, s in snaps[1:]:
        for name in ("epoch", "epoch_authenticator", "exporters", "tree_hash", "ratchet_tree", "members"):
            got, want = getattr(s, name), getattr(first, name)
            assert got == want, f"{m} and {first_member} disagree on {name} at epoch {first.epoch}"
    for m, s in snaps:
        assert s.active, f"{m} thinks it is no longer in the group"
        assert len(s.epoch_authenticator) == 32, f"{m}: epoch_authenticator {s.epoch_authenticator.hex()}"
        assert [len(x) for x in s.exporters] == [n for _, _, n in EXPORTS], f"{m}: exporter lengths"
    return first


def exchange(sender: Member, *receivers: Member, text: bytes) -> None:
    """`sender` encrypts `text`; every receiver decrypts exactly it."""
    msg = sender.protect(text)
    for r in receivers:
        got = r.process(msg)
        assert (got.kind, got.data) == ("application", text), f"{r} decrypting {sender}'s message: {got}"


def deliver_commit(commit: bytes, *receivers: Member) -> None:
    for r in receivers:
        got = r.process(commit)
        assert got.kind == "commit", f"{r} processed a commit as {got.kind}"
