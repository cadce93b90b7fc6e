"""MLS core benchmarks (suite 3, MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519), each figure beside the
cost of the primitive operations it cannot avoid (its *floor*), measured in the same run.

    python benchmarks/mls_bench.py            # full run, JSON on stdout (about 20 s; progress on stderr)
    python benchmarks/mls_bench.py --quick    # smaller sizes and fewer rounds (a few seconds)
    python benchmarks/mls_bench.py --only app,join

The JSON is also written to ``benchmarks/results/mls-<UTC timestamp>.json`` (git-ignored).

Figures (the issue's suite):

``app_message``
    ``Group.create_message`` of 1 KiB + ``Group.process`` of it at another member. Floor: one Ed25519 sign and
    verify of a message of the same size as the signed content, one ChaCha20-Poly1305 seal and open of 1 KiB
    (key object reused: the floor leaves out even the per-message key setup MLS needs). Target <= 1.5x.
``add_members``
    ``Group.create`` + one commit adding N members (N fresh key packages, no path) + building the Welcome.
    Floor: per member, the key package verification RFC 9420 10.1 requires (two Ed25519 verifications:
    KeyPackageTBS and LeafNodeTBS) and one HPKE seal of its GroupSecrets.
``commit_full_path``
    a full-path update commit in a group of N members whose parent nodes are all populated (the state after
    every member committed once; the tree and both members' states are built directly): ``create`` is
    ``Group.commit(force_path=True)`` by leaf 0, ``process`` is ``Group.process`` of that commit at leaf 1 (the
    worst case: its lowest common ancestor with the committer is the lowest path node, so it derives every
    path key). Floors: as the issue states them, ``create`` = log2(N) HPKE seals + 1 sign and ``process`` =
    1 HPKE open + log2(N) DeriveKeyPair + 1 verify; ``inherent`` adds what RFC 9420 also requires: the
    committer derives log2(N) + 1 node key pairs and signs both its LeafNode and the FramedContent, the
    receiver verifies both signatures. Target: N = 10000 costs <= 2x N = 1000 (``ratio_10000_over_1000``: both
    sizes timed back to back in each round, median of the per-round ratios; ``log2_ratio`` is what the
    O(log N) HPKE and key-derivation work alone would give).
``first_update_after_bulk_add``
    the first full-path commit after N members were added in one commit without path (every parent blank),
    create and process. Its O(N) encryptions are inherent. Floor: N - 1 HPKE seals + 2 signs (create);
    1 HPKE open + log2(N) DeriveKeyPair + 2 verifies (process; the receiver also parses the N - 1
    ciphertexts of the commit, which no floor counts).
``join``
    ``Group.join`` from a Welcome (ratchet tree in the GroupInfo) into a group of N members whose last member
    was added by a full-path commit. Floor: N leaf-signature verifications (Ed25519, each under its own
    key, over each leaf's LeafNodeTBS). Target <= 1.5x.

Every figure is the median over several rounds; each round times the figure and its floor back to back, so a
noisy (shared, 2-core) machine slows both alike. ``ratio_to_floor`` is the median of the per-round ratios,
``best_ratio_to_floor`` the fastest figure over the fastest floor (the quiet-machine estimate). HPKE floors use
the suite's HPKE (the in-tree RFC 9180 code the engine runs), signatures and AEADs ``cryptography`` directly.
``table`` in the JSON lists every figure with its floor, ratio and target.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pyxmtp.mls.codec import encode_varint
from pyxmtp.mls.constants import LeafNodeSource, ProtocolVersion, WireFormat
from pyxmtp.mls.crypto import CipherSuite, HPKEPrivateKey, get_suite
from pyxmtp.mls.framing.content import FramedContent, Sender
from pyxmtp.mls.framing.protection import content_tbs
from pyxmtp.mls.group import XMTP_CONFIG, Group, GroupStatus
from pyxmtp.mls.group.epoch import Epoch
from pyxmtp.mls.group.state import GroupState
from pyxmtp.mls.key_packages import KeyPackageBundle, create_key_package, default_capabilities, sign_leaf_node
from pyxmtp.mls.key_schedule import EpochSecrets
from pyxmtp.mls.messages.credential import Credential
from pyxmtp.mls.messages.group_info import GroupContext
from pyxmtp.mls.tree.leaf_validation import LEAF_NODE_TBS_LABEL
from pyxmtp.mls.tree.nodes import LeafNode, ParentNode
from pyxmtp.mls.tree.private import TreePrivateState
from pyxmtp.mls.tree.ratchet_tree import NodeValue, RatchetTree
from pyxmtp.mls.tree.secret_tree import RatchetConfig
from pyxmtp.mls.tree.treekem import derive_node_key

# The in-memory group helpers are test code (tests/mls/helpers.py), not part of the package.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.mls.helpers import InMemoryGroup, SeededRandom  # noqa: E402

SUITE_ID = 3
NOW = 1_700_000_000
PAYLOAD = 1024


# --- timing ---------------------------------------------------------------------------------------------------
def timed(fn: Callable[[], object], number: int = 1) -> float:
    """Seconds per call of ``fn`` over ``number`` calls (garbage collection paused, as ``timeit`` does)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        if enabled:
            gc.enable()


