"""Forward secrecy, checked on the serialized group state (what a client persists) with byte values obtained
the way an outsider or a new member would, never by reading the secret out of the state under test:

* an epoch's secrets come from the joiner secret in a Welcome (decrypted with the joiner's own key package),
  run through the RFC 9420 key schedule here, and are confirmed against the group's public epoch
  authenticator and exporter;
* its secret tree, ratchet secrets, message keys and nonces follow from its ``encryption_secret`` by the
  RFC 9420 section 9 formulas, and are confirmed by decrypting the group's PrivateMessages with them
  (ChaCha20-Poly1305 from ``cryptography``, not the engine);
* path secrets come from a Welcome's GroupSecrets, node keys are derived from them and confirmed against
  the public ratchet tree, the commit secret is confirmed against the joiner secret; old leaf keys are
  those of the key package bundles the members joined with.

(a) A decrypted message's key, nonce and the ratchet secret it came from leave the state; the keys of
skipped generations stay until used; the sender keeps none of the keys it used. (b) After max_past_epochs + 1
further epochs nothing of an epoch is left, a late message of that epoch fails with WrongEpochError, and
until then only what late messages need is kept. (c) Path secrets and the commit secret are never stored;
node private keys replaced by a later commit and leaf keys replaced by an update are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pyxmtp.mls.codec import decode, encode, encode_varint
from pyxmtp.mls.crypto import get_suite
from pyxmtp.mls.crypto.labels import derive_secret, derive_tree_secret, expand_with_label
from pyxmtp.mls.errors import WrongEpochError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage
from pyxmtp.mls.group import ApplicationMessage, Group, GroupConfig
from pyxmtp.mls.key_packages import KeyPackageBundle
from pyxmtp.mls.messages.welcome import GroupSecrets, Welcome
from pyxmtp.mls.tree.math import left, right, root
from pyxmtp.mls.welcome_crypto import decrypt_group_secrets
from tests.mls.helpers import InMemoryGroup

NOW = 1_700_000_000
SUITE = get_suite(3)  # InMemoryGroup's default
NH, NK, NN = SUITE.hash_len, SUITE.aead_key_len, SUITE.aead_nonce_len
EPOCH_LABELS = (
    "sender data",
    "encryption",
    "exporter",
    "external",
    "confirm",
    "membership",
    "resumption",
    "authentication",
    "init",
)


# --- deriving what to look for --------------------------------------------------------------------------------
def group_secrets(welcome: bytes, bundle: KeyPackageBundle) -> GroupSecrets:
    """What the joiner decrypts from its Welcome entry."""
    body = decode(MLSMessage, welcome).body
    assert isinstance(body, Welcome)
    entry = body.secrets_for(bundle.reference())
    assert entry is not None
    return decrypt_group_secrets(SUITE, bundle.init_private_key, entry, body.encrypted_group_info)


@dataclass
class EpochKeys:
    """Every secret of one epoch (RFC 9420 8, no PSK), by label; ``joiner``, ``member``, ``welcome`` and
    ``epoch`` are the intermediate secrets."""

    secrets: dict[str, bytes]

    def __getitem__(self, label: str) -> bytes:
        return self.secrets[label]


def epoch_keys(joiner_secret: bytes, group_context: bytes) -> EpochKeys:
    member = SUITE.extract(joiner_secret, bytes(NH))
    epoch = expand_with_label(SUITE, member, "epoch", group_context, NH)
    secrets = {"joiner": joiner_secret, "member": member, "welcome": derive_secret(SUITE, member, "welcome")}
    secrets["epoch"] = epoch
    secrets.update((label, derive_secret(SUITE, epoch, label)) for label in EPOCH_LABELS)
    return EpochKeys(secrets)


def confirmed_epoch_keys(group: Group, welcome: bytes, bundle: KeyPackageBundle) -> EpochKeys:
    """The secrets of ``group``'s current epoch from the Welcome that started it, checked against the group's
    public epoch authenticator and exporter."""
    keys = epoch_keys(group_secrets(welcome, bundle).joiner_secret, encode(group.group_context))
    assert keys["authentication"] == group.epoch_authenticator
    label, context = "forward secrecy", b"ctx"
    derived = derive_secret(SUITE, keys["exporter"], label)
    exported = expand_with_label(SUITE, derived, "exported", SUITE.hash(context), 32)
    assert exported == group.export_secret(label, context, 32)
    return keys


def n_leaves(group: Group) -> int:
    """Leaf width of the group's tree, from its public ratchet tree."""
    width = len(group.ratchet_tree())
    n = 1
    while 2 * n - 1 < width:
        n *= 2
    return n


