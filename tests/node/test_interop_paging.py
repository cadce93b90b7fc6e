"""A real libxmtp client (xmtp-bindings 0.1.8 = libxmtp 1.10.0) reading a backlog whose pages the node cuts by
bytes: libxmtp stops at a page of fewer than 100 messages, so one sync reads only the first page; its next syncs
read on from the cursor it stored, and it ends with every message, in order, none twice.

The node's page budget is made small (40 KB) so that texts of 6 KB fill it, as 1 MB attachments would fill the
real one (20 MiB)."""

from __future__ import annotations

import os

import pytest

from pyxmtp.node import limits
from tests.interop.libxmtp import User, group_options, texts, until, v

from .apihelpers import ASC, query
from .conftest import StartNode, connect

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

PAGE_BYTES = 40_000
TEXTS = 30


async def test_libxmtp_reads_a_backlog_of_cut_pages_over_several_syncs(
    start_node: StartNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    v.FfiIdentifier.__hash__ = lambda s: hash((s.identifier, s.identifier_kind))  # bindings 0.1.8 defect
    monkeypatch.setattr(limits, "PAGE_BYTES", PAGE_BYTES)
    node = await start_node()
    api = await v.connect_to_backend(
        f"http://{node.address}", None, False, None, "pyxmtp-interop", None, None
    )
    alice = await User.register(api)
    bob = await User.register(api)
    options = group_options(None)
    group = await alice.client.conversations().create_group([bob.inbox_id], options)
    await bob.client.conversations().sync()
    bob_group = bob.client.conversation(group.id())
    await bob_group.sync()
    sent = [f"{i:02d} " + os.urandom(3000).hex() for i in range(TEXTS)]  # 6 KB each
    for text in sent:
        await group.send_text(text)

    raw = connect(node.address)
    page = await raw.mls.QueryGroupMessages(query(bytes(group.id()), ASC, limit=100))
    assert 1 < len(page.messages) < 10 and page.paging_info.id_cursor == page.messages[-1].v1.id  # cut, more
    await raw.channel.close()

    await bob_group.sync()
    first = await texts(bob_group)
    assert first == sent[: len(first)] and len(first) < TEXTS  # one page of the backlog at most

    async def bob_has_everything() -> bool:
        await bob_group.sync()
        return len(await texts(bob_group)) >= TEXTS

    await until(bob_has_everything, "bob to read the whole backlog")
    assert await texts(bob_group) == sent
    await bob_group.send_text("read it all")  # and bob's own intent still resolves through cut pages
    await group.sync()
    assert (await texts(group))[-1] == "read it all"
