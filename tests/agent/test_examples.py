"""The examples: ``examples/echo_agent.py`` run as a user runs it (settings from the environment) answers a
libxmtp user and stops cleanly on SIGTERM or SIGINT; ``command_bot.py`` and ``group_moderator.py``, their
handlers set up on an agent here, do what their docstrings say."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pyxmtp.client import Conversation, DecodedMessage, EnrichedReply
from pyxmtp.conversations.content import Reply, Text, encode_content
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from tests.client.test_libxmtp_interop import libxmtp_api, open_dm
from tests.interop.libxmtp import User, texts, until

from .conftest import eventually, make_agent, new_client
from .libxmtp_user import libxmtp_send, read, wait_for_message

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_the_echo_agent_example_answers_and_stops_on_a_signal(
    node: Node, tmp_path: Path, signum: signal.Signals
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XMTP_")}
    environ |= {
        "XMTP_WALLET_KEY": "0x" + LocalWalletSigner.generate().private_key.hex(),
        "XMTP_NODE_URL": f"http://{node.address}",
        "XMTP_DB_DIRECTORY": str(tmp_path / "agent"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "echo_agent.py"),
        env=environ,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert banner.startswith("echo agent 0x") and banner.rstrip().endswith("on custom"), banner
        agent_inbox = banner.split("(inbox ")[1].split(")")[0]  # printed once it listens: no wait needed
        alice = await User.register(await libxmtp_api(node))
        dm = await open_dm(alice, agent_inbox)
        await dm.send_text("echo this")

        async def echoed() -> bool:
            await dm.sync()
            return (await texts(dm)) == ["echo this", "echo this"]

        await until(echoed, "the agent's echo")
        process.send_signal(signum)
        await asyncio.wait_for(process.wait(), 60)
        out, err = await process.stdout.read(), await process.stderr.read()
        assert process.returncode == 0, err.decode()
        assert out.decode() == "echo agent stopped\n"
        assert b"Traceback" not in err
        assert [p.name for p in (tmp_path / "agent").iterdir()] == [f"xmtp-custom-{agent_inbox}.db3"]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_command_bot_example_answers_its_commands(node: Node, tmp_path: Path) -> None:
    bot = await make_agent(node, tmp_path / "bot.db3")
    example("command_bot").setup(bot)
    await bot.start()
    peer = await new_client(node, tmp_path / "peer.db")
    dm = await peer.conversations.create_dm(bot.inbox_id)

    async def ask(text: str) -> str:
        """Send ``text``; the bot's answer (a reply's text)."""
        before = len(_from(dm, bot.inbox_id))
        await dm.send_text(text)

        async def answered() -> bool:
            await dm.sync()
            return len(_from(dm, bot.inbox_id)) > before

        await eventually(answered, f"the answer to {text!r}")
        content = _from(dm, bot.inbox_id)[-1].content
        return str(content.content if isinstance(content, EnrichedReply) else content)

    assert await ask("/ping hello") == "pong hello"
    assert peer.account_identifier is not None
    assert await ask("/whoami") == f"you are {peer.account_identifier.address} (inbox {peer.inbox_id})"
    rolls, total = (await ask("/roll 3d6")).split(" = ")
    assert sum(map(int, rolls.split(" + "))) == int(total) and len(rolls.split(" + ")) == 3
    assert await ask("/nope") == "no command /nope; send /help"
    assert await ask("just chatting") == "I answer commands: send /help"
    assert "`/roll` - Roll dice: /roll 2d6" in await ask("/help")
    await peer.close()
    await bot.close()


def _from(conversation: Conversation, inbox_id: str) -> list[DecodedMessage]:
    return [m for m in conversation.messages() if m.sender_inbox_id == inbox_id]


async def test_the_group_moderator_example_removes_a_member_who_posts_a_banned_word(
    node: Node, tmp_path: Path
) -> None:
    moderator = await make_agent(node, tmp_path / "moderator.db3")
    example("group_moderator").setup(moderator, frozenset({"scam"}))
    await moderator.start()
    api = await libxmtp_api(node)
    alice, bob = await User.register(api), await User.register(api)
    it = moderator.inbox_id

    # in a DM, alice asks for a group: the moderator makes it (its super admin) and posts the rules there
    dm = await open_dm(alice, it)
    await libxmtp_send(dm, Text("/group Moderated"))
    await wait_for_message(dm, it, "the answer", lambda s: s.type_id == "reply")
    [ours] = moderator.client.conversations.list_groups()
    assert ours.name == "Moderated" and ours.is_super_admin(it) and not ours.is_admin(alice.inbox_id)
    await alice.client.conversations().sync()
    group = alice.client.conversation(ours.group_id)
    rules = "House rules: no scam. Members who post them are removed."
    await wait_for_message(group, it, "the rules", lambda s: s.value == rules)

    # alice adds bob: the moderator welcomes him by address
    await group.add_members([bob.inbox_id])
    await wait_for_message(group, it, "the welcome", lambda s: s.value == f"Welcome, {bob.address}! {rules}")

    # alice is no admin: her /kick is refused
    await libxmtp_send(group, Text(f"/kick {bob.address}"))
    refusal = encode_content(Text("only admins can /kick"))
    await wait_for_message(
        group, it, "the refusal", lambda s: isinstance(s.value, Reply) and s.value.content == refusal
    )

    # bob posts a banned word: removed
    await bob.client.conversations().sync()
    bobs = bob.client.conversation(ours.group_id)
    await bobs.sync()
    await bobs.send_text("buy my SCAM coin")
    await wait_for_message(
        group, it, "the removal", lambda s: s.value == f"removed {bob.address} for posting a banned word"
    )
    assert {m.inbox_id for m in await group.list_members()} == {alice.inbox_id, it}
    assert set(ours.member_inbox_ids()) == {alice.inbox_id, it}
    said = [s.value for s in await read(group) if s.type_id == "text" and s.sender == bob.inbox_id]
    assert said == ["buy my SCAM coin"]
    await moderator.close()