def tree_secrets(encryption_secret: bytes, leaves: int) -> dict[int, bytes]:
    """Every node secret of the secret tree (RFC 9420 9)."""
    out = {root(leaves): encryption_secret}
    todo = [root(leaves)]
    while todo:
        x = todo.pop()
        if x % 2 == 0:
            continue
        for child, side in ((left(x), b"left"), (right(x), b"right")):
            out[child] = expand_with_label(SUITE, out[x], "tree", side, NH)
            todo.append(child)
    return out


@dataclass
class Generation:
    secret: bytes  # the ratchet secret this generation's key and nonce come from
    key: bytes
    nonce: bytes


def ratchet(leaf_secret: bytes, label: str, count: int) -> list[Generation]:
    """Generations 0 .. count-1 of a leaf's ``label`` ("application" / "handshake") ratchet."""
    secret = expand_with_label(SUITE, leaf_secret, label, b"", NH)
    out = []
    for g in range(count):
        out.append(
            Generation(
                secret,
                derive_tree_secret(SUITE, secret, "key", g, NK),
                derive_tree_secret(SUITE, secret, "nonce", g, NN),
            )
        )
        secret = derive_tree_secret(SUITE, secret, "secret", g, NH)
    return out


def _opaque(data: bytes) -> bytes:
    return encode_varint(len(data)) + data


def open_by_hand(
    message: bytes, sender_data_secret: bytes, chain: list[Generation]
) -> tuple[int, int, bytes]:
    """Decrypt an application PrivateMessage with derived secrets (``chain``: its sender's ratchet):
    ``(sender leaf, generation, PrivateMessageContent)``."""
    pm = decode(MLSMessage, message).body
    assert isinstance(pm, PrivateMessage)
    key, nonce = sender_data_key(sender_data_secret, message)
    aad = _opaque(pm.group_id) + pm.epoch.to_bytes(8, "big") + bytes((pm.content_type,))
    sender_data = ChaCha20Poly1305(key).decrypt(nonce, pm.encrypted_sender_data, aad)
    leaf, generation = int.from_bytes(sender_data[:4], "big"), int.from_bytes(sender_data[4:8], "big")
    g = chain[generation]
    guarded = (int.from_bytes(g.nonce[:4], "big") ^ int.from_bytes(sender_data[8:12], "big")).to_bytes(
        4, "big"
    )
    content_aad = aad + _opaque(pm.authenticated_data)
    return (
        leaf,
        generation,
        ChaCha20Poly1305(g.key).decrypt(guarded + g.nonce[4:], pm.ciphertext, content_aad),
    )


def sender_data_key(sender_data_secret: bytes, message: bytes) -> tuple[bytes, bytes]:
    pm = decode(MLSMessage, message).body
    assert isinstance(pm, PrivateMessage)
    sample = pm.ciphertext[:NH]
    return (
        expand_with_label(SUITE, sender_data_secret, "key", sample, NK),
        expand_with_label(SUITE, sender_data_secret, "nonce", sample, NN),
    )


def present(secret: bytes, *groups: Group) -> list[bool]:
    return [secret in g.to_bytes() for g in groups]


# --- (a) message keys -----------------------------------------------------------------------------------------
def test_used_message_keys_and_their_ratchet_secrets_leave_the_state() -> None:
    net = InMemoryGroup(seed="forward secrecy a")
    net.create("a")
    net.add("a", "b")
    probe = net.key_package("c")
    staged = net.commit("a", add=[probe.key_package])  # no path: c's Welcome starts the epoch
    assert staged.welcome is not None and not staged.has_path
    a, b, c = net["a"], net["b"], net["c"]
    keys = confirmed_epoch_keys(a, staged.welcome, probe)
    nodes = tree_secrets(keys["encryption"], n_leaves(a))
    sender_leaf = a.own_leaf_index
    chain = ratchet(nodes[2 * sender_leaf], "application", 5)

    messages = [a.create_message(b"message %d" % i, rng=net.rng) for i in range(4)]
    sender_data_keys: list[bytes] = []
    for i, message in enumerate(messages):  # the derived keys are the ones the messages use
        leaf, generation, plaintext = open_by_hand(message, keys["sender data"], chain)
        assert (leaf, generation) == (sender_leaf, i) and plaintext.startswith(_opaque(b"message %d" % i))
        sender_data_keys += sender_data_key(keys["sender data"], message)

    # the sender keeps only the head of its ratchet
    for g in chain[:4]:
        assert present(g.secret, a) == present(g.key, a) == present(g.nonce, a) == [False]
    assert present(chain[4].secret, a) == [True]
    # the secret tree's root (the encryption secret) and the nodes down to the sender's leaf are gone once
    # its ratchets exist; c, which has not used the secret tree yet, still holds the root
    path = [x for x in nodes if x % 2 == 1 and left(x) <= 2 * sender_leaf <= right(x)] + [2 * sender_leaf]
    for x in path:
        assert present(nodes[x], a, b) == [False, False]
    assert present(keys["encryption"], c) == [True]

    # out of order at b: generation 3 first; 0-2 are skipped and keep their keys until used
    event = b.process(messages[3], now=NOW)
    assert isinstance(event, ApplicationMessage) and event.generation == 3
    assert present(chain[3].key, b) == present(chain[3].nonce, b) == [False]
    for g in chain[:3]:
        assert present(g.key, b) == present(g.nonce, b) == [True]
    for g in chain[:4]:
        assert present(g.secret, b) == [False]
    assert present(chain[4].secret, b) == [True]
    for i in (1, 0, 2):
        assert b.process(messages[i], now=NOW).data == b"message %d" % i  # type: ignore[union-attr]
        assert present(chain[i].key, b) == present(chain[i].nonce, b) == [False]
    for g in chain[:4]:
        assert present(g.key, b) == present(g.secret, b) == [False]

    # in order at c
    for message in messages:
        assert isinstance(c.process(message, now=NOW), ApplicationMessage)
    for secret in [
        keys["encryption"],
        *(nodes[x] for x in path),
        *(s for g in chain[:4] for s in vars(g).values()),
    ]:
        assert present(secret, a, b, c) == [False, False, False]
    for secret in sender_data_keys:  # sender-data keys and nonces are never stored
        assert present(secret, a, b, c) == [False, False, False]


