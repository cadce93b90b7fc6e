"""What a hostile peer puts in a conversation reaches none of the new ``pyxmtp client`` outputs unescaped: group
names in ``list``, ``send``, ``rename`` entries and ``members``; reactions, replies (nested two thousand deep),
unknown content types and their fallbacks in ``read``; all of it in ``listen``. And none of it stops the
command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pyxmtp.conversations.content import (
    ContentTypeId,
    EncodedContent,
    Reaction,
    Reply,
    Text,
    encode_content,
    encode_for_sending,
)
from pyxmtp.node import Node
from tests.client.conftest import new_client
from tests.client.test_cli_security import HOSTILE, HOSTILE_NAME, assert_terminal_safe

from .clirun import BASE_ENV, users

pytestmark = pytest.mark.timeout(240)


async def test_a_hostile_peer_cannot_drive_the_terminal_through_any_output(
    node: Node, tmp_path: Path
) -> None:
    [victim] = await users(node, tmp_path, "victim")
    peer = await new_client(node, tmp_path / "peer.db")
    group = await peer.conversations.create_group([victim.inbox_id], name=HOSTILE_NAME)
    gid = group.group_id.hex()[:8]
    target = await group.send_text(HOSTILE)
    ref = "\x1b[2J" + target.hex()

    async def send(value: object) -> None:
        encoded, push = encode_for_sending(value)
        await group.send(encoded, should_push=push)

    await send(Reaction(reference=ref, action="added", content=HOSTILE, schema="unicode"))
    await send(Reply(reference=ref, content=encode_content(Text(HOSTILE))))
    nested = encode_content(Text("the bottom"))
    for _ in range(2_000):  # a reply to a reply to ... (deeper than Python recurses): read shows one level
        nested = encode_content(Reply(reference=target.hex(), content=nested))
    await send(Reply(reference=target.hex(), content=nested))
    odd = EncodedContent(
        ContentTypeId("evil\x1b]0;x\x07.org", "t\u202ey", 1, 0), content=b"x", fallback=HOSTILE
    )
    await group.send(odd.to_bytes(), should_push=False)
    await group.update_name("\x1b[31m" + HOSTILE_NAME)

    outputs = []
    for args in (("list",), ("read", gid), ("members", gid), ("send", gid, "fine"), ("admins", gid)):
        result = await victim(*args)
        outputs.append(result)
        assert_terminal_safe(result.out.encode() + result.err.encode())
    read = outputs[1].out
    assert read.count("pwned") == 4  # the text, the reaction, the reply, the fallback: one line each
    assert "reacted \\x1b]0;pwned" in read and "(reply to \\x1b[2J" in read and "[a reply]" in read
    assert "renamed the group to '\\x1b[31m\\x1b]2;owned" in read

    # live: the same through listen, text and JSON (the message sent once it listens: from its cursor on)
    for extra in ((), ("--json",)):
        proc = await asyncio.create_subprocess_exec(
            *victim.argv("listen", *extra),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=BASE_ENV,
        )
        assert proc.stdout is not None and proc.stderr is not None
        err = b""
        while b"listening on" not in err:
            err += await asyncio.wait_for(proc.stderr.readline(), 60)
        await group.send_text("live " + HOSTILE)
        lines = []
        while not lines or b"live " not in lines[-1]:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, "listen ended"
            lines.append(line)
        proc.terminate()
        _, rest = await proc.communicate()
        assert_terminal_safe(b"".join(lines) + err + rest)
        if extra:
            assert json.loads(lines[-1])["content"] == "live " + HOSTILE
    await peer.close()
