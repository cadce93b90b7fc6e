"""A conversation whose creation fails leaves nothing behind: no conversation, no message, through the SDK and the
CLI (real processes against a real node)."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from pyxmtp.client import ApiCallError, MembershipUpdateError
from pyxmtp.node import Node

from .conftest import new_client
from .test_cli import cli, fields

pytestmark = pytest.mark.timeout(120)

NOBODY = "ab" * 32  # an inbox id with no identity log on the node


async def test_a_failed_dm_or_group_creation_leaves_nothing(node: Node, tmp_path: Path) -> None:
    alice = await new_client(node, tmp_path / "alice.db")
    bob = await new_client(node, tmp_path / "bob.db")
    with pytest.raises(MembershipUpdateError, match="no identity log"):
        await alice.conversations.create_dm(NOBODY)
    with pytest.raises(MembershipUpdateError, match="no identity log"):
        await alice.conversations.create_group([bob.inbox_id, NOBODY], name="half")
    assert alice.conversations.list() == []

    # the node goes away after the membership commit: the welcomes cannot be sent
    real = alice.api.send_welcome_messages

    async def unreachable(*_: object) -> None:
        raise ApiCallError("MlsApi/SendWelcomeMessages", grpc.StatusCode.UNAVAILABLE, "injected")

    alice.api.send_welcome_messages = unreachable  # type: ignore[method-assign]
    with pytest.raises(ApiCallError):
        await alice.conversations.create_group([bob.inbox_id], name="never welcomed")
    assert alice.conversations.list() == []
    assert alice.store._db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0  # no transcript entry
    assert await bob.conversations.sync() == []

    alice.api.send_welcome_messages = real  # type: ignore[method-assign]
    group = await alice.conversations.create_group([bob.inbox_id], name="works")
    assert alice.conversations.list() == [group]
    await group.send_text("hi")
    [bob_group] = await bob.conversations.sync()
    await bob_group.sync()
    assert bob_group.texts() == ["hi"] and bob_group.name == "works"
    for c in (alice, bob):
        await c.close()


async def test_the_cli_leaves_no_conversation_after_a_failed_send_or_group(
    node: Node, tmp_path: Path
) -> None:
    home = tmp_path / "alice"
    await cli(node, home, "init")
    bob = fields((await cli(node, tmp_path / "bob", "init"))[1])
    code, _, err = await cli(node, home, "send", NOBODY, "anyone there?", check=False)
    assert code == 1 and "no identity log" in err and "Traceback" not in err
    code, _, err = await cli(node, home, "group", "half", bob["inbox_id"], NOBODY, check=False)
    assert code == 1 and "no identity log" in err and "Traceback" not in err
    _, listing, _ = await cli(node, home, "list", "--json")
    assert listing.strip() == ""
    _, out, _ = await cli(node, home, "send", bob["inbox_id"], "hello bob", "--json")
    _, listing, _ = await cli(node, home, "list", "--json")
    [line] = listing.strip().splitlines()  # only the DM that worked
    entry = json.loads(line)
    assert entry["conversation"] == json.loads(out)["conversation"]
    assert entry["kind"] == "dm" and entry["peer_inbox_id"] == bob["inbox_id"]
