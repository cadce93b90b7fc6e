"""Client benchmarks: the per-message and per-conversation work of :mod:`pyxmtp.client` on a real two-installation
DM (real signed identity logs, XMTP's cipher suite 3), sans-IO: no node, no network; only the client's SQLite store
touches the disk (a real file in a temp directory, the store's own settings: WAL, ``synchronous=FULL``). Each
figure is timed beside its *floor*, the MLS or signature work it cannot avoid, measured in the same run.

    python benchmarks/client_bench.py            # full run, JSON on stdout (about 20 s; progress on stderr)
    python benchmarks/client_bench.py --quick    # fewer rounds (a few seconds)
    python benchmarks/client_bench.py --only receive,send --db-dir /some/disk

The JSON is also written to ``benchmarks/results/client-<UTC timestamp>.json`` (git-ignored); a short table
goes to stderr at the end.

Figures (texts of 20 bytes and of 1 KiB):

``receive_text``
    what ``ClientConversation.apply`` does for an incoming text, in order: SHA-256 of the message and the
    own-message lookup, the state snapshot it restores on failure (``to_bytes``), ``Conversation.process``
    (header, ``Group.process``: decrypt and authenticate, PlaintextEnvelope, message id), then one store
    transaction with the message record and ``update_conversation(group_id, conversation.to_bytes(),
    cursor)``, then ``decode_content``. ``without_store`` is ``Conversation.process`` + ``decode_content``
    alone. Floor: ``Group.process`` alone of a message of the same size, in another DM (so its keys are as
    fresh). What dominates ``with_store`` is the store, not the cryptography: the transaction is one WAL commit
    with ``synchronous=FULL`` followed by the WAL's scrub (``wal_checkpoint(TRUNCATE)``: the log emptied into the
    database, so that the secrets the transaction deleted leave the files), four ``fdatasync`` in all (the new
    log's header, the commit, the log before the checkpoint, the database after it; each a few hundred
    microseconds to milliseconds on this VM's disk, against about 0.2 ms for the whole of ``Group.process``),
    and the group state (about 2 KiB for a DM) is serialized twice per message. The parts: ``store_transaction_seconds`` (the transaction alone,
    the state already serialized), ``disk_sync_seconds`` (a bare 4 KiB overwrite + ``fdatasync`` in the same
    directory: the disk's floor for any durable commit) and ``state_to_bytes_seconds`` (one serialization).
    The rest of ``without_store`` over its floor is the XMTP layer: the header parse, the sender's credential,
    the PlaintextEnvelope and EncodedContent protobufs and the message id.
``send_text``
    what ``ClientConversation.send`` does before the network call: ``encode_text``, ``build_plaintext_envelope``,
    ``Conversation.encrypt``, the message id, the store transaction (the unpublished message record with its
    payload hash and MLS bytes + the group state) and the sender HMAC. ``without_store`` leaves out the
    transaction (and the serialization for it); its cost over the floor is the EncodedContent and envelope
    protobufs and the HMAC key's HKDF. Floor: ``Group.create_message`` alone of an envelope of the same size (in another DM).
``join_dm``
    ``Conversation.join`` of a DM welcome: ``Group.join`` with the XMTP config, the XMTP group context read, and
    the membership check of every leaf against the members' association states (precomputed, as the client's
    identity cache holds them). Floor: ``Group.join`` of the same welcome. The welcome unwrapping (one HPKE
    open) and the store write of the client's join are not counted; the same welcome is joined each time, so
    the suite's parsed-key caches are warm for the figure and the floor alike.
``identity_state``
    ``get_state`` of an inbox's first identity update (CreateInbox + AddAssociation of its installation, signed
    by the wallet, ERC-191, and the installation, Ed25519ph), what the client computes for every member inbox
    it has not seen. Reference floor: one Ed25519ph verification (``verify_ed25519ph``, as identity runs it)
    + one EIP-191 address recovery (``recover_address``: secp256k1 recovery and Keccak-256); the wallet's one
    signature serves both actions and is verified once.
``sync`` and ``bot``
    through an in-process node: ``sync()`` of a backlog, per message; and a bot (its own process) streaming all
    messages in 1 000 conversations, its CPU time per message against the same bot in one conversation (the
    floor, same run), and its memory (:mod:`client_bot`; ``--bot-conversations N``).

Every figure is the median over several rounds; each round times the figure(s) and the floor back to back, so a
noisy (shared, 2-core) machine slows both alike. ``ratio_to_floor`` is the median of the per-round ratios,
``best_ratio_to_floor`` the fastest figure over the fastest floor. Messages are made (untimed) just before the
round that processes them. ``table`` in the JSON lists every figure with its floor and ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client_bot import bench_bot
from mls_bench import Series, machine, timed, write_report

from pyxmtp.client import Client
from pyxmtp.client.store import ClientStore, ConversationRecord, DeliveryStatus, MessageRecord, Outgoing
from pyxmtp.conversations.content import (
    build_plaintext_envelope,
    decode_content,
    encode_text,
    message_id,
    sender_hmac,
    sender_hmac_key,
)
from pyxmtp.conversations.conversation import Conversation, Received
from pyxmtp.conversations.key_packages import XMTP_CIPHER_SUITE, create_xmtp_key_package
from pyxmtp.conversations.new_group import dm_extensions
from pyxmtp.identity.associations import get_state
from pyxmtp.identity.builder import create_inbox_request
from pyxmtp.identity.eth import LocalWalletSigner, recover_address
from pyxmtp.identity.inbox import inbox_id_for
from pyxmtp.identity.installation import InstallationKey, verify_ed25519ph
from pyxmtp.identity.state import AssociationState
from pyxmtp.mls.crypto.keys import SignaturePrivateKey
from pyxmtp.mls.crypto.suite import get_suite
from pyxmtp.mls.group import XMTP_CONFIG, Group
from pyxmtp.mls.key_packages import KeyPackageBundle
from pyxmtp.node import Node, NodeConfig
from pyxmtp.proto.identity.associations import association_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2

NOW = 1_800_000_000
TEXTS = {"short": "hello, how are you?!", "1KiB": "x" * 1024}
HMAC_KEY = bytes(42)


# --- a DM between two installations with real identity logs ---------------------------------------------------
@dataclass
class Device:
    inbox_id: str
    wallet: LocalWalletSigner
    installation: InstallationKey
    update: association_pb2.IdentityUpdate
    state: AssociationState

    @property
    def signer(self) -> SignaturePrivateKey:
        return get_suite(XMTP_CIPHER_SUITE).signature_key_from_bytes(self.installation.seed)


def registration(wallet: LocalWalletSigner, installation: InstallationKey) -> tuple[str, Any]:
    """A new inbox's signed first update ``[CreateInbox(wallet), AddAssociation(installation)]``, as the client
    registers; its inbox id and the (ready) signature request."""
    request = create_inbox_request(
        wallet.identifier, installation.public_key, nonce=0, client_timestamp_ns=time.time_ns()
    )
    request.sign_with(installation)
    request.sign_with(wallet)
    return inbox_id_for(wallet.identifier, 0), request


def device() -> Device:
    wallet, installation = LocalWalletSigner.generate(), InstallationKey.generate()
    inbox_id, request = registration(wallet, installation)
    update = request.build_identity_update()
    return Device(inbox_id, wallet, installation, update, get_state([update]))


@dataclass
class DM:
    alice: Device
    bob: Device
    a: Conversation
    b: Conversation
    welcome: bytes
    bundle: KeyPackageBundle

    def states_for(self, wanted: Any) -> dict[str, AssociationState]:
        """The members' association states (what the client's identity cache answers)."""
        known = {self.alice.inbox_id: self.alice.state, self.bob.inbox_id: self.bob.state}
        return {i: known[i] for i in wanted}


def dm() -> DM:
    """Alice creates a DM with Bob and adds his installation; Bob joins from the welcome."""
    alice, bob = device(), device()
    a = Conversation.create(
        dm_extensions(alice.inbox_id, bob.inbox_id, rng=os.urandom),
        alice.signer,
        alice.inbox_id,
        rng=os.urandom,
        now=NOW,
    )
    bundle = create_xmtp_key_package(bob.inbox_id, bob.signer, rng=os.urandom, now=NOW)
    staged = a.commit_membership(
        {alice.inbox_id: 1, bob.inbox_id: 1}, add=[bundle.key_package], rng=os.urandom, now=NOW
    )
    a.merge_own_commit()
    assert staged.welcome is not None
    known = {alice.inbox_id: alice.state, bob.inbox_id: bob.state}
    b = Conversation.join(
        staged.welcome, bundle, bob.signer, bob.inbox_id, lambda w: {i: known[i] for i in w}, now=NOW
    )
    return DM(alice, bob, a, b, staged.welcome, bundle)


def envelope_of(text: str) -> bytes:
    content, _ = encode_text(text)
    return build_plaintext_envelope(content, str(time.time_ns()))


def new_store(directory: Path, name: str, conversation: Conversation, added_by: str) -> ClientStore:
    store = ClientStore(directory / f"{name}.db3")
    with store.transaction():
        store.save_conversation(
            ConversationRecord(conversation.group_id, conversation.to_bytes(), 0, time.time_ns(), added_by)
        )
    return store


# --- timing ---------------------------------------------------------------------------------------------------
def interleaved(n_rounds: int, timers: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every timer once per round, back to back, ``n_rounds`` times (one warm-up round first, not kept)."""
    for t in timers.values():
        t()
    out: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(n_rounds):
        for name, t in timers.items():
            out[name].append(t())
    return out


