"""pyxmtp's MLS group engine behind the same `rpc(op, **kw)` surface as the ts-mls harness.

Same ops, same conventions (hex for bytes in replies; arguments may be bytes or hex), so that
tests/interop/members.py drives either implementation. Written only against the public API of `pyxmtp.mls`,
as an outside developer would. Commits we create are merged at once (there is no delivery service that could
reject them). Handshake framing follows the group's wire-format policy: `public_handshakes` selects
PURE_PLAINTEXT, otherwise PURE_CIPHERTEXT (XMTP's policy); `tree_in_welcome` is passed per commit.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from pyxmtp.mls import (
    XMTP_CONFIG,
    ApplicationMessage,
    CipherSuite,
    Credential,
    Group,
    GroupConfig,
    KeyPackageBundle,
    ProposalReceived,
    SignaturePrivateKey,
    StagedCommit,
    WireFormatPolicy,
    create_key_package,
    get_suite,
    key_package_for_welcome,
)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value)
    raise TypeError(f"expected bytes or hex, got {type(value).__name__}")


def _config(public_handshakes: bool) -> GroupConfig:
    if public_handshakes:
        return GroupConfig(wire_format_policy=WireFormatPolicy.PURE_PLAINTEXT)
    return XMTP_CONFIG


@dataclass
class _Client:
    suite: CipherSuite
    signer: SignaturePrivateKey
    credential: Credential
    bundles: list[KeyPackageBundle] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)
    tree_in_welcome: dict[str, bool] = field(default_factory=dict)


class PyxmtpPeer:
    """In-process peer; `rpc` raises whatever the engine raises (typed pyxmtp errors)."""

    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}

    @staticmethod
    def now() -> int:
        return int(time.time())

    def rpc(self, op: str, **kw: Any) -> dict[str, Any]:
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise ValueError(f"pyxmtp peer: unknown op {op!r}")
        result: dict[str, Any] = handler(**kw)
        return result

    def _client(self, handle: str) -> _Client:
        return self._clients[handle]

    def _group(self, client: str, group: str) -> Group:
        return self._client(client).groups[group]

    def _add_group(self, c: _Client, g: Group) -> str:
        gid = g.group_id.hex()
        assert gid not in c.groups, f"already in group {gid}"
        c.groups[gid] = g
        return gid

    # --- ops (names and arguments as in tsmls/harness.mjs) -------------------------------------------------
    def op_new_client(self, *, identity: Any, suite: int = 3) -> dict[str, Any]:
        cs = get_suite(suite)
        signer = cs.generate_signature_key(os.urandom)
        handle = f"p{len(self._clients) + 1}"
        self._clients[handle] = _Client(cs, signer, Credential.basic(_bytes(identity)))
        return {"client": handle, "signature_key": signer.public_bytes().hex()}

    def op_new_key_package(self, *, client: str) -> dict[str, Any]:
        c = self._client(client)
        bundle = create_key_package(c.suite, c.signer, c.credential, rng=os.urandom, now=self.now())
        c.bundles.append(bundle)
        return {
            "key_package": bundle.key_package_message().hex(),
            "init_priv": bundle.init_private_key.to_bytes().hex(),
            "encryption_priv": bundle.encryption_private_key.to_bytes().hex(),
            "signature_priv": c.signer.to_bytes().hex(),
        }

    def op_create_group(
        self, *, client: str, group_id: Any, public_handshakes: bool = False, tree_in_welcome: bool = True
    ) -> dict[str, Any]:
        c = self._client(client)
        g = Group.create(
            c.suite,
            c.signer,
            c.credential,
            rng=os.urandom,
            now=self.now(),
            config=_config(public_handshakes),
            group_id=_bytes(group_id),
        )
        gid = self._add_group(c, g)
        c.tree_in_welcome[gid] = tree_in_welcome
        return {"group": gid}

    def _commit(self, client: str, group: str, tree_in_welcome: bool | None, **kw: Any) -> dict[str, Any]:
        g = self._group(client, group)
        if tree_in_welcome is None:
            tree_in_welcome = self._client(client).tree_in_welcome.get(group, True)
        staged = g.commit(rng=os.urandom, now=self.now(), ratchet_tree_in_welcome=tree_in_welcome, **kw)
        g.merge_pending_commit()
        assert staged.message is not None
        return {
            "commit": staged.message.hex(),
            "welcome": None if staged.welcome is None else staged.welcome.hex(),
            "epoch": g.epoch,
        }

    def op_add(
        self, *, client: str, group: str, key_packages: list[Any], tree_in_welcome: bool | None = None
    ) -> dict[str, Any]:
        return self._commit(client, group, tree_in_welcome, add=[_bytes(kp) for kp in key_packages])

    def op_remove(self, *, client: str, group: str, leaves: list[int]) -> dict[str, Any]:
        return self._commit(client, group, None, remove=list(leaves))

    def op_commit(self, *, client: str, group: str) -> dict[str, Any]:
        return self._commit(client, group, None)

    def op_propose_remove(self, *, client: str, group: str, leaf: int) -> dict[str, Any]:
        g = self._group(client, group)
        return {"message": g.propose_remove(leaf, rng=os.urandom, now=self.now()).hex()}

    def op_propose_update(self, *, client: str, group: str) -> dict[str, Any]:
        """An Update proposal with a fresh leaf encryption key (ts-mls 1.6.4 exposes no way to build one)."""
        g = self._group(client, group)
        return {"message": g.propose_update(rng=os.urandom, now=self.now()).hex()}

    def op_join(
        self,
        *,
        client: str,
        welcome: Any,
        ratchet_tree: Any = None,
        public_handshakes: bool = False,
        key_package: Any = None,
        init_priv: Any = None,
        encryption_priv: Any = None,
        signature_priv: Any = None,
    ) -> dict[str, Any]:
        c = self._client(client)
        data = _bytes(welcome)
        tree = None if ratchet_tree is None else _bytes(ratchet_tree)
        config = _config(public_handshakes)
        if key_package is not None:  # passive client: foreign key package and private keys
            bundle = KeyPackageBundle.from_private_keys(
                _bytes(key_package), _bytes(init_priv), _bytes(encryption_priv)
            )
            signer = c.suite.signature_key_from_bytes(_bytes(signature_priv))
        else:
            found = key_package_for_welcome(data, c.bundles)
            assert found is not None, "the Welcome names none of this client's key packages"
            bundle, signer = found, c.signer
        g = Group.join(data, bundle, signer, now=self.now(), config=config, ratchet_tree=tree)
        if bundle in c.bundles:
            c.bundles.remove(bundle)
        return {"group": self._add_group(c, g), "epoch": g.epoch}

    def op_protect(self, *, client: str, group: str, data: Any) -> dict[str, Any]:
        g = self._group(client, group)
        return {"message": g.create_message(_bytes(data), rng=os.urandom).hex()}

    def op_process(self, *, client: str, group: str, message: Any) -> dict[str, Any]:
        g = self._group(client, group)
        result = g.process(_bytes(message), now=self.now())
        reply: dict[str, Any]
        if isinstance(result, ApplicationMessage):
            reply = {"kind": "application", "data": result.data.hex()}
        elif isinstance(result, ProposalReceived):
            reply = {"kind": "proposal"}
        else:
            assert isinstance(result, StagedCommit)
            g.merge_staged_commit(result)
            reply = {"kind": "commit"}
        return {**reply, "epoch": g.epoch, "active": g.is_active}

    def op_group_info(self, *, client: str, group: str, with_tree: bool = True) -> dict[str, Any]:
        g = self._group(client, group)
        return {"group_info": g.group_info(with_ratchet_tree=with_tree, with_external_pub=True).hex()}

    def op_external_join(
        self, *, client: str, group_info: Any, ratchet_tree: Any = None, public_handshakes: bool = False
    ) -> dict[str, Any]:
        c = self._client(client)
        g, commit = Group.join_by_external_commit(
            _bytes(group_info),
            c.signer,
            c.credential,
            rng=os.urandom,
            now=self.now(),
            config=_config(public_handshakes),
            ratchet_tree=None if ratchet_tree is None else _bytes(ratchet_tree),
        )
        g.merge_pending_commit()
        return {"group": self._add_group(c, g), "commit": commit.hex(), "epoch": g.epoch}

    def op_state(
        self, *, client: str, group: str, exporters: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        g = self._group(client, group)
        active = g.is_active
        return {
            "group_id": g.group_id.hex(),
            "epoch": g.epoch,
            "epoch_authenticator": g.epoch_authenticator.hex(),
            "tree_hash": g.group_context.tree_hash.hex(),
            "confirmed_transcript_hash": g.group_context.confirmed_transcript_hash.hex(),
            "ratchet_tree": g.export_ratchet_tree().hex(),
            "own_leaf": g.own_leaf_index,
            "members": [
                {
                    "leaf": m.leaf_index,
                    "identity": m.credential.identity.hex(),
                    "signature_key": m.signature_key.hex(),
                    "encryption_key": m.encryption_key.hex(),
                }
                for m in g.members()
            ],
            "active": active,
            "exporters": [
                g.export_secret(e["label"], _bytes(e.get("context", b"")), e["length"]).hex()
                for e in exporters or ()
            ]
            if active
            else [],
        }
