"""Device sync between pyxmtp installations of one inbox: consent decisions reach the other installations
through the inbox's sync group (libxmtp's PreferenceUpdates), the streams hand them out, and a sync group that
is not our inbox's alone is refused."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import grpc
import pytest

from pyxmtp.client import Client, ConsentState, commits
from pyxmtp.client.api import ApiCallError
from pyxmtp.client.consent import Consent, ConsentEntityType
from pyxmtp.client.device_sync import ConsentUpdate, HmacKeyUpdate, groups, preferences
from pyxmtp.client.device_sync.content import encode
from pyxmtp.client.session import GroupSession
from pyxmtp.conversations.conversation import Conversation as CoreConversation
from pyxmtp.conversations.group_context import ConversationType
from pyxmtp.conversations.new_group import group_extensions
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from pyxmtp.proto.device_sync import consent_backup_pb2, content_pb2

from .conftest import eventually, new_client

pytestmark = pytest.mark.timeout(120)


async def two_installations(node: Node, tmp_path: Path) -> tuple[Client, Client]:
    wallet = LocalWalletSigner.generate()
    first = await Client.create(node.address, wallet, db_path=tmp_path / "first.db")
    second = await Client.create(node.address, wallet, db_path=tmp_path / "second.db")
    assert first.inbox_id == second.inbox_id
    return first, second


def conversation_consent(client: Client, group_id: bytes) -> ConsentState:
    return client.preferences.get_consent_state(ConsentEntityType.CONVERSATION, group_id.hex())


async def test_consent_reaches_the_other_installation_both_ways(node: Node, tmp_path: Path) -> None:
    first, second = await two_installations(node, tmp_path)
    bob = await new_client(node, tmp_path / "bob.db")
    try:
        group = await first.conversations.create_group([bob.inbox_id], name="g")
        gid = bytes.fromhex(group.id)
        await first.device_sync.publish_preferences()  # what the background publisher does
        assert len(groups.sync_sessions(first.conversations.hub)) == 1
        # the sync group is kept out of lists
        assert [c.id for c in first.conversations.list()] == [group.id]

        async with second.device_sync.stream_consent() as consents:
            await consents.wait_ready()
            assert await second.device_sync.sync_all_device_sync_groups() == 1
            # allowed already: it joined the group too, made by its own inbox (nothing changed, nothing streamed)
            assert conversation_consent(second, gid) is ConsentState.ALLOWED
            assert all(
                c.id != groups.primary(second.conversations.hub).group_id.hex()  # type: ignore[union-attr]
                for c in second.conversations.list()
            )

            group.update_consent_state(ConsentState.DENIED)
            await first.device_sync.publish_preferences()
            await second.device_sync.sync_all_device_sync_groups()
            assert conversation_consent(second, gid) is ConsentState.DENIED
            assert await asyncio.wait_for(anext(consents), 10) == [
                Consent(ConsentEntityType.CONVERSATION, gid.hex(), ConsentState.DENIED)
            ]

        # and back: the second installation's decision about an inbox reaches the first
        async with first.device_sync.stream_preferences() as updates:
            await updates.wait_ready()
            second.preferences.set_consent_states(
                [Consent(ConsentEntityType.INBOX, bob.inbox_id, ConsentState.DENIED)]
            )
            await second.device_sync.publish_preferences()
            await first.device_sync.sync_all_device_sync_groups()
            assert (
                first.preferences.get_consent_state(ConsentEntityType.INBOX, bob.inbox_id)
                is ConsentState.DENIED
            )
            update = await asyncio.wait_for(anext(updates), 10)
            while isinstance(update, HmacKeyUpdate):  # the second, new in this sync group, sent a key too
                update = await asyncio.wait_for(anext(updates), 10)
            assert isinstance(update, ConsentUpdate) and update.consents[0].entity == bob.inbox_id
        # processed once: syncing again changes nothing
        first.preferences.set_consent_states(
            [Consent(ConsentEntityType.INBOX, bob.inbox_id, ConsentState.ALLOWED)]
        )
        await first.device_sync.sync_all_device_sync_groups()
        assert (
            first.preferences.get_consent_state(ConsentEntityType.INBOX, bob.inbox_id) is ConsentState.ALLOWED
        )
    finally:
        for client in (first, second, bob):
            await client.close()


async def test_the_background_publisher_sends_a_consent_change(node: Node, tmp_path: Path) -> None:
    """A decision made on the newer installation (which knows of the older one) is published in the
    background; one made on the older installation before it heard of the newer one is kept and published by
    its next device sync."""
    first, second = await two_installations(node, tmp_path)
    try:
        second.preferences.set_consent_states(
            [Consent(ConsentEntityType.INBOX, "ab" * 32, ConsentState.DENIED)]
        )
        first.preferences.set_consent_states(
            [Consent(ConsentEntityType.INBOX, "cd" * 32, ConsentState.DENIED)]
        )

        async def arrived(client: Client, entity: str) -> bool:
            await client.device_sync.sync_all_device_sync_groups()
            return (
                client.preferences.get_consent_state(ConsentEntityType.INBOX, entity) is ConsentState.DENIED
            )

        await eventually(lambda: arrived(first, "ab" * 32), "the second's consent change at the first")
        await eventually(lambda: arrived(second, "cd" * 32), "the first's consent change at the second")
    finally:
        await first.close()
        await second.close()


def _preference(entity: str, state: int) -> bytes:
    save = consent_backup_pb2.ConsentSave(entity_type=2, state=state, entity=entity, consented_at_ns=2**62)  # type: ignore[arg-type]
    updates = content_pb2.PreferenceUpdates(updates=[content_pb2.PreferenceUpdate(consent=save)])
    return encode(content_pb2.DeviceSyncContent(preference_updates=updates))


async def test_a_sync_group_from_another_inbox_is_refused(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    mallory = await new_client(node, tmp_path / "mallory.db")
    try:
        # mallory makes a SYNC-type group with alice in it and sends a preference update there
        ctx = mallory.ctx
        extensions = group_extensions(ctx.inbox_id, rng=ctx.rng, kind=ConversationType.SYNC)
        core = CoreConversation.create(extensions, ctx.signer, ctx.inbox_id, rng=ctx.rng, now=ctx.now_s())
        session = GroupSession(ctx, core, 0, created_ns=ctx.clock_ns(), added_by=ctx.inbox_id)
        async with session.lock:
            await commits.update_membership(session, add=[alice.inbox_id])
        with ctx.store.transaction():
            ctx.store.save_conversation(session.record())
        mallory.conversations.hub.sessions.add(session)
        await groups.send(
            session, content_pb2.DeviceSyncContent.FromString(b"")
        )  # an empty one: ignored anyway
        # and the same update in an ordinary group
        ordinary = await mallory.conversations.create_group([alice.inbox_id])
        await ordinary.send(_preference(mallory.inbox_id, 2))

        assert await alice.device_sync.sync_all_device_sync_groups() == 0
        assert alice.ctx.store.conversation(core.group_id) is None  # the welcome was refused
        assert groups.sync_sessions(alice.conversations.hub) == []
        joined = alice.conversations.get_conversation_by_id(ordinary.id)
        assert joined is not None
        await joined.sync()
        await alice.device_sync.process_messages()
        assert (
            alice.preferences.get_consent_state(ConsentEntityType.INBOX, mallory.inbox_id)
            is ConsentState.UNKNOWN
        )
        # alice still works
        await joined.send_text("still here")
    finally:
        await alice.close()
        await mallory.close()


async def test_installations_agree_on_the_hmac_key(node: Node, tmp_path: Path) -> None:
    """The installation that joins another's sync group sends a fresh HMAC key (libxmtp's rule); both adopt it.
    A key of the wrong length or older than the one in use is refused."""
    first, second = await two_installations(node, tmp_path)
    try:
        assert first.ctx.hmac_key != second.ctx.hmac_key  # each made its own
        await groups.ensure(first.conversations.hub)  # the first makes a sync group with the second in it
        async with first.device_sync.stream_preferences() as updates:
            await updates.wait_ready()
            await second.device_sync.sync_all_device_sync_groups()  # joins, greets: sends a key, adopts it
            await first.device_sync.sync_all_device_sync_groups()
            update = await asyncio.wait_for(anext(updates), 10)
            assert isinstance(update, HmacKeyUpdate)
        assert first.ctx.hmac_key == second.ctx.hmac_key == update.key and len(update.key) == 42
        # kept across a restart
        await first.close()
        first = await Client.create(node.address, LocalWalletSigner.generate(), db_path=tmp_path / "first.db")
        assert first.ctx.hmac_key == update.key

        session = groups.primary(second.conversations.hub)
        assert session is not None
        for key, at in ((b"k" * 41, update.cycled_at_ns + 1), (b"o" * 42, update.cycled_at_ns - 1)):
            updates_pb = content_pb2.PreferenceUpdates(updates=[preferences.hmac_update(key, at)])
            await groups.send(session, content_pb2.DeviceSyncContent(preference_updates=updates_pb))
        await second.device_sync.sync_all_device_sync_groups()
        assert second.ctx.hmac_key == update.key
    finally:
        await first.close()
        await second.close()


async def test_a_streaming_installation_applies_consent_as_it_arrives(node: Node, tmp_path: Path) -> None:
    """An installation that streams all messages hands out no sync-group message, but applies the consent
    updates they carry at once: its consent stream shows them without any sync call."""
    first, second = await two_installations(node, tmp_path)
    try:
        await groups.ensure(second.conversations.hub)  # the newer one's sync group, the first in it
        await first.conversations.sync()
        async with (
            first.conversations.stream_all_messages() as messages,
            first.device_sync.stream_consent() as consents,
        ):
            await messages.wait_ready()
            await consents.wait_ready()
            second.preferences.set_consent_states(
                [Consent(ConsentEntityType.INBOX, "ef" * 32, ConsentState.DENIED)]
            )
            await second.device_sync.publish_preferences()
            got = await asyncio.wait_for(anext(consents), 20)
            assert got == [Consent(ConsentEntityType.INBOX, "ef" * 32, ConsentState.DENIED)]
            assert (
                first.preferences.get_consent_state(ConsentEntityType.INBOX, "ef" * 32) is ConsentState.DENIED
            )
            # nothing of the sync group came out of the message stream: the first item is this text
            notes = await second.conversations.create_group([], name="notes to self")
            await notes.send_text("first item")
            item = await asyncio.wait_for(anext(messages), 20)
            assert item.content == "first item"
    finally:
        await first.close()
        await second.close()


async def test_a_consent_change_survives_a_crash_before_it_was_published(node: Node, tmp_path: Path) -> None:
    """A decision the node never accepted (the send failed), then the process dies without close(): the
    restarted installation publishes it, and the other installation learns it (nothing acknowledged lost)."""
    wallet = LocalWalletSigner.generate()
    first = await Client.create(node.address, wallet, db_path=tmp_path / "first.db")
    second = await Client.create(node.address, wallet, db_path=tmp_path / "second.db")
    bob = await new_client(node, tmp_path / "bob.db")
    restarted: Client | None = None
    try:
        group = await first.conversations.create_group([bob.inbox_id], name="g")
        gid = bytes.fromhex(group.id)
        await first.device_sync.publish_preferences()
        await second.device_sync.sync_all_device_sync_groups()
        assert conversation_consent(second, gid) is ConsentState.ALLOWED

        async def unavailable(messages: object) -> None:
            raise ApiCallError("MlsApi/SendGroupMessages", grpc.StatusCode.UNAVAILABLE, "injected")

        first.ctx.api.send_group_messages = unavailable  # type: ignore[method-assign,assignment]
        group.update_consent_state(ConsentState.DENIED)
        with pytest.raises(ApiCallError):
            await first.device_sync.publish_preferences()
        assert first.device_sync.unpublished_consent() == [
            Consent(ConsentEntityType.CONVERSATION, gid.hex(), ConsentState.DENIED)
        ]
        # the crash: the process stops here (no close(): nothing more is written, the database is let go)
        for task in (first.device_sync._publisher, first.device_sync._processor):
            if task is not None:
                task.cancel()
        first.ctx.store._db.close()

        restarted = await Client.create(node.address, wallet, db_path=tmp_path / "first.db")
        assert restarted.installation_id == first.installation_id

        async def published() -> bool:
            await restarted.device_sync.sync_all_device_sync_groups()  # type: ignore[union-attr]
            return not restarted.device_sync.unpublished_consent()  # type: ignore[union-attr]

        await eventually(published, "the restarted installation publishes the decision")

        async def arrived() -> bool:
            await second.device_sync.sync_all_device_sync_groups()
            return conversation_consent(second, gid) is ConsentState.DENIED

        await eventually(arrived, "the decision at the other installation")
    finally:
        if restarted is not None:
            await restarted.close()
        await first.ctx.api.close()
        await second.close()
        await bob.close()


async def test_a_merged_decision_is_not_published_back(node: Node, tmp_path: Path) -> None:
    """A decision received from another installation is merged, not marked unpublished: the receiver sends
    nothing back (no echo, so no loop), and a later restart does not publish it either."""
    first, second = await two_installations(node, tmp_path)
    try:
        await first.device_sync.sync_group()
        await second.device_sync.sync_all_device_sync_groups()
        first.preferences.set_consent_states(
            [Consent(ConsentEntityType.INBOX, "ab" * 32, ConsentState.DENIED)]
        )
        await first.device_sync.publish_preferences()
        assert first.device_sync.unpublished_consent() == []

        sent: list[object] = []
        real = second.ctx.api.send_group_messages

        async def counting(messages: object) -> None:
            sent.append(messages)
            await real(messages)  # type: ignore[arg-type]

        second.ctx.api.send_group_messages = counting  # type: ignore[method-assign,assignment]
        await second.device_sync.sync_all_device_sync_groups()
        assert second.preferences.get_consent_state(ConsentEntityType.INBOX, "ab" * 32) is ConsentState.DENIED
        assert second.device_sync.unpublished_consent() == []
        await second.device_sync.publish_preferences()
        await second.device_sync.sync_all_device_sync_groups()
        assert sent == []  # nothing published back
    finally:
        await first.close()
        await second.close()


async def test_a_consent_change_survives_sigkill_before_it_was_published(node: Node, tmp_path: Path) -> None:
    """The first installation, a process of its own, denies a conversation and is killed (SIGKILL) while its
    publish hangs: restarted, it publishes the decision, and the second installation learns it."""
    wallet = LocalWalletSigner.generate()
    db = tmp_path / "first.db"
    first = await Client.create(node.address, wallet, db_path=db)
    second = await Client.create(node.address, wallet, db_path=tmp_path / "second.db")
    bob = await new_client(node, tmp_path / "bob.db")
    restarted: Client | None = None
    try:
        group = await first.conversations.create_group([bob.inbox_id], name="g")
        gid = bytes.fromhex(group.id)
        await first.device_sync.publish_preferences()
        await second.device_sync.sync_all_device_sync_groups()
        assert conversation_consent(second, gid) is ConsentState.ALLOWED
        await first.close()

        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("consent_process.py")),
            node.address,
            str(db),
            gid.hex(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ),
        )
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.split() == [b"decided"], (line, await proc.stderr.read())  # type: ignore[union-attr]
        finally:
            proc.kill()  # SIGKILL
            await proc.wait()

        restarted = await Client.create(node.address, wallet, db_path=db)
        assert conversation_consent(restarted, gid) is ConsentState.DENIED

        async def arrived() -> bool:
            await restarted.device_sync.sync_all_device_sync_groups()  # type: ignore[union-attr]
            await second.device_sync.sync_all_device_sync_groups()
            return conversation_consent(second, gid) is ConsentState.DENIED

        await eventually(arrived, "the decision at the other installation")
        assert restarted.device_sync.unpublished_consent() == []
    finally:
        if restarted is not None:
            await restarted.close()
        await second.close()
        await bob.close()