def against_floor(samples: dict[str, list[float]], figure: str) -> dict[str, Any]:
    return Series(samples[figure], {"floor": samples["floor"]}).summary()


def per_message(make: Callable[[], bytes], handle: Callable[[bytes], object], k: int) -> Callable[[], float]:
    """A timer: make ``k`` messages (untimed), then the seconds per ``handle`` of each, in order."""

    def run() -> float:
        batch: Iterator[bytes] = iter([make() for _ in range(k)])
        return timed(lambda: handle(next(batch)), k)

    return run


def disk_sync(directory: Path) -> Callable[[], float]:
    """A timer: overwrite 4 KiB in place in a file in ``directory`` and ``fdatasync`` it, as a WAL commit does at
    the least (the disk's floor for one durable transaction)."""
    path = directory / "fdatasync.probe"
    block, slots = os.urandom(4096), 16
    path.write_bytes(bytes(len(block) * slots))
    written = 0

    def run() -> float:
        fd = os.open(path, os.O_WRONLY)
        try:

            def once() -> None:
                nonlocal written
                os.pwrite(fd, block, (written % slots) * len(block))
                os.fdatasync(fd)
                written += 1

            return timed(once, 5)
        finally:
            os.close(fd)

    return run


# --- (1) receiving a text -------------------------------------------------------------------------------------
def bench_receive(directory: Path, text: str, n_rounds: int, k: int) -> dict[str, Any]:
    pair, other = dm(), dm()
    conv, gid, states_for = pair.b, pair.b.group_id, pair.states_for
    store = new_store(directory, f"receive-{len(text)}", conv, pair.alice.inbox_id)
    server_id = 0

    def make() -> bytes:
        return pair.a.encrypt(envelope_of(text), rng=os.urandom)

    def with_store(data: bytes) -> None:
        nonlocal server_id
        server_id += 1
        payload_hash = hashlib.sha256(data).digest()
        assert not store.is_own_payload(payload_hash)
        conv.to_bytes()  # the snapshot the client restores if the message turns out bad
        outcome = conv.process(data, now=NOW, states_for=states_for)
        assert isinstance(outcome, Received)
        record = MessageRecord(
            outcome.message_id,
            gid,
            server_id,
            outcome.sender.inbox_id,
            outcome.sender.installation_key,
            time.time_ns(),
            outcome.encoded_content,
            DeliveryStatus.PUBLISHED,
        )
        with store.transaction():
            stored = store.add_message(record)
            store.update_conversation(gid, conv.to_bytes(), server_id)
        assert stored
        assert decode_content(record.content) == text

    def without_store(data: bytes) -> None:
        outcome = conv.process(data, now=NOW, states_for=states_for)
        assert isinstance(outcome, Received)
        assert decode_content(outcome.encoded_content) == text

    def make_floor() -> bytes:
        return other.a.encrypt(envelope_of(text), rng=os.urandom)

    def floor(data: bytes) -> None:
        other.b.group.process(data, now=NOW)

    # the transaction alone, with the state already serialized (another group: the figure's rows stay as they are)
    state = conv.to_bytes()
    probe_gid = os.urandom(16)
    with store.transaction():
        store.save_conversation(ConversationRecord(probe_gid, state, 0, 0, "probe"))
    content = encode_text(text)[0]

    def transaction_only() -> None:
        with store.transaction():
            store.add_message(
                MessageRecord(
                    os.urandom(32), probe_gid, None, "x", bytes(32), 0, content, DeliveryStatus.PUBLISHED
                )
            )
            store.update_conversation(probe_gid, state, 0)

    sample = make()
    without_store(sample)  # the receiver reads every message the sender made, in order
    samples = interleaved(
        n_rounds,
        {
            "with_store": per_message(make, with_store, k),
            "without_store": per_message(make, without_store, k),
            "floor": per_message(make_floor, floor, k),
            "transaction": lambda: timed(transaction_only, k),
            "to_bytes": lambda: timed(conv.to_bytes, 50),
            "disk_sync": disk_sync(directory),
        },
    )
    store.close()
    return {
        "text_bytes": len(text.encode()),
        "message_bytes": len(sample),
        "with_store": against_floor(samples, "with_store"),
        "without_store": against_floor(samples, "without_store"),
        "store_transaction_seconds": statistics.median(samples["transaction"]),
        "state_to_bytes_seconds": statistics.median(samples["to_bytes"]),
        "disk_sync_seconds": statistics.median(samples["disk_sync"]),
        "state_bytes": len(conv.to_bytes()),
        "messages_per_round": k,
        "floor_ops": f"Group.process of one {len(sample)}-byte PrivateMessage (another DM)",
    }


