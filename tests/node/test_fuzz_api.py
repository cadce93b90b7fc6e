"""Damaged requests against a running node (both stores): every answer is OK or INVALID_ARGUMENT, never an
internal error, and a rejected batch stores none of it, not even its intact part.

Requests go over the wire as raw bytes, so the damage can be anywhere: in the protobuf framing or inside the
MLS, welcome, key-package or identity bytes it carries.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf import message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyxmtp.identity.eth import LocalWalletSigner
from pyxmtp.identity.installation import InstallationKey
from pyxmtp.mls.codec import decode
from pyxmtp.mls.errors import DecodeError
from pyxmtp.mls.framing.messages import MLSMessage, PrivateMessage, PublicMessage
from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.identity.associations import signature_pb2
from pyxmtp.proto.mls.api.v1 import mls_pb2

from .apihelpers import ASC, query, send_request, welcome_v1
from .builders import key_package, private_message, public_proposal
from .conftest import Client
from .identity_helpers import inbox_ids_request, inbox_of, publish, register, updates_request

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANSWERS = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}

RawCall = Callable[[bytes], Awaitable[bytes]]


def group_of(data: bytes) -> bytes | None:
    """The group id of an MLSMessage(PublicMessage | PrivateMessage), read by the MLS core's own decoder."""
    try:
        body = decode(MLSMessage, data).body
    except DecodeError:
        return None
    if isinstance(body, PrivateMessage):
        return body.group_id
    if isinstance(body, PublicMessage):
        return body.content.group_id
    return None


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to three edits: a flipped bit, a cut, inserted or overwritten bytes, a repeated span."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "overwrite", "repeat"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del out[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=8))
            out[at : at + len(patch)] = patch
        else:
            out[at:at] = out[at : at + draw(st.integers(1, 32))]
    return bytes(out)


def raw(client: Client, path: str) -> RawCall:
    """The method at ``path``, taking and giving bytes."""
    return client.channel.unary_unary(path)


async def answer(call: RawCall, request: bytes) -> grpc.StatusCode:
    try:
        await call(request)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() in ANSWERS, f"{exc.code().name}: {exc.details()}"
        assert exc.details(), "a rejection says what was wrong"
        return exc.code()
    return grpc.StatusCode.OK


@FUZZ
@given(st.data())
async def test_damaged_group_messages_are_answered_and_all_or_nothing(
    client: Client, data: st.DataObject
) -> None:
    intact_group, other_group = os.urandom(16), os.urandom(16)
    intact = private_message(intact_group)
    victim = data.draw(st.sampled_from([private_message(other_group), public_proposal(other_group)]))
    where = data.draw(st.sampled_from(["payload", "request"]))
    if where == "payload":
        request = send_request(intact, data.draw(damaged(victim))).SerializeToString()
    else:
        request = data.draw(damaged(send_request(intact, victim).SerializeToString()))
    code = await answer(raw(client, "/xmtp.mls.api.v1.MlsApi/SendGroupMessages"), request)
    stored = [m.v1.data for m in (await client.mls.QueryGroupMessages(query(intact_group, ASC))).messages]
    if code == grpc.StatusCode.OK:  # all of it stored: what the (maybe damaged) request holds for the group
        sent = [m.v1.data for m in mls_pb2.SendGroupMessagesRequest.FromString(request).messages]
        assert stored == list(dict.fromkeys(d for d in sent if group_of(d) == intact_group))
        assert where == "request" or stored == [intact]
    else:
        assert stored == []


@FUZZ
@given(st.data())
async def test_damaged_welcomes_are_answered_and_all_or_nothing(client: Client, data: st.DataObject) -> None:
    intact_key, other_key = os.urandom(32), os.urandom(32)
    intact = welcome_v1(intact_key, os.urandom(200))
    request = data.draw(
        damaged(
            mls_pb2.SendWelcomeMessagesRequest(
                messages=[intact, welcome_v1(other_key, os.urandom(200))]
            ).SerializeToString()
        )
    )
    code = await answer(raw(client, "/xmtp.mls.api.v1.MlsApi/SendWelcomeMessages"), request)
    stored = await client.mls.QueryWelcomeMessages(
        mls_pb2.QueryWelcomeMessagesRequest(installation_key=intact_key)
    )
    if code != grpc.StatusCode.OK:
        assert list(stored.messages) == []


@FUZZ
@given(st.data())
async def test_a_damaged_key_package_leaves_the_stored_one(client: Client, data: st.DataObject) -> None:
    kp, installation = key_package()
    upload = mls_pb2.UploadKeyPackageRequest(
        key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=kp)
    )
    await client.mls.UploadKeyPackage(upload)
    where = data.draw(st.sampled_from(["key package", "request"]))
    if where == "key package":
        request = mls_pb2.UploadKeyPackageRequest(
            key_package=mls_pb2.KeyPackageUpload(key_package_tls_serialized=data.draw(damaged(kp)))
        ).SerializeToString()
    else:
        request = data.draw(damaged(upload.SerializeToString()))
    code = await answer(raw(client, "/xmtp.mls.api.v1.MlsApi/UploadKeyPackage"), request)
    fetched = await client.mls.FetchKeyPackages(
        mls_pb2.FetchKeyPackagesRequest(installation_keys=[installation])
    )
    if code != grpc.StatusCode.OK:
        assert [k.key_package_tls_serialized for k in fetched.key_packages] == [kp]