@dataclass
class Series:
    """Per-round timings of a figure and its floor(s)."""

    figure: list[float]
    floors: dict[str, list[float]]

    def summary(self, target: float | None = None) -> dict[str, Any]:
        """Medians of the figure and floors, and the median of the per-round ratios (each round's figure and
        floor ran back to back, so this ratio is the least sensitive to load changes between rounds)."""
        out: dict[str, Any] = {"seconds": statistics.median(self.figure), "rounds": len(self.figure)}
        for name, values in self.floors.items():
            key = "floor" if name == "floor" else f"{name}_floor"
            out[f"{key}_seconds"] = statistics.median(values)
            out[f"ratio_to_{key}"] = statistics.median(
                f / x for f, x in zip(self.figure, values, strict=True)
            )
        # the quiet-machine estimate: fastest figure over fastest floor
        out["best_ratio_to_floor"] = min(self.figure) / min(self.floors["floor"])
        if target is not None:
            out["target_ratio"] = target
            out["meets_target"] = out["ratio_to_floor"] <= target
        return out


def rounds(n_rounds: int, figure: Callable[[], float], floors: dict[str, Callable[[], float]]) -> Series:
    """Alternate the figure and its floors ``n_rounds`` times (one warm-up round first, not kept)."""
    figure()
    for f in floors.values():
        f()
    series = Series([], {name: [] for name in floors})
    for _ in range(n_rounds):
        series.figure.append(figure())
        for name, f in floors.items():
            series.floors[name].append(f())
    return series


# --- primitive floors -----------------------------------------------------------------------------------------
class Primitives:
    """The primitives floors are made of: ``cryptography`` Ed25519 and ChaCha20-Poly1305, and the suite's
    HPKE (the in-tree RFC 9180 implementation the engine uses)."""

    def __init__(self, suite: CipherSuite) -> None:
        self.suite = suite
        rng = SeededRandom(b"floor")
        self.rng = rng
        self.ed_key = Ed25519PrivateKey.from_private_bytes(rng(32))
        self.ed_pub = self.ed_key.public_key()
        self.recipient = suite.hpke_generate_key_pair(rng)
        self.recipient_pub = self.recipient.public_bytes()
        self.info = os.urandom(120)
        self.secret = os.urandom(32)
        self.kem_output, self.ciphertext = suite.hpke_seal(
            self.recipient_pub, self.info, b"", self.secret, rng
        )

    def sign_verify(self, message: bytes) -> float:
        key, pub = self.ed_key, self.ed_pub
        return timed(lambda: pub.verify(key.sign(message), message), 200)

    def sign(self, message: bytes) -> float:
        key = self.ed_key
        return timed(lambda: key.sign(message), 200)

    def verify(self, message: bytes) -> float:
        signature, pub = self.ed_key.sign(message), self.ed_pub
        return timed(lambda: pub.verify(signature, message), 100)

    def hpke_seal(self) -> float:
        suite, pub, info, secret, rng = self.suite, self.recipient_pub, self.info, self.secret, self.rng
        return timed(lambda: suite.hpke_seal(pub, info, b"", secret, rng), 100)

    def hpke_open(self) -> float:
        suite, key, info = self.suite, self.recipient, self.info
        kem_output, ciphertext = self.kem_output, self.ciphertext
        return timed(lambda: suite.hpke_open(key, kem_output, info, b"", ciphertext), 100)

    def derive_key_pair(self) -> float:
        suite, secret = self.suite, self.secret
        return timed(lambda: suite.hpke_derive_key_pair(secret), 100)


