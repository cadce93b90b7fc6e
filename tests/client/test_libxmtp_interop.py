"""Our client and real libxmtp clients (xmtp-bindings 0.1.8 = libxmtp 1.10.0) in the same conversations,
through a pyxmtp node: libxmtp invites our client to a DM, both sides send and read."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import Client, DisappearingSettings, Group
from pyxmtp.conversations.content import GroupUpdated
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from tests.interop.libxmtp import User, group_options, texts, until, v

from .conftest import new_client, streams_open

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


async def libxmtp_api(node: Node) -> Any:
    """libxmtp's connection to ``node``."""
    v.FfiIdentifier.__hash__ = lambda s: hash((s.identifier, s.identifier_kind))  # bindings 0.1.8 defect
    return await v.connect_to_backend(
        f"http://{node.address}", None, False, None, "pyxmtp-client-interop", None, None
    )


async def open_dm(user: User, inbox_id: str) -> Any:
    """``user`` (libxmtp) finds or creates its DM with ``inbox_id``."""
    options = v.FfiCreateDmOptions(message_disappearing_settings=None)
    return await user.client.conversations().find_or_create_dm(inbox_id, options)


async def test_libxmtp_opens_a_dm_with_our_client_and_both_talk(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)

    wallet = LocalWalletSigner.generate()
    bob = await Client.create(node.address, wallet, db_path=tmp_path / "bob.db")
    await bob.register(wallet)
    bob_identifier = v.FfiIdentifier(
        identifier=wallet.identifier.address, identifier_kind=v.FfiIdentifierKind.ETHEREUM
    )
    assert (await alice.client.can_message([bob_identifier]))[bob_identifier]
    assert await v.get_inbox_id_for_identifier(api, bob_identifier) == bob.inbox_id
    alice_address = alice.address.upper().replace("0X", "0x")  # any case: addresses are compared lowercased
    assert await bob.inbox_ids_of([alice_address]) == {alice.address.lower(): alice.inbox_id}
    nobody = "0x" + "00" * 20
    assert await bob.can_message([alice.address, nobody]) == {alice.address.lower(): True, nobody: False}

    dm = await open_dm(alice, bob.inbox_id)
    await dm.send_text("hi bob, from libxmtp")

    joined = await bob.conversations.sync()
    assert len(joined) == 1
    bob_dm = joined[0]
    assert bob_dm.group_id == bytes(dm.id())
    assert bob_dm.peer_inbox_id == alice.inbox_id
    await bob_dm.sync()
    assert bob_dm.texts() == ["hi bob, from libxmtp"]
    assert bob.conversations.get_dm_by_inbox_id(alice.inbox_id) is not None

    await bob_dm.send_text("hi alice, from pyxmtp")

    async def alice_got_it() -> bool:
        await dm.sync()
        return "hi alice, from pyxmtp" in await texts(dm)

    await until(alice_got_it, "libxmtp to read our reply")
    assert await texts(dm) == ["hi bob, from libxmtp", "hi alice, from pyxmtp"]
    messages = bob_dm.messages()
    assert [m.sender_inbox_id for m in messages] == [alice.inbox_id, bob.inbox_id]
    assert all(m.published for m in messages)
    await bob.close()