@FUZZ
@given(st.data())
async def test_a_damaged_identity_update_changes_nothing(client: Client, data: st.DataObject) -> None:
    wallet = LocalWalletSigner.generate()
    inbox = inbox_of(wallet)
    request = data.draw(damaged(publish(register(wallet, InstallationKey.generate())).SerializeToString()))
    code = await answer(raw(client, "/xmtp.identity.api.v1.IdentityApi/PublishIdentityUpdate"), request)
    updates = await client.identity.GetIdentityUpdates(updates_request((inbox, 0)))
    if code != grpc.StatusCode.OK:
        assert list(updates.responses[0].updates) == []
    else:  # what was accepted is what was sent (possibly for another inbox, if the damage made one)
        sent = identity_pb2.PublishIdentityUpdateRequest.FromString(request).identity_update
        if sent.inbox_id == inbox:
            assert [u.update for u in updates.responses[0].updates] == [sent]


def _seeds() -> dict[str, bytes]:
    """A well-formed request for every other method libxmtp calls, by path."""
    group, key = os.urandom(16), os.urandom(32)
    paging = mls_pb2.PagingInfo(direction=ASC, limit=10, id_cursor=3)
    entry = mls_pb2.PublishCommitLogRequest(
        group_id=group,
        serialized_commit_log_entry=os.urandom(40),
        signature=signature_pb2.RecoverableEd25519Signature(bytes=b"s" * 64, public_key=b"p" * 32),
    )
    Filter = mls_pb2.SubscribeGroupMessagesRequest.Filter
    WelcomeFilter = mls_pb2.SubscribeWelcomeMessagesRequest.Filter
    seeds: dict[str, message.Message] = {
        "MlsApi/QueryGroupMessages": mls_pb2.QueryGroupMessagesRequest(group_id=group, paging_info=paging),
        "MlsApi/QueryWelcomeMessages": mls_pb2.QueryWelcomeMessagesRequest(
            installation_key=key, paging_info=paging
        ),
        "MlsApi/FetchKeyPackages": mls_pb2.FetchKeyPackagesRequest(installation_keys=[key, key[::-1]]),
        "MlsApi/BatchPublishCommitLog": mls_pb2.BatchPublishCommitLogRequest(requests=[entry, entry]),
        "MlsApi/BatchQueryCommitLog": mls_pb2.BatchQueryCommitLogRequest(
            requests=[mls_pb2.QueryCommitLogRequest(group_id=group, paging_info=paging)]
        ),
        "MlsApi/GetNewestGroupMessage": mls_pb2.GetNewestGroupMessageRequest(group_ids=[group, key]),
        "MlsApi/SubscribeGroupMessages": mls_pb2.SubscribeGroupMessagesRequest(
            filters=[Filter(group_id=group, id_cursor=2), Filter(group_id=key)]
        ),
        "MlsApi/SubscribeWelcomeMessages": mls_pb2.SubscribeWelcomeMessagesRequest(
            filters=[WelcomeFilter(installation_key=key, id_cursor=1)]
        ),
        "IdentityApi/GetIdentityUpdates": updates_request(("ab" * 32, 0), ("cd" * 32, 5)),
        "IdentityApi/GetInboxIds": inbox_ids_request("0x" + "12" * 20, "0x" + "34" * 20),
    }
    return {path: request.SerializeToString() for path, request in seeds.items()}


SEEDS = _seeds()


@settings(FUZZ, max_examples=300)
@given(st.sampled_from(sorted(SEEDS)), st.data())
async def test_every_other_method_answers_damaged_requests(
    client: Client, path: str, data: st.DataObject
) -> None:
    service = "xmtp.identity.api.v1" if path.startswith("Identity") else "xmtp.mls.api.v1"
    full = f"/{service}.{path}"
    request = data.draw(st.one_of(damaged(SEEDS[path]), st.binary(max_size=64)))
    if "/Subscribe" not in path:
        await answer(raw(client, full), request)
        return
    stream = client.channel.unary_stream(full)(request)
    try:  # a stream is either refused at once or opened (and then quiet: nothing was sent to it)
        await asyncio.wait_for(stream.read(), 0.2)
    except TimeoutError:
        pass
    except grpc.aio.AioRpcError as exc:
        assert exc.code() in ANSWERS and exc.details(), f"{exc.code().name}: {exc.details()}"
    finally:
        stream.cancel()