# --- (a) application messages ---------------------------------------------------------------------------------
def bench_app_message(prims: Primitives, n_rounds: int) -> dict[str, Any]:
    net = InMemoryGroup(SUITE_ID, seed=1)
    net.create("alice")
    net.add("alice", "bob")
    alice, bob = net["alice"], net["bob"]
    payload = os.urandom(PAYLOAD)
    rng = os.urandom
    # what the content signature covers: SignContent {label, FramedContentTBS} of this very message
    framed = FramedContent(alice.group_id, alice.epoch, Sender.member(alice.own_leaf_index), b"", payload)
    tbs_len = len(content_tbs(WireFormat.private_message, framed, alice.group_context))
    tbs = os.urandom(len(_label("FramedContentTBS")) + len(encode_varint(tbs_len)) + tbs_len)
    aead = ChaCha20Poly1305(os.urandom(32))
    nonce = os.urandom(12)
    ed_key, ed_pub = prims.ed_key, prims.ed_pub

    def floor_once() -> None:
        ed_pub.verify(ed_key.sign(tbs), tbs)
        aead.decrypt(nonce, aead.encrypt(nonce, payload, b"aad"), b"aad")

    def round_trip() -> None:
        bob.process(alice.create_message(payload, rng=rng), now=NOW)

    def protect() -> float:
        return timed(lambda: alice.create_message(payload, rng=rng), 200)

    data = alice.create_message(payload, rng=rng)
    event = bob.process(data, now=NOW)
    assert getattr(event, "data", None) == payload
    series = rounds(
        n_rounds,
        lambda: timed(round_trip, 25),
        {"floor": lambda: timed(floor_once, 25)},
    )
    out = series.summary(target=1.5)
    out["message_bytes"] = len(data)
    out["protect_only_seconds"] = statistics.median(protect() for _ in range(max(3, n_rounds // 3)))
    out["figure"] = "Group.create_message(1 KiB) + Group.process at the receiver"
    out["signed_bytes"] = len(tbs)
    out["floor_ops"] = (
        f"Ed25519 sign + verify of {len(tbs)} bytes + ChaCha20-Poly1305 seal + open of 1 KiB (key object reused)"
    )
    return out


# --- (b) create group + add N members -------------------------------------------------------------------------
def key_packages(n: int, seed: int) -> tuple[list[KeyPackageBundle], Any]:
    suite = get_suite(SUITE_ID)
    rng = SeededRandom(seed)
    out = []
    for i in range(n):
        signer = suite.generate_signature_key(rng)
        out.append(create_key_package(suite, signer, Credential.basic(b"m%d" % i), rng=rng, now=NOW))
    return out, rng


def bench_add_members(prims: Primitives, n: int, n_rounds: int) -> dict[str, Any]:
    suite = prims.suite
    bundles, rng = key_packages(n, seed=n)
    kps = [b.key_package for b in bundles]
    creator = suite.generate_signature_key(rng)
    credential = Credential.basic(b"creator")
    leaf_tbs = kps[0].leaf_node.tbs()
    kp_tbs = kps[0].tbs()

    def figure() -> float:
        def once() -> None:
            group = Group.create(suite, creator, credential, rng=os.urandom, now=NOW)
            staged = group.commit(add=kps, rng=os.urandom, now=NOW)
            assert staged.welcome is not None

        return timed(once)

    def floor() -> float:
        return n * (prims.verify(leaf_tbs) + prims.verify(kp_tbs) + prims.hpke_seal())

    out = rounds(n_rounds, figure, {"floor": floor}).summary()
    out["n"] = n
    out["floor_ops"] = f"{n} x (2 Ed25519 verifications + 1 HPKE seal)"
    return out


# --- (c) full-path commit in a full tree ----------------------------------------------------------------------
@dataclass
class FullTree:
    committer: Group
    receiver: Group
    n: int


def _leaf(suite: CipherSuite, signer: Any, encryption_key: bytes, name: bytes) -> LeafNode:
    credential = Credential.basic(name)
    return sign_leaf_node(
        suite,
        signer,
        encryption_key=encryption_key,
        credential=credential,
        capabilities=default_capabilities(suite, credential),
        source=LeafNodeSource.update,
        group_id=b"bench-group-0001",
        leaf_index=0,  # the signature is never checked for these leaves
    )


def build_full_tree(n: int, seed: int = 7) -> FullTree:
    """Two members (leaves 0 and 1) of an n-member group whose every parent node is populated, built directly:
    random public keys for the other members and for parents off leaf 1's path, real keys where a member
    needs its private key. Both states share the epoch's secrets, context and transcript."""
    suite = get_suite(SUITE_ID)
    rng = SeededRandom(seed)
    width = 1
    while width < n:
        width *= 2
    group_id = b"bench-group-0001"
    signers = [suite.generate_signature_key(rng) for _ in range(2)]
    leaf_keys = [suite.hpke_generate_key_pair(rng) for _ in range(2)]
    nodes: list[NodeValue] = [None] * (2 * width - 1)
    template = _leaf(suite, signers[0], leaf_keys[0].public_bytes(), b"member")
    for i in range(n):
        if i < 2:
            nodes[2 * i] = _leaf(suite, signers[i], leaf_keys[i].public_bytes(), b"member")
        else:
            nodes[2 * i] = replace(template, encryption_key=rng(32), signature_key=rng(32))
    probe = RatchetTree(suite, nodes)
    receiver_path = set(probe.direct_path(1))
    path_keys: dict[int, HPKEPrivateKey] = {}
    for x in range(1, 2 * width - 1, 2):
        if probe.resolution_is_empty(x):
            continue
        if x in receiver_path:
            path_keys[x] = derive_node_key(suite, rng(32))
            key = path_keys[x].public_bytes()
        else:
            key = rng(32)
        nodes[x] = ParentNode(key, b"", ())
    tree = RatchetTree(suite, nodes)
    context = GroupContext(ProtocolVersion.mls10, suite.id, group_id, 5, tree.tree_hash(), rng(32), ())
    secrets = EpochSecrets.from_epoch_secret(suite, rng(32))
    interim, tag = rng(32), rng(32)
    ratchet_config = RatchetConfig(XMTP_CONFIG.out_of_order_tolerance, XMTP_CONFIG.max_forward_distance)

    def member(i: int, private: TreePrivateState) -> Group:
        epoch = Epoch.start(suite, context, private, secrets, tree.n_leaves, interim, tag, ratchet_config)
        state = GroupState(
            suite, group_id, XMTP_CONFIG, GroupStatus.OPERATIONAL, i, signers[i], tree.copy(), epoch
        )
        return Group(state)

    committer = member(0, TreePrivateState(suite, 0, leaf_keys[0], {}))
    receiver = member(1, TreePrivateState(suite, 1, leaf_keys[1], path_keys))
    return FullTree(committer, receiver, n)


class CommitBench:
    """A full tree of ``n`` members with a prepared commit: :meth:`create` and :meth:`process` run one each."""

    def __init__(self, n: int) -> None:
        fx = build_full_tree(n)
        self.n = n
        self.committer, self.receiver = fx.committer, fx.receiver
        self.message = b""
        self.create()
        staged = self.receiver.process(self.message, now=NOW)
        assert getattr(staged, "epoch_authenticator", None) is not None

    def create(self) -> None:
        staged = self.committer.commit(force_path=True, rng=os.urandom, now=NOW)
        assert staged.message is not None
        self.message = staged.message
        self.committer.clear_pending_commit()

    def process(self) -> None:
        self.receiver.process(self.message, now=NOW)


def bench_commit_full(prims: Primitives, bench: CommitBench, n_rounds: int, runs: int) -> dict[str, Any]:
    levels = math.ceil(math.log2(bench.n))
    sig_msg = os.urandom(200)
    create = rounds(
        n_rounds,
        lambda: timed(bench.create, runs),
        {
            "floor": lambda: levels * prims.hpke_seal() + prims.sign(sig_msg),
            "inherent": lambda: (
                levels * prims.hpke_seal() + (levels + 1) * prims.derive_key_pair() + 2 * prims.sign(sig_msg)
            ),
        },
    ).summary()
    process = rounds(
        n_rounds,
        lambda: timed(bench.process, runs),
        {
            "floor": lambda: prims.hpke_open() + levels * prims.derive_key_pair() + prims.verify(sig_msg),
            "inherent": lambda: (
                prims.hpke_open() + levels * prims.derive_key_pair() + 2 * prims.verify(sig_msg)
            ),
        },
    ).summary()
    return {
        "n": bench.n,
        "log2_n": levels,
        "create": create,
        "process": process,
        "commit_bytes": len(bench.message),
    }


def commit_scaling(small: CommitBench, big: CommitBench, n_rounds: int, runs: int) -> dict[str, Any]:
    """big / small cost of create and of process, timed back to back in each round (median of the per-round
    ratios), and the ratio of log2(N) (what the HPKE seals and key derivations alone would give)."""
    out: dict[str, Any] = {}
    for what in ("create", "process"):
        ratios = []
        for _ in range(n_rounds):
            t_small = timed(getattr(small, what), runs)
            t_big = timed(getattr(big, what), runs)
            ratios.append(t_big / t_small)
        out[what] = statistics.median(ratios)
    out["log2_ratio"] = math.log2(big.n) / math.log2(small.n)
    out["target"] = 2.0
    return out


# --- (d) first update after a bulk add ------------------------------------------------------------------------
def bulk_group(n: int, seed: int, joiners: tuple[str, ...] = ()) -> InMemoryGroup:
    """A group of n members added by m0 in one commit without path (every parent node blank). Only m0 and
    the members named in ``joiners`` hold a group state (the others' joins would only slow the setup)."""
    net = InMemoryGroup(SUITE_ID, seed=seed)
    creator = net.create("m0")
    bundles = {f"m{i}": net.key_package(f"m{i}") for i in range(1, n)}
    staged = creator.commit(add=[b.key_package for b in bundles.values()], rng=net.rng, now=NOW)
    creator.merge_pending_commit()
    assert staged.welcome is not None and not staged.has_path
    for name in joiners:
        net.members[name] = Group.join(staged.welcome, bundles[name], net.signer(name), now=NOW)
    return net


def bench_first_update(prims: Primitives, n: int, n_rounds: int) -> dict[str, Any]:
    net = bulk_group(n, seed=n, joiners=("m1",))
    committer, receiver = net["m0"], net["m1"]
    levels = math.ceil(math.log2(n))
    message = b""

    def create_once() -> None:
        nonlocal message
        staged = committer.commit(force_path=True, rng=os.urandom, now=NOW)
        assert staged.message is not None
        message = staged.message
        committer.clear_pending_commit()

    create_once()

    def process_once() -> None:
        receiver.process(message, now=NOW)

    sig_msg = os.urandom(200)
    create = rounds(
        n_rounds,
        lambda: timed(create_once),
        {"floor": lambda: (n - 1) * prims.hpke_seal() + 2 * prims.sign(sig_msg)},
    ).summary()
    process = rounds(
        n_rounds,
        lambda: timed(process_once, 5),
        {"floor": lambda: prims.hpke_open() + levels * prims.derive_key_pair() + 2 * prims.verify(sig_msg)},
    ).summary()
    return {"n": n, "create": create, "process": process, "commit_bytes": len(message)}


# --- (e) join from a Welcome ----------------------------------------------------------------------------------
def bench_join(prims: Primitives, n: int, n_rounds: int) -> dict[str, Any]:
    net = bulk_group(n - 1, seed=10_000 + n)
    bundle = net.key_package("joiner")
    del net.waiting[bundle.key_package.leaf_node.signature_key]
    staged = net["m0"].commit(add=[bundle.key_package], force_path=True, rng=net.rng, now=NOW)
    assert staged.welcome is not None
    welcome = staged.welcome
    net["m0"].merge_pending_commit()
    signer = net.signer("joiner")
    joined = Group.join(welcome, bundle, signer, now=NOW)
    assert joined.epoch_authenticator == net["m0"].epoch_authenticator

    # the floor: every leaf's signature, verified under its own (freshly parsed) key
    tree = joined.state.tree
    group_id = joined.group_id
    checks = []
    for i, leaf in tree.members():
        tbs = leaf.tbs(group_id, i)
        content = _label(LEAF_NODE_TBS_LABEL) + _opaque(tbs)
        checks.append((leaf.signature_key, content, leaf.signature))
    assert len(checks) == n

    def floor() -> float:
        def once() -> None:
            for key, content, signature in checks:
                Ed25519PublicKey.from_public_bytes(key).verify(signature, content)

        return timed(once)

    out = rounds(
        n_rounds,
        lambda: timed(lambda: Group.join(welcome, bundle, signer, now=NOW)),
        {"floor": floor},
    ).summary(target=1.5)
    out["n"] = n
    out["welcome_bytes"] = len(welcome)
    out["floor_ops"] = f"{n} Ed25519 verifications of LeafNodeTBS, each under its own key"
    return out


def _opaque(data: bytes) -> bytes:
    return encode_varint(len(data)) + data


def _label(label: str) -> bytes:
    return _opaque(b"MLS 1.0 " + label.encode())


# --- driver ---------------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": platform.python_implementation() + " " + platform.python_version(),
        "cryptography": cryptography.__version__,
        "openssl": openssl_backend.openssl_version_text(),
        "platform": platform.platform(),
    }


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: what, N, seconds, floor seconds, ratio (median of per-round ratios), target."""
    rows: list[dict[str, Any]] = []

    def row(figure: str, n: int | None, r: dict[str, Any], target: str | None = None) -> None:
        rows.append(
            {
                "figure": figure,
                "n": n,
                "ms": round(r["seconds"] * 1e3, 3),
                "floor_ms": round(r["floor_seconds"] * 1e3, 3),
                "ratio": round(r["ratio_to_floor"], 2),
                "target": target,
            }
        )

    if "app_message" in results:
        row("app message protect + unprotect (1 KiB)", None, results["app_message"], "<= 1.5x floor")
    for r in results.get("add_members", []):
        row("create group + add N members (one commit)", r["n"], r)
    commit = results.get("commit_full_path")
    if commit:
        ratio_key = next(k for k in commit if k.startswith("ratio_"))
        ratios = commit[ratio_key]
        for r in commit["rows"]:
            big = ratio_key.split("_")[1] == str(r["n"])
            row(
                "full-path commit, create (all parents populated)",
                r["n"],
                r["create"],
                f"{ratio_key}: {ratios['create']:.2f} (<= 2)" if big else None,
            )
            row(
                "full-path commit, process (all parents populated)",
                r["n"],
                r["process"],
                f"{ratio_key}: {ratios['process']:.2f} (<= 2)" if big else None,
            )
    for r in results.get("first_update_after_bulk_add", []):
        row("first update after bulk add, create (O(N) seals)", r["n"], r["create"])
        row("first update after bulk add, process", r["n"], r["process"])
    for r in results.get("join", []):
        row("join from a Welcome", r["n"], r, "<= 1.5x floor" if r["n"] == 1000 else None)
    return rows


FIGURES = ("app", "add", "commit", "sparse", "join")


def write_report(report: dict[str, object], name: str, quick: bool, out: Path | None) -> Path:
    """Print ``report`` as JSON and save it (default ``benchmarks/results/<name>-<UTC stamp>[-quick].json``)."""
    text = json.dumps(report, indent=2)
    print(text)
    if out is None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = Path(__file__).resolve().parent / "results" / f"{name}-{stamp}{'-quick' if quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated subset of {FIGURES}")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}")
    quick = args.quick
    load_at_start = os.getloadavg()
    suite = get_suite(SUITE_ID)
    prims = Primitives(suite)
    started = time.perf_counter()
    results: dict[str, Any] = {}

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    if "app" in only:
        log("app message")
        results["app_message"] = bench_app_message(prims, 30 if quick else 150)
    if "add" in only:
        results["add_members"] = []
        for n in (10, 100) if quick else (10, 100, 250, 1000):
            log(f"create + add {n}")
            results["add_members"].append(bench_add_members(prims, n, 3 if quick else (7 if n < 1000 else 5)))
    if "commit" in only:
        sizes = (100, 1000) if quick else (100, 1000, 10000)
        benches = {}
        rows = []
        for n in sizes:
            log(f"full-path commit, n={n}")
            benches[n] = CommitBench(n)
            rows.append(bench_commit_full(prims, benches[n], 3 if quick else 9, 5 if quick else 10))
        small, big = sizes[-2:]
        log(f"full-path commit, {big} / {small}")
        results["commit_full_path"] = {
            "rows": rows,
            f"ratio_{big}_over_{small}": commit_scaling(
                benches[small], benches[big], 5 if quick else 25, 5 if quick else 10
            ),
        }
    if "sparse" in only:
        results["first_update_after_bulk_add"] = []
        for n in (100,) if quick else (100, 1000):
            log(f"first update after bulk add, n={n}")
            results["first_update_after_bulk_add"].append(bench_first_update(prims, n, 3 if quick else 7))
    if "join" in only:
        results["join"] = []
        for n in (100,) if quick else (100, 1000):
            log(f"join, n={n}")
            results["join"].append(bench_join(prims, n, 3 if quick else 9))
    log("done")

    info = machine()
    info["load_average_at_start"] = load_at_start
    info["load_average_at_end"] = os.getloadavg()
    report = {
        "benchmark": "pyxmtp.mls",
        "cipher_suite": "0x0003 MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
        "quick": quick,
        "machine": info,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "table": table(results),
        "results": results,
    }
    out = write_report(report, "mls", quick, args.out)
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
