"""THE acceptance test (issue 5): real libxmtp clients (xmtp-bindings 0.1.8 = libxmtp 1.10.0) work through a
pyxmtp node, and the node's history survives a restart.

Two users register, create a group and a DM, exchange messages both ways, stream, remove a member and read
everything back; then the node process is stopped (SIGTERM) and started again on the same port and data
directory, and the history is still there: raw queries return what they returned before, a third, fresh user
finds the first one by address and messages her, and the existing clients keep exchanging messages (so the
id sequence continued where it was).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.proto.mls.api.v1 import mls_pb2
from tests.interop.libxmtp import TIMEOUT, Collector, User, group_options, streamed, texts, until, v

from .apihelpers import ASC, query
from .conftest import Client, connect
from .identity_helpers import inbox_ids_request, updates_request
from .postgres import BackendSettings, cli_flags
from .procs import NodeProcess, free_port

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


async def node_history(
    c: Client, conversations: list[bytes], installations: list[bytes], inboxes: list[str]
) -> dict[str, Any]:
    """What the node serves for these conversations, installations and inboxes (raw gRPC)."""
    out: dict[str, Any] = {}
    for cid in conversations:
        resp = await c.mls.QueryGroupMessages(query(cid, ASC))
        out[f"group {cid.hex()}"] = [(m.v1.id, m.v1.data) for m in resp.messages]
    for key in installations:
        resp = await c.mls.QueryWelcomeMessages(
            mls_pb2.QueryWelcomeMessagesRequest(
                installation_key=key, paging_info=mls_pb2.PagingInfo(direction=ASC)
            )
        )
        out[f"welcomes {key.hex()}"] = [(w.v1.id, w.v1.data) for w in resp.messages]
    updates = await c.identity.GetIdentityUpdates(updates_request(*((i, 0) for i in inboxes)))
    for r in updates.responses:
        out[f"identity {r.inbox_id}"] = [(u.sequence_id, u.update.SerializeToString()) for u in r.updates]
    return out


def is_prefix(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return all(after[k][: len(rows)] == rows for k, rows in before.items())


async def test_two_libxmtp_clients_through_a_pyxmtp_node_and_a_restart(
    tmp_path: Path, backend: BackendSettings
) -> None:
    v.FfiIdentifier.__hash__ = lambda s: hash((s.identifier, s.identifier_kind))  # bindings 0.1.8 defect
    port = free_port()
    data = tmp_path / "node-data"
    store_flags = cli_flags(backend(data))
    node = NodeProcess(data, port, *store_flags, log=tmp_path / "node-1.log")
    closers: list[Any] = []
    raw: Client | None = None
    try:
        await asyncio.to_thread(node.wait_listening)
        api = await v.connect_to_backend(
            f"http://127.0.0.1:{port}", None, False, None, "pyxmtp-interop", None, None
        )
        assert await v.is_connected(api)

        # --- registration ------------------------------------------------------------------------------
        alice = await User.register(api)
        bob = await User.register(api)
        assert (await alice.client.can_message([bob.identifier]))[bob.identifier]
        state = await alice.client.inbox_state(True)
        assert alice.client.installation_id() in [i.id for i in state.installations]

        # --- bob streams everything ------------------------------------------------------------------------
        loop = asyncio.get_running_loop()
        stream: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        closer = await bob.client.conversations().stream_all_messages(Collector(loop, stream), None)
        closers.append(closer)
        await asyncio.wait_for(closer.wait_for_ready(), TIMEOUT)
        seen: list[str] = []

        # --- a group, messages both ways -------------------------------------------------------------------
        options = group_options("pyxmtp interop")
        group = await alice.client.conversations().create_group([bob.inbox_id], options)
        await group.send_text("hello from alice")
        await streamed(stream, {"hello from alice"}, seen)

        await bob.client.conversations().sync()
        bob_group = bob.client.conversation(group.id())
        await bob_group.sync()
        assert bob_group.group_name() == "pyxmtp interop"
        assert "hello from alice" in await texts(bob_group)
        await bob_group.send_text("hello from bob")
        await group.sync()
        assert (await texts(group))[-2:] == ["hello from alice", "hello from bob"]

        # --- a DM, both ways, and streamed to bob ----------------------------------------------------------
        dm = await alice.client.conversations().find_or_create_dm(
            bob.inbox_id, v.FfiCreateDmOptions(message_disappearing_settings=None)
        )
        await dm.send_text("dm from alice")
        await streamed(stream, {"dm from alice"}, seen)
        await bob.client.conversations().sync_all_conversations(None)
        bob_dm = bob.client.dm_conversation(alice.inbox_id)
        assert await texts(bob_dm) == ["dm from alice"]
        await bob_dm.send_text("dm from bob")
        await dm.sync()
        assert await texts(dm) == ["dm from alice", "dm from bob"]

        # --- remove bob from the group -----------------------------------------------------------------------
        await group.remove_members([bob.inbox_id])
        assert [m.inbox_id for m in await group.list_members()] == [alice.inbox_id]

        async def bob_is_out() -> bool:
            # libxmtp reports "Group is inactive" once it processed its own removal
            with contextlib.suppress(v.FfiError.Error):
                await bob_group.sync()
            return not bob_group.is_active()

        await until(bob_is_out, "bob to see his removal")

        # --- everything is on the node ---------------------------------------------------------------------
        raw = connect(f"127.0.0.1:{port}")
        conversations = [bytes(group.id()), bytes(dm.id())]
        installations = [bytes(bob.client.installation_id()), bytes(alice.client.installation_id())]
        inboxes = [alice.inbox_id, bob.inbox_id]
        before = await node_history(raw, conversations, installations, inboxes)
        group_rows = before[f"group {group.id().hex()}"]
        assert len(group_rows) >= 4  # membership commit, two texts, the removal commit (at least)
        assert len(before[f"welcomes {installations[0].hex()}"]) >= 2  # group + DM
        assert all(before[f"identity {i}"] for i in inboxes)
        await raw.channel.close()
        raw = None

        # --- restart the node: same port, same data directory ----------------------------------------------
        node.signal(signal.SIGTERM)
        assert await asyncio.to_thread(node.wait) == 0
        node = NodeProcess(data, port, *store_flags, log=tmp_path / "node-2.log")
        await asyncio.to_thread(node.wait_listening)

        raw = connect(f"127.0.0.1:{port}")
        after = await node_history(raw, conversations, installations, inboxes)
        assert is_prefix(before, after)  # nothing lost (background traffic may only have added)
        resp = await raw.identity.GetInboxIds(inbox_ids_request(alice.address, bob.address))
        assert [r.inbox_id for r in resp.responses] == [alice.inbox_id, bob.inbox_id]
        kps = await raw.mls.FetchKeyPackages(mls_pb2.FetchKeyPackagesRequest(installation_keys=installations))
        assert all(k.key_package_tls_serialized for k in kps.key_packages)

        # a fresh third user finds alice by address and reaches her (identity log and key packages survived)
        carol = await User.register(api)
        assert await v.get_inbox_id_for_identifier(api, alice.identifier) == alice.inbox_id
        carol_dm = await carol.client.conversations().find_or_create_dm(
            alice.inbox_id, v.FfiCreateDmOptions(message_disappearing_settings=None)
        )
        await carol_dm.send_text("hi alice, from carol")

        async def alice_got_carol() -> bool:
            await alice.client.conversations().sync_all_conversations(None)
            try:
                return "hi alice, from carol" in await texts(alice.client.dm_conversation(carol.inbox_id))
            except v.FfiError.Error:
                return False

        await until(alice_got_carol, "alice to receive carol's DM")

        # the existing clients carry on: new ids continue above the old ones
        await dm.send_text("after the restart")

        async def bob_got_it() -> bool:
            await bob_dm.sync()
            return (await texts(bob_dm))[-1] == "after the restart"

        await until(bob_got_it, "bob to receive the post-restart DM")
        assert await texts(bob_dm) == ["dm from alice", "dm from bob", "after the restart"]
        final = await node_history(raw, conversations, installations, inboxes)
        assert is_prefix(before, final)
        dm_rows = final[f"group {dm.id().hex()}"]
        assert [i for i, _ in dm_rows] == sorted(i for i, _ in dm_rows)
        for log in (tmp_path / "node-1.log", tmp_path / "node-2.log"):
            text = log.read_text()
            assert "Traceback" not in text and " ERROR " not in text, text  # no internal error on the node
    finally:
        for closer in closers:
            closer.end()
        if raw is not None:
            await raw.channel.close()
        node.signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(node.wait, 15)
        except Exception:
            node.kill()
