"""Key-package upkeep over a (simulated) month: rotation after 30 days, the replaced key's private parts deleted
after its one-day grace, and a welcome to the replaced key package still opening within the grace period."""

from __future__ import annotations

import time
from pathlib import Path

from pyxmtp.client import Client
from pyxmtp.client.client import KEY_PACKAGE_GRACE_NS, KEY_PACKAGE_ROTATION_NS
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node

DAY = 24 * 3600 * 10**9


class Clock:
    """Starts 40 days ago (key packages must be valid at the node's real time when uploaded)."""

    def __init__(self) -> None:
        self.now = time.time_ns() - 40 * DAY

    def __call__(self) -> int:
        return self.now


async def test_rotation_deletion_and_the_grace_period(node: Node, tmp_path: Path) -> None:
    clock = Clock()
    wallet = LocalWalletSigner.generate()
    bob = await Client.create(node.address, wallet, db_path=tmp_path / "bob.db", clock_ns=clock)
    await bob.register(wallet)
    first = (await bob.api.fetch_key_packages([bob.installation_id]))[0]
    assert bob.store.key_package_count() == 1

    clock.now += KEY_PACKAGE_ROTATION_NS - DAY
    await bob.maintain()  # not due yet
    assert (await bob.api.fetch_key_packages([bob.installation_id]))[0] == first

    clock.now += DAY
    await bob.maintain()  # 30 days: a new one replaces it on the node; the old keys stay for the grace period
    assert (await bob.api.fetch_key_packages([bob.installation_id]))[0] != first
    assert bob.store.key_package_count() == 2

    # a welcome made from the replaced key package (someone fetched it before the rotation) still opens
    wallet_a = LocalWalletSigner.generate()
    alice = await Client.create(node.address, wallet_a, db_path=tmp_path / "alice.db")
    await alice.register(wallet_a)
    real_fetch = alice.api.fetch_key_packages

    async def stale_fetch(keys):  # type: ignore[no-untyped-def]
        return [
            first if key == bob.installation_id else kp
            for key, kp in zip(keys, await real_fetch(keys), strict=True)
        ]

    alice.api.fetch_key_packages = stale_fetch  # type: ignore[method-assign]
    dm = await alice.conversations.create_dm(bob.inbox_id)
    await dm.send_text("to your old key package")
    [joined] = await bob.conversations.sync()
    await joined.sync()
    assert joined.texts() == ["to your old key package"]

    clock.now += KEY_PACKAGE_GRACE_NS + 1
    await bob.maintain()
    assert bob.store.key_package_count() == 1  # only the newest is left: the old private keys are gone
    await alice.close()
    await bob.close()
