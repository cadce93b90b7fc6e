"""SendWelcomeMessages / QueryWelcomeMessages, UploadKeyPackage / FetchKeyPackages / RegisterInstallation."""

from __future__ import annotations

import os
import time

import grpc
import pytest

from pyxmtp.mls.messages.extensions import Extension
from pyxmtp.node import Node
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, welcome_pointer, welcome_v1
from .builders import KeyPackageSpec
from .conftest import Client


async def welcomes(client: Client, key: bytes, direction: int = ASC) -> list[mls_pb2.WelcomeMessage]:
    resp = await client.mls.QueryWelcomeMessages(
        mls_pb2.QueryWelcomeMessagesRequest(
            installation_key=key, paging_info=mls_pb2.PagingInfo(direction=direction)
        )
    )
    return list(resp.messages)


async def test_welcome_round_trip_v1_and_pointer(client: Client) -> None:
    key = os.urandom(32)
    await client.mls.SendWelcomeMessages(
        mls_pb2.SendWelcomeMessagesRequest(
            messages=[
                welcome_v1(key, b"welcome-1", metadata=b"meta"),
                welcome_pointer(key, b"pointer-1"),
                welcome_v1(key, b"pointee", hpke_public_key=b"", algorithm=3),
                welcome_v1(key, b"legacy", algorithm=0),
            ]
        )
    )
    w1, wp, pointee, legacy = await welcomes(client, key)
    assert w1.v1.data == b"welcome-1" and w1.v1.welcome_metadata == b"meta" and w1.v1.wrapper_algorithm == 2
    assert w1.v1.installation_key == key and w1.v1.hpke_public_key == b"pk" * 16 and w1.v1.created_ns > 0
    assert wp.WhichOneof("version") == "welcome_pointer"
    assert wp.welcome_pointer.welcome_pointer == b"pointer-1" and wp.welcome_pointer.wrapper_algorithm == 2
    assert pointee.v1.wrapper_algorithm == 3 and pointee.v1.hpke_public_key == b""
    assert legacy.v1.wrapper_algorithm == 1  # UNSPECIFIED is stored as CURVE25519, as node-go does
    assert w1.v1.id < wp.welcome_pointer.id < pointee.v1.id < legacy.v1.id
    desc = await welcomes(client, key, direction=0)
    assert [w.WhichOneof("version") for w in desc] == ["v1", "v1", "welcome_pointer", "v1"]


async def test_welcomes_are_deduplicated_per_installation(client: Client) -> None:
    a, b = os.urandom(32), os.urandom(32)
    req = mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(a, b"same"), welcome_v1(b, b"same")])
    await client.mls.SendWelcomeMessages(req)
    await client.mls.SendWelcomeMessages(req)
    assert len(await welcomes(client, a)) == 1 and len(await welcomes(client, b)) == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (welcome_v1(b"", b"data"), "installation_key is empty"),
        (welcome_v1(b"k" * 32, b""), "data is empty"),
        (welcome_v1(b"k" * 32, b"data", hpke_public_key=b""), "hpke_public_key is empty"),
        (welcome_pointer(b"k" * 32, b""), "required"),
        (welcome_pointer(b"k" * 32, b"p", algorithm=0), "wrapper algorithm"),
        (mls_pb2.WelcomeMessageInput(), "missing version"),
    ],
)
async def test_malformed_welcomes_fail_the_whole_batch(
    client: Client, bad: mls_pb2.WelcomeMessageInput, message: str
) -> None:
    key = os.urandom(32)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.SendWelcomeMessages(
            mls_pb2.SendWelcomeMessagesRequest(messages=[welcome_v1(key, b"ok"), bad])
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in (info.value.details() or "")
    assert await welcomes(client, key) == []


async def test_empty_welcome_batch_and_query_without_installation_are_invalid(client: Client) -> None:
    for call in (
        client.mls.SendWelcomeMessages(mls_pb2.SendWelcomeMessagesRequest()),
        client.mls.QueryWelcomeMessages(mls_pb2.QueryWelcomeMessagesRequest()),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def upload(kp: bytes) -> mls_pb2.UploadKeyPackageRequest:
    return mls_pb2.UploadKeyPackageRequest(
        key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=kp), is_inbox_id_credential=True
    )


async def test_latest_key_package_per_installation_and_history(node: Node, client: Client) -> None:
    spec = KeyPackageSpec()
    first, second = spec.to_bytes(), spec.to_bytes()
    other = KeyPackageSpec().to_bytes()
    await client.mls.UploadKeyPackage(upload(first))
    await client.mls.UploadKeyPackage(upload(other))
    await client.mls.UploadKeyPackage(upload(second))
    await client.mls.UploadKeyPackage(upload(second))
    resp = await client.mls.FetchKeyPackages(
        mls_pb2.FetchKeyPackagesRequest(
            installation_keys=[spec.installation_key, b"unknown", spec.installation_key]
        )
    )
    assert [k.key_package_tls_serialized for k in resp.key_packages] == [second, b"", second]
    assert await node.store.key_package_history(spec.installation_key) == [first, second]


async def test_register_installation_answers_the_installation_key(client: Client) -> None:
    spec = KeyPackageSpec()
    resp = await client.mls.RegisterInstallation(
        mls_pb2.RegisterInstallationRequest(
            key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=spec.to_bytes())
        )
    )
    assert resp.installation_key == spec.installation_key
    fetched = await client.mls.FetchKeyPackages(
        mls_pb2.FetchKeyPackagesRequest(installation_keys=[spec.installation_key])
    )
    assert fetched.key_packages[0].key_package_tls_serialized


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (KeyPackageSpec(version=2), "version"),
        (KeyPackageSpec(not_after=int(time.time()) - 1, not_before=0), "lifetime"),
        (KeyPackageSpec(kp_signer=KeyPackageSpec().signer), "key_package_signature"),
        (KeyPackageSpec(leaf_signer=KeyPackageSpec().signer), "leaf_node_signature"),
        (KeyPackageSpec(kp_extensions=(Extension(0xFF09, b""),)), "capabilities"),
    ],
)
async def test_invalid_key_packages_are_rejected_and_not_stored(
    client: Client, spec: KeyPackageSpec, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.mls.UploadKeyPackage(upload(spec.to_bytes()))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in (info.value.details() or "")
    resp = await client.mls.FetchKeyPackages(
        mls_pb2.FetchKeyPackagesRequest(installation_keys=[spec.installation_key])
    )
    assert resp.key_packages[0].key_package_tls_serialized == b""


async def test_key_package_upload_without_package_or_with_garbage(client: Client) -> None:
    for req in (mls_pb2.UploadKeyPackageRequest(), upload(b"\x00\x01\x00\x03junk"), upload(b"")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.mls.UploadKeyPackage(req)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
