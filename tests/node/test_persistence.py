"""Durability: restart with the same data directory, kill -9 right after a reply, and the CLI's signals."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import grpc
import pytest

from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, query, send_request, welcome_v1
from .builders import KeyPackageSpec, private_message
from .conftest import Client, StartNode, connect
from .identity_helpers import inbox_ids_request, inbox_of, publish, register, updates_request
from .postgres import BackendSettings, cli_flags
from .procs import NodeProcess


async def snapshot(
    c: Client, group: bytes, key: bytes, installation: bytes, inbox: str, address: str
) -> tuple:  # type: ignore[type-arg]
    msgs = await c.mls.QueryGroupMessages(query(group, ASC))
    welcomes = await c.mls.QueryWelcomeMessages(
        mls_pb2.QueryWelcomeMessagesRequest(
            installation_key=key, paging_info=mls_pb2.PagingInfo(direction=ASC)
        )
    )
    kps = await c.mls.FetchKeyPackages(mls_pb2.FetchKeyPackagesRequest(installation_keys=[installation]))
    updates = await c.identity.GetIdentityUpdates(updates_request((inbox, 0)))
    ids = await c.identity.GetInboxIds(inbox_ids_request(address))
    return (
        [(m.v1.id, m.v1.data, m.v1.is_commit, m.v1.created_ns) for m in msgs.messages],
        [(w.v1.id, w.v1.data) for w in welcomes.messages],
        [k.key_package_tls_serialized for k in kps.key_packages],
        [(u.sequence_id, u.update.SerializeToString()) for u in updates.responses[0].updates],
        [r.inbox_id for r in ids.responses],
    )


async def write_everything(c: Client) -> tuple[bytes, bytes, bytes, str, str, LocalWalletSigner]:
    group, key = os.urandom(16), os.urandom(32)
    spec = KeyPackageSpec()
    wallet = LocalWalletSigner.generate()
    await c.mls.SendGroupMessages(send_request(*(private_message(group) for _ in range(5))))
    await c.mls.SendWelcomeMessages(
        mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(key, b"welcome")])
    )
    await c.mls.UploadKeyPackage(
        mls_pb2.UploadKeyPackageRequest(
            key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=spec.to_bytes())
        )
    )
    await c.identity.PublishIdentityUpdate(publish(register(wallet, InstallationKey.generate())))
    return group, key, spec.installation_key, inbox_of(wallet), wallet.address, wallet


async def test_restart_keeps_everything_and_ids_keep_growing(start_node: StartNode, tmp_path: Path) -> None:
    node = await start_node()
    c = connect(node.address)
    group, key, installation, inbox, address, wallet = await write_everything(c)
    before = await snapshot(c, group, key, installation, inbox, address)
    await c.channel.close()
    port = node.port
    await node.stop()

    node = await start_node(port=port)
    c = connect(node.address)
    after = await snapshot(c, group, key, installation, inbox, address)
    assert after == before and before[0] and before[1] and before[2][0] and before[3] and before[4] == [inbox]
    await c.mls.SendGroupMessages(send_request(private_message(group)))
    msgs = await c.mls.QueryGroupMessages(query(group, ASC))
    assert msgs.messages[-1].v1.id > before[0][-1][0]
    # the identity state is rebuilt from the stored log (nothing cached survives a restart)
    from .identity_helpers import add_installation

    await c.identity.PublishIdentityUpdate(
        publish(add_installation(inbox, wallet, InstallationKey.generate()))
    )
    assert len((await c.identity.GetIdentityUpdates(updates_request((inbox, 0)))).responses[0].updates) == 2
    await c.channel.close()


async def test_kill_9_after_a_reply_loses_nothing(tmp_path: Path, backend: BackendSettings) -> None:
    data = tmp_path / "data"
    store_flags = cli_flags(backend(data))
    proc = NodeProcess(data, 0, "--no-rate-limit", *store_flags)
    try:
        await asyncio.to_thread(proc.wait_listening)
        c = connect(proc.address)
        group, key, installation, inbox, address, _ = await write_everything(c)
        last = private_message(group)
        await c.mls.SendGroupMessages(send_request(last))  # the reply is the durability promise ...
        proc.signal(signal.SIGKILL)  # ... so kill at once
        await c.channel.close()
    finally:
        proc.kill()
    assert proc.proc.returncode == -signal.SIGKILL

    proc = NodeProcess(data, 0, "--no-rate-limit", *store_flags)
    try:
        await asyncio.to_thread(proc.wait_listening)
        c = connect(proc.address)
        msgs, welcomes, kps, updates, ids = await snapshot(c, group, key, installation, inbox, address)
        assert len(msgs) == 6 and msgs[-1][1] == last
        assert welcomes and kps[0] and len(updates) == 1 and ids == [inbox]
        await c.channel.close()
    finally:
        proc.signal(signal.SIGTERM)
        proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_and_stops_cleanly_on_signals(tmp_path: Path, sig: int) -> None:
    proc = NodeProcess(tmp_path / "data", 0, "--log-level", "debug")
    try:
        await asyncio.to_thread(proc.wait_listening)
        c = connect(proc.address)
        await c.mls.SendGroupMessages(send_request(private_message(b"g" * 16)))
        call = c.mls.SubscribeGroupMessages(mls_pb2.SubscribeGroupMessagesRequest())
        await call.initial_metadata()
        proc.signal(sig)
        code = await asyncio.to_thread(proc.wait)
    finally:
        proc.kill()
    assert code == 0
    log = proc.log()
    assert "shutting down" in log and "pyxmtp node stopped" in log
    assert "MlsApi/SendGroupMessages peer=127.0.0.1 status=OK duration_ms=" in log
    await c.channel.close()


async def test_cli_refuses_a_busy_sqlite_data_directory_but_shares_a_postgres_schema(
    tmp_path: Path, backend: BackendSettings
) -> None:
    store_flags = cli_flags(backend(tmp_path / "data"))
    first = NodeProcess(tmp_path / "data", 0, *store_flags)
    try:
        await asyncio.to_thread(first.wait_listening)
        where = "data in PostgreSQL postgresql://" if store_flags else f"data in SQLite {tmp_path / 'data'}"
        assert where in first.log()
        second = NodeProcess(tmp_path / "data", 0, *store_flags, log=tmp_path / "second.log")
        if store_flags:  # PostgreSQL: any number of node processes share the schema
            await asyncio.to_thread(second.wait_listening)
            second.signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait) == 0
        else:
            assert await asyncio.to_thread(second.wait) == 1
            assert "in use by another node process" in second.log()
    finally:
        first.signal(signal.SIGTERM)
        first.wait()


@pytest.mark.parametrize("given_by", ["flag", "environment"])
async def test_cli_reports_an_unreachable_database(
    tmp_path: Path, given_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://bob:s3cret-pw@127.0.0.1:1/nowhere"
    if given_by == "environment":
        monkeypatch.setenv("PYXMTP_DATABASE_URL", url)
        proc = NodeProcess(tmp_path / "data", 0)
    else:
        proc = NodeProcess(tmp_path / "data", 0, "--database-url", url)
    assert await asyncio.to_thread(proc.wait) == 1
    log = proc.log()
    assert "cannot connect to PostgreSQL" in log and "Traceback" not in log and "s3cret-pw" not in log
    assert not (tmp_path / "data").exists()  # it did not fall back to SQLite


async def sends_until_refused(data: Path, *flags: str) -> tuple[int, grpc.StatusCode | None]:
    """Start ``pyxmtp node`` with ``flags``; send up to 10 messages: how many went through, and the refusal."""
    proc = NodeProcess(data, 0, *flags)
    try:
        await asyncio.to_thread(proc.wait_listening)
        c = connect(proc.address)
        group = os.urandom(16)
        try:
            for sent in range(10):
                try:
                    await c.mls.SendGroupMessages(send_request(private_message(group)))
                except grpc.aio.AioRpcError as exc:
                    return sent, exc.code()
            return 10, None
        finally:
            await c.channel.close()
    finally:
        proc.kill()


async def test_the_cli_rate_limit_flags_and_no_rate_limit(tmp_path: Path) -> None:
    """``--write-capacity`` / ``--write-refill`` reach the limiter; ``--no-rate-limit`` switches it off."""
    limits = ("--write-capacity", "3", "--write-refill", "1")
    assert await sends_until_refused(tmp_path / "a", *limits) == (3, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert await sends_until_refused(tmp_path / "b", "--no-rate-limit", *limits) == (10, None)