# --- (b) epochs beyond the window -----------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0, 1, 3])
def test_nothing_of_an_epoch_beyond_the_window_is_left(keep: int) -> None:
    net = InMemoryGroup(seed=f"forward secrecy b {keep}", config=GroupConfig(max_past_epochs=keep))
    net.create("a")
    net.add("a", "b", "c")
    probe = net.key_package("d")
    staged = net.commit("a", add=[probe.key_package])
    assert staged.welcome is not None
    a, c = net["a"], net["c"]
    keys = confirmed_epoch_keys(a, staged.welcome, probe)
    old_epoch = a.epoch
    leaves = n_leaves(a)
    nodes = tree_secrets(keys["encryption"], leaves)
    ratchets = {
        (leaf, label): ratchet(nodes[2 * leaf], label, 3)
        for leaf in range(leaves)
        for label in ("application", "handshake")
    }

    for sender in ("a", "b", "a"):
        net.send(sender, b"in epoch %d" % old_epoch)
    late = a.create_message(b"late", rng=net.rng)
    net.deliver("a", late, to=["b", "d"])  # c reads it only later
    leaf, generation, plaintext = open_by_hand(
        late, keys["sender data"], ratchets[a.own_leaf_index, "application"]
    )
    assert (leaf, generation) == (a.own_leaf_index, 2) and plaintext.startswith(_opaque(b"late"))
    everything = [*keys.secrets.values(), *nodes.values()]
    everything += [s for chain in ratchets.values() for g in chain for s in vars(g).values()]
    assert any(s in c.to_bytes() for s in everything)  # c holds some of them now, of course

    # secrets no late message needs go as soon as the epoch ends
    ended = [keys[k] for k in ("joiner", "member", "welcome", "epoch", "exporter", "external", "confirm")]
    ended += [keys[k] for k in ("membership", "authentication", "init")]
    for k in range(1, keep + 2):
        net.update(("a", "b", "c", "d")[k % 4])
        assert net["a"].epoch == old_epoch + k
        members = list(net.members.values())
        for secret in ended:
            assert not any(present(secret, *members))
        if k <= keep:  # still in the window: c can read the late message (checked on a copy)
            assert present(keys["sender data"], c) == [True]
            assert present(keys["resumption"], c) == [True]  # kept for resumption PSKs
            copy = Group.from_bytes(c.to_bytes())
            event = copy.process(late, now=NOW)
            assert (
                isinstance(event, ApplicationMessage) and event.epoch == old_epoch and event.data == b"late"
            )

    members = list(net.members.values())
    for secret in everything:
        assert not any(present(secret, *members))
    before = c.to_bytes()
    with pytest.raises(WrongEpochError):
        c.process(late, now=NOW)
    assert c.to_bytes() == before


# --- (c) path secrets and replaced private keys ---------------------------------------------------------------
def derive_path(path_secret: bytes, count: int) -> tuple[list[bytes], list[bytes], list[bytes], bytes]:
    """``count`` nodes up from the node of ``path_secret``: their path secrets, private and public keys, and
    the commit secret after them (RFC 9420 7.4)."""
    secrets, private, public = [], [], []
    for _ in range(count):
        secrets.append(path_secret)
        key = SUITE.hpke_derive_key_pair(derive_secret(SUITE, path_secret, "node"))
        private.append(key.to_bytes())
        public.append(key.public_bytes())
        path_secret = derive_secret(SUITE, path_secret, "path")
    return secrets, private, public, path_secret


