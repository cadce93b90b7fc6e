"""Whatever anyone sends through the node, our client does not break: hostile welcomes and group messages are
passed over (the cursor moves past them), the state is unchanged, and genuine traffic after them still works.
Real node on loopback, real pyxmtp clients; the hostile bytes come from hypothesis."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyxmtp.client import ApiCallError
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .conftest import new_client

pytestmark = pytest.mark.timeout(300)


def welcome(
    installation: bytes, data: bytes, key: bytes, algorithm: int, metadata: bytes
) -> mls_pb2.WelcomeMessageInput:
    return mls_pb2.WelcomeMessageInput(
        v1=mls_pb2.WelcomeMessageInput.V1(
            installation_key=installation,
            data=data or b"\x00",
            hpke_public_key=key or b"\x00",
            wrapper_algorithm=algorithm,  # type: ignore[arg-type]
            welcome_metadata=metadata,
        )
    )


async def test_hostile_welcomes_are_passed_over_and_a_real_one_still_works(
    node: Node, tmp_path: Path
) -> None:
    bob = await new_client(node, tmp_path / "bob.db")
    alice = await new_client(node, tmp_path / "alice.db")
    current_key = None
    # the welcome wrapper key bob's key package advertises (so some hostile welcomes reach real decryption)
    for row in bob.store._db.execute("SELECT hpke_public_key FROM key_packages WHERE delete_at_ns IS NULL"):
        current_key = bytes(row[0])
    assert current_key is not None

    payloads = st.tuples(
        st.binary(max_size=1300),
        st.sampled_from([current_key, os.urandom(1216), os.urandom(32)]),
        st.sampled_from([0, 1, 2, 3, 7]),
        st.binary(max_size=40),
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(payloads, min_size=1, max_size=4))
    def hostile(batch: list[tuple[bytes, bytes, int, bytes]]) -> None:
        sends.append([welcome(bob.installation_id, *item) for item in batch])

    sends: list[list[mls_pb2.WelcomeMessageInput]] = []
    hostile()
    for batch in sends:
        await alice.api.send_welcome_messages(batch)
    before = bob.store.key_package_count()
    assert await bob.conversations.sync() == []  # nothing joined, nothing raised
    assert bob.welcome_cursor > 0 and bob.conversations.list() == []
    assert bob.store.key_package_count() >= before  # no key was lost to garbage (one rotation may add one)

    dm = await alice.conversations.create_dm(bob.inbox_id)  # a real welcome after all that
    await dm.send_text("still works")
    [joined] = await bob.conversations.sync()
    await joined.sync()
    assert joined.texts() == ["still works"]


async def test_hostile_group_messages_are_passed_over(node: Node, tmp_path: Path) -> None:
    bob = await new_client(node, tmp_path / "bob.db")
    alice = await new_client(node, tmp_path / "alice.db")
    dm = await alice.conversations.create_dm(bob.inbox_id)
    [bob_dm] = await bob.conversations.sync()
    group_id = dm.group_id
    epoch = dm.epoch
    header = b"\x00\x01\x00\x02" + bytes([len(group_id)]) + group_id + epoch.to_bytes(8, "big")

    garbage: list[bytes] = []

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        body=st.binary(min_size=1, max_size=400),
        content_type=st.sampled_from([1, 2, 3]),
        prefix=st.booleans(),
    )
    def hostile(body: bytes, content_type: int, prefix: bool) -> None:
        garbage.append((header + bytes([content_type]) + body) if prefix else body)

    hostile()
    sendable = [
        mls_pb2.GroupMessageInput(v1=mls_pb2.GroupMessageInput.V1(data=data))
        for data in garbage
        if data[:4] == b"\x00\x01\x00\x02"
    ]
    for message in sendable:
        with contextlib.suppress(ApiCallError):  # the node refuses what it can see is malformed: fine too
            await alice.api.send_group_messages([message])
    state = bob_dm._session.core.to_bytes()
    assert await bob_dm.sync() == []
    assert bob_dm._session.core.to_bytes() == state  # nothing of the garbage changed the group
    await dm.send_text("real one")
    assert [m.content for m in await bob_dm.sync()] == ["real one"]


async def test_a_commit_that_loses_the_race_is_made_again_on_the_new_epoch(
    node: Node, tmp_path: Path
) -> None:
    """Alice's rename reaches the node first; Bob, not synced, commits his on the same epoch: the node's order
    makes Alice's win; Bob applies it, makes his commit again on the new epoch, and everyone ends on his name."""
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    carol = await new_client(node, tmp_path / "carol.db")
    group = await alice.conversations.create_group([bob.inbox_id, carol.inbox_id], name="start")
    [bob_group] = await bob.conversations.sync()
    [carol_group] = await carol.conversations.sync()
    await bob_group.sync()
    epoch = bob_group.epoch
    await group.update_name("alice's")
    await bob_group.update_name("bob's")  # made at the old epoch, lost, made again
    assert bob_group.epoch == epoch + 2
    await group.sync()
    await carol_group.sync()
    assert group.name == bob_group.name == carol_group.name == "bob's"
    assert group.epoch == carol_group.epoch == epoch + 2
    await group.send_text("same epoch for all")
    await bob_group.sync()
    await carol_group.sync()
    assert bob_group.texts() == carol_group.texts() == ["same epoch for all"]