# --- (2) sending a text ---------------------------------------------------------------------------------------
def bench_send(directory: Path, text: str, n_rounds: int, k: int) -> dict[str, Any]:
    pair, other = dm(), dm()
    conv, gid = pair.a, pair.a.group_id
    inbox_id, installation_id = pair.alice.inbox_id, pair.alice.installation.public_key
    store = new_store(directory, f"send-{len(text)}", conv, inbox_id)

    def send(persist: bool) -> bytes:
        sent_ns = time.time_ns()
        key = str(sent_ns)
        content, _ = encode_text(text)
        data = conv.encrypt(build_plaintext_envelope(content, key), rng=os.urandom)
        mid = message_id(gid, key, content)
        if persist:
            record = MessageRecord(
                mid, gid, None, inbox_id, installation_id, sent_ns, content, DeliveryStatus.UNPUBLISHED
            )
            with store.transaction():
                store.add_message(
                    record, payload_hash=hashlib.sha256(data).digest(), outgoing=Outgoing(data, key, True)
                )
                store.update_conversation(gid, conv.to_bytes(), 0)
        sender_hmac(sender_hmac_key(HMAC_KEY, gid, sent_ns // 10**9), data)
        return data

    sample = send(True)
    envelope = envelope_of(text)
    floor_group = other.a.group
    samples = interleaved(
        n_rounds,
        {
            "with_store": lambda: timed(lambda: send(True), k),
            "without_store": lambda: timed(lambda: send(False), k),
            "floor": lambda: timed(lambda: floor_group.create_message(envelope, rng=os.urandom), k),
        },
    )
    store.close()
    return {
        "text_bytes": len(text.encode()),
        "message_bytes": len(sample),
        "envelope_bytes": len(envelope),
        "with_store": against_floor(samples, "with_store"),
        "without_store": against_floor(samples, "without_store"),
        "messages_per_round": k,
        "floor_ops": f"Group.create_message of a {len(envelope)}-byte envelope (another DM)",
    }


# --- (3) joining a DM -----------------------------------------------------------------------------------------
def bench_join(n_rounds: int, k: int) -> dict[str, Any]:
    pair = dm()
    welcome, bundle, bob = pair.welcome, pair.bundle, pair.bob
    signer = bob.signer
    joined = Conversation.join(welcome, bundle, signer, bob.inbox_id, pair.states_for, now=NOW)
    assert joined.dm_peer == pair.alice.inbox_id

    def figure() -> None:
        Conversation.join(welcome, bundle, signer, bob.inbox_id, pair.states_for, now=NOW)

    def floor() -> None:
        Group.join(welcome, bundle, signer, now=NOW, config=XMTP_CONFIG)

    samples = interleaved(n_rounds, {"figure": lambda: timed(figure, k), "floor": lambda: timed(floor, k)})
    out = against_floor(samples, "figure")
    out["welcome_bytes"] = len(welcome)
    out["floor_ops"] = "Group.join of the same welcome (XMTP config)"
    return out


# --- (4) an inbox's association state -------------------------------------------------------------------------
def bench_identity(n_rounds: int, k: int) -> dict[str, Any]:
    wallet, installation = LocalWalletSigner.generate(), InstallationKey.generate()
    inbox_id, request = registration(wallet, installation)
    update = request.build_identity_update()
    text = request.signature_text
    installation_sig, wallet_sig = installation.sign(text), wallet.sign(text)
    state = get_state([update])
    assert state.inbox_id == inbox_id and installation.public_key in state.installations()
    public_key, message = installation.public_key, text.encode()

    def floor() -> None:
        verify_ed25519ph(public_key, message, installation_sig)
        assert recover_address(text, wallet_sig) == wallet.address

    samples = interleaved(
        n_rounds, {"figure": lambda: timed(lambda: get_state([update]), k), "floor": lambda: timed(floor, k)}
    )
    out = against_floor(samples, "figure")
    out["update_bytes"] = len(update.SerializeToString())
    out["signature_text_bytes"] = len(message)
    out["floor_ops"] = "1 Ed25519ph verification (verify_ed25519ph) + 1 EIP-191 recovery (recover_address)"
    return out


# --- driver ---------------------------------------------------------------------------------------------------
# --- (5) syncing a backlog through a real node --------------------------------------------------------------
async def _sync_round(directory: Path, n: int, index: int) -> tuple[float, float]:
    """Seconds per message for ``ClientConversation.sync`` of ``n`` texts waiting on an in-process node (the
    query pages, decryption, decoding and the store: one transaction per page), and for ``Group.process`` of
    ``n`` texts of the same kind alone (the floor)."""
    node = await Node.start(
        NodeConfig(host="127.0.0.1", port=0, data_dir=directory / f"node-{index}", rate_limits=None)
    )
    try:
        clients = []
        for name in ("alice", "bob"):
            wallet = LocalWalletSigner.generate()
            client = await Client.create(node.address, wallet, db_path=directory / f"{name}-{index}.db")
            await client.register(wallet)
            clients.append(client)
        alice, bob = clients
        conversation = await alice.conversations.create_dm(bob.inbox_id)
        [joined] = await bob.conversations.sync()
        await joined.sync()
        inputs = [
            mls_pb2.GroupMessageInput(
                v1=mls_pb2.GroupMessageInput.V1(
                    data=conversation._session.core.encrypt(envelope_of(f"message {i}"), rng=os.urandom)
                )
            )
            for i in range(n)
        ]
        await alice.api.send_group_messages(inputs)
        start = time.perf_counter()
        got = await joined.sync()
        figure = (time.perf_counter() - start) / n
        assert len(got) == n
        pair = dm()
        batch = [pair.a.group.create_message(envelope_of(f"message {i}"), rng=os.urandom) for i in range(n)]
        start = time.perf_counter()
        for data in batch:
            pair.b.group.process(data, now=NOW)
        floor = (time.perf_counter() - start) / n
        for client in clients:
            await client.close()
        return figure, floor
    finally:
        await node.stop(grace=0)


def bench_sync(directory: Path, n_rounds: int, n: int) -> dict[str, Any]:
    figures, floors = [], []
    for index in range(n_rounds):
        figure, floor = asyncio.run(_sync_round(directory, n, index))
        figures.append(figure)
        floors.append(floor)
    result = Series(figures, {"floor": floors}).summary()
    result["messages"] = n
    return result


def table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: what, seconds, floor seconds, ratio (median of the per-round ratios)."""
    rows: list[dict[str, Any]] = []

    def row(figure: str, r: dict[str, Any]) -> None:
        rows.append(
            {
                "figure": figure,
                "ms": round(r["seconds"] * 1e3, 4),
                "floor_ms": round(r["floor_seconds"] * 1e3, 4),
                "ratio": round(r["ratio_to_floor"], 2),
            }
        )

    for what in ("receive_text", "send_text"):
        for r in results.get(what, []):
            size = f"{r['text_bytes']} B"
            row(f"{what} ({size}), with store", r["with_store"])
            row(f"{what} ({size}), without store", r["without_store"])
    if "join_dm" in results:
        row("join_dm", results["join_dm"])
    if "identity_state" in results:
        row("identity_state", results["identity_state"])
    if "sync" in results:
        row(f"sync ({results['sync']['messages']} messages waiting), per message", results["sync"])
    if "bot" in results:
        bot = results["bot"]
        many, one = bot["many_conversations"], bot["one_conversation"]
        row(
            f"bot streaming, {many['conversations']} conversations, CPU per message (floor: 1 conversation)",
            {
                "seconds": many["cpu_seconds_per_message"],
                "floor_seconds": one["cpu_seconds_per_message"],
                "ratio_to_floor": bot["cpu_ratio"],
            },
        )
    return rows


def human(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


FIGURES = ("receive", "send", "join", "identity", "sync", "bot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated subset of {FIGURES}")
    parser.add_argument(
        "--db-dir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/...)")
    parser.add_argument(
        "--bot-conversations", type=int, default=None, help="conversations of the bot figure (default 1000)"
    )
    args = parser.parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}")
    quick = args.quick
    n_rounds, k = (8, 10) if quick else (60, 30)
    load_at_start = os.getloadavg()
    started = time.perf_counter()
    results: dict[str, Any] = {}

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="client-bench-", dir=args.db_dir) as tmp:
        directory = Path(tmp)
        if "receive" in only:
            results["receive_text"] = []
            for name, text in TEXTS.items():
                log(f"receive text, {name}")
                results["receive_text"].append(bench_receive(directory, text, n_rounds, k))
        if "send" in only:
            results["send_text"] = []
            for name, text in TEXTS.items():
                log(f"send text, {name}")
                results["send_text"].append(bench_send(directory, text, n_rounds, k))
    if "join" in only:
        log("join DM")
        results["join_dm"] = bench_join(n_rounds, k)
    if "identity" in only:
        log("identity state")
        results["identity_state"] = bench_identity(n_rounds, k)
    if "sync" in only:
        log("sync a backlog through a node")
        with tempfile.TemporaryDirectory(prefix="client-bench-sync-", dir=args.db_dir) as tmp:
            results["sync"] = bench_sync(Path(tmp), 2 if quick else 5, 100 if quick else 500)
    if "bot" in only:
        conversations = args.bot_conversations or (100 if quick else 1000)
        log(f"a bot streaming in 1 and {conversations} conversations")
        with tempfile.TemporaryDirectory(prefix="client-bench-bot-", dir=args.db_dir) as tmp:
            results["bot"] = bench_bot(Path(tmp), conversations, 200 if quick else 1000, log)
    log("done")

    info = machine()
    info["load_average_at_start"] = load_at_start
    info["load_average_at_end"] = os.getloadavg()
    info["db_dir"] = str(args.db_dir or tempfile.gettempdir())
    rows = table(results)
    report = {
        "benchmark": "pyxmtp.client",
        "cipher_suite": "0x0003 MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 (XMTP)",
        "quick": quick,
        "machine": info,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "table": rows,
        "results": results,
    }
    out = write_report(report, "client", quick, args.out)
    width = max(len(r["figure"]) for r in rows) if rows else 10
    print(f"\n{'figure':<{width}}  {'time':>10}  {'floor':>10}  ratio", file=sys.stderr)
    for r in rows:
        print(
            f"{r['figure']:<{width}}  {human(r['ms'] / 1e3):>10}  {human(r['floor_ms'] / 1e3):>10}  {r['ratio']:.2f}x",
            file=sys.stderr,
        )
    for r in results.get("receive_text", []):
        print(
            f"receive_text ({r['text_bytes']} B) store: transaction alone {human(r['store_transaction_seconds'])}, "
            f"bare overwrite + fdatasync {human(r['disk_sync_seconds'])}, "
            f"state to_bytes {human(r['state_to_bytes_seconds'])} ({r['state_bytes']} B, twice per message)",
            file=sys.stderr,
        )
    if "bot" in results:
        bot = results["bot"]
        for key in ("one_conversation", "many_conversations"):
            r = bot[key]
            print(
                f"bot in {r['conversations']} conversations: RSS {r['rss_ready_bytes'] / 2**20:.1f} MiB once "
                f"streaming, peak {r['rss_peak_bytes'] / 2**20:.1f} MiB; wall {human(r['wall_seconds_per_message'])} "
                "a message (the sender's pace)",
                file=sys.stderr,
            )
        print(
            f"bot memory per conversation {bot['rss_per_conversation_bytes'] / 1024:.1f} KiB", file=sys.stderr
        )
    print(f"load average {load_at_start[0]:.2f} -> {info['load_average_at_end'][0]:.2f}", file=sys.stderr)
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