def test_path_secrets_are_never_stored_and_replaced_keys_are_deleted() -> None:
    net = InMemoryGroup(seed="forward secrecy c")
    net.create("a")
    bundles = {name: net.key_package(name) for name in ("b", "c", "d", "e")}
    net.commit("a", add=[bundle.key_package for bundle in bundles.values()])  # leaves 1-4, parents blank
    net.remove("a", "b")  # leaf 1 is free again
    a, c, d, e = net["a"], net["c"], net["d"], net["e"]
    assert [net.leaf(n) for n in "acde"] == [0, 2, 3, 4]
    for name in "cde":
        assert present(bundles[name].encryption_private_key.to_bytes(), net[name]) == [True]
        assert present(bundles[name].init_private_key.to_bytes(), net[name]) == [False]

    # a adds f (into leaf 1) with a full path: f's Welcome carries the path secret of node 1, the lowest
    # common ancestor of leaves 0 and 1; a's filtered direct path is nodes 1, 3, 7
    f_bundle = net.key_package("f")
    init_before = Group.from_bytes(e.to_bytes()).state.current.secrets.init_secret  # a copy's, before
    staged = a.commit(rng=net.rng, now=NOW, add=[f_bundle.key_package], force_path=True)
    assert staged.welcome is not None and staged.message is not None
    given = group_secrets(staged.welcome, f_bundle)
    assert given.path_secret is not None
    secrets, private, public, commit_secret = derive_path(given.path_secret, 3)
    context = staged.group_context
    assert context is not None
    joiner = expand_with_label(
        SUITE, SUITE.extract(init_before, commit_secret), "joiner", encode(context), NH
    )
    assert joiner == given.joiner_secret  # the derived commit secret is the commit's
    never = [*secrets, commit_secret]
    assert not any(secret in a.to_bytes() for secret in never)  # not even while the commit is pending
    net.deliver("a", staged.message)
    a.merge_pending_commit()
    net.members["f"] = f = Group.join(staged.welcome, f_bundle, net.signer("f"), now=NOW)
    tree = f.ratchet_tree()
    assert [tree[x].value.encryption_key for x in (1, 3, 7)] == public  # type: ignore[union-attr]
    net.check_agreement()

    members = [a, c, d, e, f]
    for secret in never:
        assert not any(present(secret, *members))
    # who holds which node key: a and f the whole path, c and d (below node 3) nodes 3 and 7, e node 7
    assert [present(k, *members) for k in private] == [
        [True, False, False, False, True],
        [True, True, True, False, True],
        [True, True, True, True, True],
    ]

    # d's Update proposal, committed by e: d's direct path (nodes 5, 3, 7) is blanked, e's path (9, 11, 7)
    # fills 7 again; the keys of 3 (blank now) and 7 (replaced) are deleted everywhere, node 1's stays
    # valid; d's old leaf key (its key package's) is deleted
    d_leaf_key = bundles["d"].encryption_private_key.to_bytes()
    net.deliver("d", d.propose_update(rng=net.rng, now=NOW))
    net.commit("e")
    assert [present(k, *members) for k in private] == [
        [True, False, False, False, True],
        [False] * 5,
        [False] * 5,
    ]
    assert present(d_leaf_key, d) == [False]

    # c commits a self-update: its old leaf key is deleted (f's, from its key package, stays)
    c_leaf_key = bundles["c"].encryption_private_key.to_bytes()
    assert present(c_leaf_key, c) == [True]
    net.update("c")
    assert present(c_leaf_key, c) == [False]
    assert present(f_bundle.encryption_private_key.to_bytes(), f) == [True]

    # a proposes an Update but commits itself, so the proposal is dropped: its key must not outlive the epoch
    # (its private half, from a copy of a's state taken right after proposing, is the only honest source)
    net.deliver("a", a.propose_update(rng=net.rng, now=NOW))
    unused = [key.to_bytes() for key in Group.from_bytes(a.to_bytes()).state.own_update_keys.values()]
    assert len(unused) == 1 and present(unused[0], a) == [True]
    # a removes f: f's direct path (1, 3, 7) is blanked and a's new path skips node 1 (its copath child, leaf
    # 1, is blank now), so node 1 stays blank and its key leaves a's state
    net.remove("a", "f")
    assert present(private[0], a) == [False]
    assert present(unused[0], a) == [False]
    for secret in never:
        assert not any(present(secret, *members))
