"""Device sync against libxmtp 1.10 (xmtp-bindings 0.1.8, its device-sync worker on) on our node: a pyxmtp and a
libxmtp installation of the same inbox share consent decisions through the inbox's sync groups, both ways."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pyxmtp.client import Client, ConsentState
from pyxmtp.client.consent import Consent, ConsentEntityType
from pyxmtp.client.device_sync import groups
from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.node import Node
from tests.interop.libxmtp import User, until, v

from .test_libxmtp_interop import libxmtp_api

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

#: libxmtp's worker handles a synced message at once when notified, else at its 20 s tick
SLOW = 60.0


async def test_consent_set_on_either_side_reaches_the_other(node: Node, tmp_path: Path) -> None:
    api = await libxmtp_api(node)
    key = os.urandom(32)
    ours = await Client.create(node.address, LocalWalletSigner(key), db_path=tmp_path / "ours.db")
    try:
        theirs = await User.register(api, key, device_sync=True)  # its worker makes a sync group and adds us
        assert theirs.inbox_id == ours.inbox_id

        async def in_their_sync_group() -> bool:
            await ours.device_sync.sync_all_device_sync_groups()
            return groups.primary(ours.conversations.hub) is not None

        await until(in_their_sync_group, "libxmtp's sync group to welcome us", SLOW)
        assert ours.conversations.list() == []  # kept out of lists

        # libxmtp -> pyxmtp
        stranger = "11" * 32
        await theirs.client.set_consent_states(
            [
                v.FfiConsent(
                    entity_type=v.FfiConsentEntityType.INBOX_ID,
                    state=v.FfiConsentState.DENIED,
                    entity=stranger,
                )
            ]
        )

        async def denied_here() -> bool:
            await ours.device_sync.sync_all_device_sync_groups()
            return (
                ours.preferences.get_consent_state(ConsentEntityType.INBOX, stranger) is ConsentState.DENIED
            )

        await until(denied_here, "libxmtp's consent change at pyxmtp", SLOW)

        # pyxmtp -> libxmtp
        friend = "22" * 32
        ours.preferences.set_consent_states([Consent(ConsentEntityType.INBOX, friend, ConsentState.ALLOWED)])
        await ours.device_sync.publish_preferences()

        async def allowed_there() -> bool:
            await theirs.client.sync_all_device_sync_groups()
            state: Any = await theirs.client.get_consent_state(v.FfiConsentEntityType.INBOX_ID, friend)
            return bool(state == v.FfiConsentState.ALLOWED)

        await until(allowed_there, "pyxmtp's consent change at libxmtp", SLOW)

        # and a change of a decision both hold goes through too (pyxmtp dates it now: newer than libxmtp's)
        ours.preferences.set_consent_states(
            [Consent(ConsentEntityType.INBOX, stranger, ConsentState.ALLOWED)]
        )
        await ours.device_sync.publish_preferences()

        async def changed_there() -> bool:
            await theirs.client.sync_all_device_sync_groups()
            state: Any = await theirs.client.get_consent_state(v.FfiConsentEntityType.INBOX_ID, stranger)
            return bool(state == v.FfiConsentState.ALLOWED)

        await until(changed_there, "pyxmtp's changed decision at libxmtp", SLOW)
    finally:
        await ours.close()