async def test_our_client_in_a_libxmtp_group_reads_writes_follows_commits_and_is_removed(
    node: Node, tmp_path: Path
) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    carol = await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")

    group = await alice.client.conversations().create_group(
        [carol.inbox_id, bob.inbox_id], group_options("trio")
    )
    await group.send_text("hello both, from alice")
    [bob_group] = await bob.conversations.sync()
    assert bob_group.group_id == bytes(group.id())
    assert bob_group.name == "trio" and isinstance(bob_group, Group)
    assert set(bob_group.member_inbox_ids()) == {alice.inbox_id, carol.inbox_id, bob.inbox_id}
    await bob_group.sync()
    assert bob_group.texts() == ["hello both, from alice"]

    await carol.client.conversations().sync()
    carol_group = carol.client.conversation(group.id())
    await carol_group.sync()
    await carol_group.send_text("hi, carol here")  # libxmtp commits a key update before its first send
    await bob_group.sync()
    assert bob_group.texts() == ["hello both, from alice", "hi, carol here"]

    await bob_group.send_text("and bob, from pyxmtp")
    for conversation in (group, carol_group):

        async def got_it(c: Any = conversation) -> bool:
            await c.sync()
            return "and bob, from pyxmtp" in await texts(c)

        await until(got_it, "libxmtp members to read our message")
    assert await texts(group) == ["hello both, from alice", "hi, carol here", "and bob, from pyxmtp"]

    await group.update_group_name("renamed by alice")
    await bob_group.sync()
    assert bob_group.name == "renamed by alice"

    await group.remove_members([bob.inbox_id])
    await bob_group.sync()
    assert not bob_group.is_active
    await group.send_text("after bob left")
    await bob_group.sync()
    assert "after bob left" not in bob_group.texts()  # removed members cannot read on
    updates = [m.content for m in bob_group.messages() if isinstance(m.content, GroupUpdated)]
    # the transcript shows the rename and the removal, by alice (carol's key update: nothing)
    assert updates == [
        GroupUpdated(alice.inbox_id, metadata_changes=(("group_name", "trio", "renamed by alice"),)),
        GroupUpdated(alice.inbox_id, removed_inboxes=(bob.inbox_id,)),
    ]
    await bob.close()


async def test_our_client_opens_a_dm_and_a_group_that_libxmtp_joins(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    carol = await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")

    # a DM from our side: libxmtp accepts our welcome (X-Wing wrapped), our metadata and our tree
    dm = await bob.conversations.create_dm(alice.inbox_id)
    await dm.send_text("hi alice, a DM from pyxmtp")
    await alice.client.conversations().sync()
    alice_dm = alice.client.dm_conversation(bob.inbox_id)
    await alice_dm.sync()
    assert await texts(alice_dm) == ["hi alice, a DM from pyxmtp"]
    await alice_dm.send_text("got it, bob")  # libxmtp's first send commits a key update first

    async def bob_got_it() -> bool:
        await dm.sync()
        return dm.texts()[-1:] == ["got it, bob"]

    await until(bob_got_it, "our client to read libxmtp's reply in our DM")
    assert await bob.conversations.create_dm(alice.inbox_id) is dm

    # a group from our side, with both libxmtp users
    group = await bob.conversations.create_group([alice.inbox_id, carol.inbox_id], name="made in python")
    await group.send_text("welcome to my group")
    for user in (alice, carol):
        await user.client.conversations().sync()
        theirs = user.client.conversation(group.group_id)
        await theirs.sync()
        assert theirs.group_name() == "made in python"
        assert await texts(theirs) == ["welcome to my group"]
        members = {m.inbox_id for m in await theirs.list_members()}
        assert members == {alice.inbox_id, bob.inbox_id, carol.inbox_id}
    carol_group = carol.client.conversation(group.group_id)
    await carol_group.send_text("carol in the python group")

    async def bob_reads_carol() -> bool:
        await group.sync()
        return "carol in the python group" in group.texts()

    await until(bob_reads_carol, "our client to read carol in its group")
    await bob.close()


async def test_a_welcome_pointer_from_libxmtp_is_followed(node: Node, tmp_path: Path) -> None:
    """libxmtp sends one shared, symmetrically encrypted welcome and a per-installation pointer to it once more
    than two new installations can read pointers (protocol reference 5.5): our client follows the pointer."""
    api = await libxmtp_api(node)
    alice = await User.register(api)
    others = [await User.register(api) for _ in range(2)]
    bob = await new_client(node, tmp_path / "bob.db")
    group = await alice.client.conversations().create_group(
        [u.inbox_id for u in others] + [bob.inbox_id], group_options("four")
    )
    await group.send_text("four of us")
    raw = await bob.api.welcomes_after(bob.installation_id, 0).__anext__()
    assert raw.WhichOneof("version") == "welcome_pointer"  # libxmtp did use a pointer
    [bob_group] = await bob.conversations.sync()
    await bob_group.sync()
    assert bob_group.texts() == ["four of us"]
    await bob.close()


async def test_libxmtp_accepts_our_rename_and_removal_commits(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    carol = await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")
    group = await bob.conversations.create_group([alice.inbox_id, carol.inbox_id], name="before")
    await group.update_name("after")
    await group.remove_members([carol.inbox_id])
    await group.send_text("carol is gone")
    assert set(group.member_inbox_ids()) == {alice.inbox_id, bob.inbox_id}

    await alice.client.conversations().sync()
    alice_group = alice.client.conversation(group.group_id)
    await alice_group.sync()
    assert alice_group.group_name() == "after"
    assert {m.inbox_id for m in await alice_group.list_members()} == {alice.inbox_id, bob.inbox_id}
    assert await texts(alice_group) == ["carol is gone"]

    await carol.client.conversations().sync()
    carol_group = carol.client.conversation(group.group_id)
    with contextlib.suppress(v.FfiError.Error):
        await carol_group.sync()
    assert not carol_group.is_active()
    await bob.close()


async def test_our_stream_delivers_libxmtp_messages_live_and_new_conversations(
    node: Node, tmp_path: Path
) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    bob = await new_client(node, tmp_path / "bob.db")
    got: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()

    async def listen() -> None:
        async with bob.conversations.stream_all_messages() as stream:
            async for message in stream:
                await got.put((bob.conversations.get_conversation_by_id(message.conversation_id), message))

    listener = asyncio.create_task(listen())
    try:
        await streams_open(node, 2)
        dm = await open_dm(alice, bob.inbox_id)
        await dm.send_text("first, in a new DM")
        conversation, message = await asyncio.wait_for(got.get(), 20)
        assert message.content == "first, in a new DM" and conversation.peer_inbox_id == alice.inbox_id
        await dm.send_text("second, live")
        _, message = await asyncio.wait_for(got.get(), 20)
        assert message.content == "second, live" and message.sender_inbox_id == alice.inbox_id
        group = await alice.client.conversations().create_group([bob.inbox_id], group_options("streamed"))
        await group.send_text("in a new group")
        conversation, message = await asyncio.wait_for(got.get(), 20)
        assert message.content == "in a new group" and conversation.name == "streamed"
        await conversation.send_text("our own, streamed back")
        _, message = await asyncio.wait_for(got.get(), 20)
        assert message.content == "our own, streamed back" and message.sender_inbox_id == bob.inbox_id
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    await bob.close()


async def test_a_second_installation_of_ours_is_added_by_libxmtp_and_both_read(
    node: Node, tmp_path: Path
) -> None:
    """Bob (pyxmtp) adds a second installation to his inbox; libxmtp adds it to their DM before its next send
    (its "missing installations" check), bob's first installation follows that commit, the second joins."""
    api = await libxmtp_api(node)
    alice = await User.register(api)
    wallet = LocalWalletSigner.generate()
    phone = await Client.create(node.address, wallet, db_path=tmp_path / "phone.db")
    await phone.register(wallet)
    dm = await open_dm(alice, phone.inbox_id)
    await dm.send_text("to your phone")
    [phone_dm] = await phone.conversations.sync()

    laptop = await Client.create(node.address, wallet, db_path=tmp_path / "laptop.db")
    assert laptop.inbox_id == phone.inbox_id and laptop.installation_id != phone.installation_id
    await laptop.register(wallet)
    # Not a wait for an event: libxmtp looks for missing installations before a send at most every 5 s, and
    # has no call to ask for it sooner; so at least that much time must pass (more, under load, is harmless).
    await asyncio.sleep(6)
    await dm.send_text("to both of your devices")

    async def laptop_joined() -> bool:
        return (
            bool(await laptop.conversations.sync())
            or laptop.conversations.get_dm_by_inbox_id(alice.inbox_id) is not None
        )

    await until(laptop_joined, "libxmtp to welcome our second installation")
    laptop_dm = laptop.conversations.get_dm_by_inbox_id(alice.inbox_id)
    assert laptop_dm is not None and laptop_dm.group_id == phone_dm.group_id
    await laptop_dm.sync()
    await phone_dm.sync()
    assert phone_dm.texts() == ["to your phone", "to both of your devices"]
    assert laptop_dm.texts() == ["to both of your devices"]  # a new installation reads from when it joined
    await laptop_dm.send_text("from the laptop")
    await phone_dm.sync()
    assert phone_dm.texts()[-1] == "from the laptop"  # an installation reads its inbox's other one

    async def alice_got_it() -> bool:
        await dm.sync()
        return (await texts(dm))[-1:] == ["from the laptop"]

    await until(alice_got_it, "libxmtp to read our second installation")
    await phone.close()
    await laptop.close()


async def test_we_add_a_libxmtp_users_new_installation_and_it_reads_us(node: Node, tmp_path: Path) -> None:
    """Alice (libxmtp) registers a second installation; our client, holding the tree against her identity log
    before it sends, commits to add it (libxmtp validates that commit's installation diff) and welcomes it."""
    api = await libxmtp_api(node)
    key = os.urandom(32)
    alice = await User.register(api, key)
    wallet = LocalWalletSigner.generate()
    bob = await Client.create(node.address, wallet, db_path=tmp_path / "bob.db")
    await bob.register(wallet)
    dm = await bob.conversations.create_dm(alice.inbox_id)
    await dm.send_text("one")
    assert not await dm.update_installations()  # nothing new: no commit

    alice_tablet = await User.register(api, key)  # the same wallet: a second installation of alice's inbox
    assert alice_tablet.inbox_id == alice.inbox_id
    assert await dm.update_installations()
    await dm.send_text("two, for both of alice's installations")
    await alice_tablet.client.conversations().sync()
    tablet_dm = alice_tablet.client.dm_conversation(bob.inbox_id)
    await tablet_dm.sync()
    assert await texts(tablet_dm) == ["two, for both of alice's installations"]
    await alice.client.conversations().sync()
    alice_dm = alice.client.dm_conversation(bob.inbox_id)
    await alice_dm.sync()
    assert await texts(alice_dm) == ["one", "two, for both of alice's installations"]
    await bob.close()


async def test_our_client_restarts_from_its_database_and_carries_on(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    wallet = LocalWalletSigner.generate()
    bob = await Client.create(node.address, wallet, db_path=tmp_path / "bob.db")
    await bob.register(wallet)
    dm = await open_dm(alice, bob.inbox_id)
    await dm.send_text("before the restart")
    [bob_dm] = await bob.conversations.sync()
    await bob_dm.sync()
    await bob_dm.send_text("bob, before")
    installation = bob.installation_id
    await bob.close()

    await dm.send_text("while bob was away")
    bob = await Client.create(node.address, wallet, db_path=tmp_path / "bob.db")
    assert bob.installation_id == installation and await bob.is_registered()
    [bob_dm] = bob.conversations.list()
    assert bob_dm.texts() == ["before the restart", "bob, before"]
    await bob_dm.sync()
    assert bob_dm.texts()[-1] == "while bob was away"
    await bob_dm.send_text(
        "bob, after"
    )  # the ratchet state came back from disk: a fresh key, libxmtp reads it

    async def alice_got_it() -> bool:
        await dm.sync()
        return (await texts(dm))[-1:] == ["bob, after"]

    await until(alice_got_it, "libxmtp to read our client after its restart")
    assert await texts(dm) == ["before the restart", "bob, before", "while bob was away", "bob, after"]
    await bob.close()


async def test_the_echo_bot_example_answers_a_libxmtp_user(node: Node, tmp_path: Path) -> None:
    """examples/echo_bot.py, run as a user would run it, answers a libxmtp user in a DM."""
    script = Path(__file__).resolve().parents[2] / "examples" / "echo_bot.py"
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        "--node",
        node.address,
        "--home",
        str(tmp_path / "bot"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert bot.stdout is not None
        banner = (await asyncio.wait_for(bot.stdout.readline(), 30)).decode()
        bot_inbox = banner.split("(inbox ")[1].split(")")[0]
        await streams_open(node, 2)  # the bot's welcome and group streams
        api = await libxmtp_api(node)
        alice = await User.register(api)
        dm = await open_dm(alice, bot_inbox)
        await dm.send_text("echo this")

        async def echoed() -> bool:
            await dm.sync()
            return (await texts(dm)) == ["echo this", "echo this"]

        await until(echoed, "the bot's echo")
    finally:
        bot.terminate()
        await bot.wait()


async def test_messages_disappear_as_a_libxmtp_dm_asks(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    alice = await User.register(api)
    skew = [0]  # bob's clock runs ahead by this much once his messages' time is up (no waiting for it)
    bob = await new_client(node, tmp_path / "bob.db", clock_ns=lambda: time.time_ns() + skew[0])
    lifetime_ns = 3 * 10**9
    settings = v.FfiMessageDisappearingSettings(from_ns=time.time_ns() - 10**9, in_ns=lifetime_ns)
    dm = await alice.client.conversations().find_or_create_dm(
        bob.inbox_id, v.FfiCreateDmOptions(message_disappearing_settings=settings)
    )
    await dm.send_text("this will disappear")
    [bob_dm] = await bob.conversations.sync()
    await bob_dm.sync()
    assert bob_dm.message_disappearing_settings() == DisappearingSettings(settings.from_ns, lifetime_ns)
    assert bob_dm.texts() == ["this will disappear"]
    skew[0] = lifetime_ns + 10**9
    assert bob_dm.texts() == []  # gone from our database too
    assert bob.store.messages(bob_dm.group_id) == []  # the row itself is deleted
    await bob_dm.update_message_disappearing_settings(0, 0)  # off, for everyone
    await dm.sync()
    assert not dm.is_conversation_message_disappearing_enabled()  # libxmtp applied our commit
    await bob.close()


async def test_libxmtp_follows_our_welcome_pointers(node: Node, tmp_path: Path) -> None:
    """With more than two new installations our client publishes the Welcome once and sends each a pointer
    (5.5), as libxmtp does; libxmtp follows them (and so does our own client)."""
    api = await libxmtp_api(node)
    users = [await User.register(api) for _ in range(3)]
    wallet = LocalWalletSigner.generate()
    bob = await Client.create(node.address, wallet, db_path=tmp_path / "bob.db")
    await bob.register(wallet)
    carol_wallet = LocalWalletSigner.generate()
    carol = await Client.create(node.address, carol_wallet, db_path=tmp_path / "carol.db")
    await carol.register(carol_wallet)
    group = await bob.conversations.create_group(
        [u.inbox_id for u in users] + [carol.inbox_id], name="pointed"
    )
    await group.send_text("through a pointer")
    for user in users:
        raw = [w async for w in bob.api.welcomes_after(bytes(user.client.installation_id()), 0)]
        assert [w.WhichOneof("version") for w in raw] == ["welcome_pointer"]
        await user.client.conversations().sync()
        theirs = user.client.conversation(group.group_id)
        await theirs.sync()
        assert await texts(theirs) == ["through a pointer"]
    [carol_group] = await carol.conversations.sync()
    await carol_group.sync()
    assert carol_group.texts() == ["through a pointer"]
    await bob.close()
    await carol.close()
