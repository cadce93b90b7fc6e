"""pyxmtp's protobuf schemas: generated code, gRPC method paths, wire facts, and
agreement with the schemas compiled into the real libxmtp client library."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import pyxmtp.proto
from pyxmtp.proto.device_sync import consent_backup_pb2, device_sync_pb2, group_backup_pb2, message_backup_pb2
from pyxmtp.proto.device_sync import content_pb2 as device_sync_content_pb2
from pyxmtp.proto.identity import credential_pb2
from pyxmtp.proto.identity.api.v1 import identity_pb2, identity_pb2_grpc
from pyxmtp.proto.identity.associations import association_pb2, signature_pb2
from pyxmtp.proto.migration.api.v1 import migration_pb2, migration_pb2_grpc
from pyxmtp.proto.mls.api.v1 import mls_pb2, mls_pb2_grpc
from pyxmtp.proto.mls.message_contents import (
    content_pb2,
    group_membership_pb2,
    group_metadata_pb2,
    welcome_pointer_pb2,
    wrapper_encryption_pb2,
)
from pyxmtp.proto.mls_client import mls_client_pb2, mls_client_pb2_grpc
from pyxmtp.proto.mls_validation.v1 import service_pb2, service_pb2_grpc
from tests.conftest import interop_unavailable

from .libxmtp_descriptors import bindings_library, embedded_files

ROOT = Path(__file__).resolve().parents[2]

INBOX_ID = "32fa864b1d4ab7fbc8b64ef9cf6f47ae7a6f2648ccb5a93d3b5ded98d31de3ab"


# --------------------------------------------------------------------------------------------
# (1) the committed generated code is exactly what the schemas produce


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_generated_module_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(pyxmtp.proto.__path__, "pyxmtp.proto.")]
    assert "pyxmtp.proto.mls.api.v1.mls_pb2_grpc" in names
    for name in names:
        importlib.import_module(name)


# --------------------------------------------------------------------------------------------
# (2) gRPC method paths

MLS_API = [
    "SendGroupMessages",
    "SendWelcomeMessages",
    "RegisterInstallation",
    "UploadKeyPackage",
    "FetchKeyPackages",
    "RevokeInstallation",
    "GetIdentityUpdates",
    "QueryGroupMessages",
    "QueryWelcomeMessages",
    "SubscribeGroupMessages",
    "SubscribeWelcomeMessages",
    "Subscribe",
    "BatchPublishCommitLog",
    "BatchQueryCommitLog",
    "GetNewestGroupMessage",
]
IDENTITY_API = [
    "PublishIdentityUpdate",
    "GetIdentityUpdates",
    "GetInboxIds",
    "VerifySmartContractWalletSignatures",
]
VALIDATION_API = [
    "ValidateGroupMessages",
    "GetAssociationState",
    "ValidateInboxIdKeyPackages",
    "VerifySmartContractWalletSignatures",
]
# the IETF MLS interop harness (mlswg/mls-implementations interop/proto/mls_client.proto)
MLS_CLIENT = [
    "Name",
    "SupportedCiphersuites",
    "CreateGroup",
    "CreateKeyPackage",
    "JoinGroup",
    "ExternalJoin",
    "GroupInfo",
    "StateAuth",
    "Export",
    "Protect",
    "Unprotect",
    "StorePSK",
    "AddProposal",
    "UpdateProposal",
    "RemoveProposal",
    "ExternalPSKProposal",
    "ResumptionPSKProposal",
    "GroupContextExtensionsProposal",
    "Commit",
    "HandleCommit",
    "HandlePendingCommit",
    "ReInitProposal",
    "ReInitCommit",
    "HandlePendingReInitCommit",
    "HandleReInitCommit",
    "ReInitWelcome",
    "HandleReInitWelcome",
    "CreateBranch",
    "HandleBranch",
    "NewMemberAddProposal",
    "CreateExternalSigner",
    "AddExternalSigner",
    "ExternalSignerProposal",
    "Free",
]

# service full name, its descriptor, generated stub class, expected methods
SERVICES: list[tuple[str, ServiceDescriptor, Any, list[str]]] = [
    (
        "xmtp.mls.api.v1.MlsApi",
        mls_pb2.DESCRIPTOR.services_by_name["MlsApi"],
        mls_pb2_grpc.MlsApiStub,
        MLS_API,
    ),
    (
        "xmtp.identity.api.v1.IdentityApi",
        identity_pb2.DESCRIPTOR.services_by_name["IdentityApi"],
        identity_pb2_grpc.IdentityApiStub,
        IDENTITY_API,
    ),
    (
        "xmtp.migration.api.v1.D14nMigrationApi",
        migration_pb2.DESCRIPTOR.services_by_name["D14nMigrationApi"],
        migration_pb2_grpc.D14nMigrationApiStub,
        ["FetchD14nCutover"],
    ),
    (
        "xmtp.mls_validation.v1.ValidationApi",
        service_pb2.DESCRIPTOR.services_by_name["ValidationApi"],
        service_pb2_grpc.ValidationApiStub,
        VALIDATION_API,
    ),
    (
        "mls_client.MLSClient",
        mls_client_pb2.DESCRIPTOR.services_by_name["MLSClient"],
        mls_client_pb2_grpc.MLSClientStub,
        MLS_CLIENT,
    ),
]

STREAMING = {
    "/xmtp.mls.api.v1.MlsApi/SubscribeGroupMessages": (False, True),
    "/xmtp.mls.api.v1.MlsApi/SubscribeWelcomeMessages": (False, True),
    "/xmtp.mls.api.v1.MlsApi/Subscribe": (True, True),
}


@pytest.mark.parametrize(("full_name", "service", "_stub", "methods"), SERVICES, ids=[s[0] for s in SERVICES])
def test_service_declares_exactly_the_expected_methods(
    full_name: str, service: ServiceDescriptor, _stub: Any, methods: list[str]
) -> None:
    assert service.full_name == full_name
    assert [m.name for m in service.methods] == methods
    for m in service.methods:
        path = f"/{full_name}/{m.name}"
        assert (m.client_streaming, m.server_streaming) == STREAMING.get(path, (False, False)), path


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    """A real server with every generated (unimplemented) servicer registered."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    # The generated base servicers answer UNIMPLEMENTED; the stubs mark them abstract.
    mls_pb2_grpc.add_MlsApiServicer_to_server(mls_pb2_grpc.MlsApiServicer(), server)  # type: ignore[abstract]
    identity_pb2_grpc.add_IdentityApiServicer_to_server(
        identity_pb2_grpc.IdentityApiServicer(),  # type: ignore[abstract]
        server,
    )
    migration_pb2_grpc.add_D14nMigrationApiServicer_to_server(
        migration_pb2_grpc.D14nMigrationApiServicer(),  # type: ignore[abstract]
        server,
    )
    service_pb2_grpc.add_ValidationApiServicer_to_server(
        service_pb2_grpc.ValidationApiServicer(),  # type: ignore[abstract]
        server,
    )
    mls_client_pb2_grpc.add_MLSClientServicer_to_server(
        mls_client_pb2_grpc.MLSClientServicer(),  # type: ignore[abstract]
        server,
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop(None)


def _call_error(multicallable: Any, request: Message, streaming: tuple[bool, bool]) -> grpc.RpcError:
    client_streaming, server_streaming = streaming
    arg: Any = iter([request]) if client_streaming else request
    try:
        result = multicallable(arg, timeout=10)
        if server_streaming:
            list(result)
    except grpc.RpcError as err:
        return err
    raise AssertionError("call unexpectedly succeeded")


@pytest.mark.parametrize(
    ("full_name", "service", "stub_class", "methods"), SERVICES, ids=[s[0] for s in SERVICES]
)
def test_stub_paths_reach_the_registered_servicer(
    channel: grpc.Channel, full_name: str, service: ServiceDescriptor, stub_class: Any, methods: list[str]
) -> None:
    stub = stub_class(channel)
    for m in service.methods:
        request = GetMessageClass(m.input_type)()
        err = _call_error(getattr(stub, m.name), request, (m.client_streaming, m.server_streaming))
        # Registered path, base servicer: "not implemented". An unknown path: "not found".
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED, m.name
        assert err.details() == "Method not implemented!", f"/{full_name}/{m.name}: {err.details()}"


def test_unregistered_path_is_distinguishable(channel: grpc.Channel) -> None:
    call: Any = channel.unary_unary(
        "/xmtp.mls.api.v1.MlsApi/NoSuchMethod",
        request_serializer=mls_pb2.QueryGroupMessagesRequest.SerializeToString,
    )
    err = _call_error(call, mls_pb2.QueryGroupMessagesRequest(), (False, False))
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    assert err.details() == "Method not found!"


def test_generated_paths_are_xmtps() -> None:
    paths = {f"/{s.full_name}/{m.name}" for _, s, _, _ in SERVICES for m in s.methods}
    assert "/xmtp.mls.api.v1.MlsApi/SendGroupMessages" in paths
    assert "/xmtp.identity.api.v1.IdentityApi/GetInboxIds" in paths
    assert "/xmtp.migration.api.v1.D14nMigrationApi/FetchD14nCutover" in paths
    assert "/mls_client.MLSClient/HandlePendingCommit" in paths
    assert len(paths) == len(MLS_API) + len(IDENTITY_API) + 1 + len(VALIDATION_API) + len(MLS_CLIENT)


def test_mls_interop_field_numbers() -> None:
    """A few of the IETF interop harness's field numbers, as the Go test-runner encodes them."""
    commit = mls_client_pb2.CommitRequest(state_id=1, external_tree=True, force_path=True)
    assert commit.SerializeToString() == bytes.fromhex("080120012801")
    reply = mls_client_pb2.CreateKeyPackageResponse(transaction_id=2, signature_priv=b"\x05")
    assert reply.SerializeToString() == bytes.fromhex("08022a0105")
    join = mls_client_pb2.ExternalJoinRequest(
        remove_prior=True, psks=[mls_client_pb2.PreSharedKey(psk_id=b"i")]
    )
    assert join.SerializeToString() == bytes.fromhex("280132030a0169")
    description = mls_client_pb2.ProposalDescription(proposal_type=b"add", epoch_id=3, cipher_suite=7)
    assert description.SerializeToString() == bytes.fromhex("0a0361646428034007")


# --------------------------------------------------------------------------------------------
# (3) wire facts from the spec


def test_mls_credential_bytes() -> None:
    data = credential_pb2.MlsCredential(inbox_id=INBOX_ID).SerializeToString()
    assert data == bytes.fromhex("0a40") + INBOX_ID.encode()
    assert len(data) == 66


def test_welcome_metadata_has_tag_7_in_welcome_input() -> None:
    v1 = mls_pb2.WelcomeMessageInput.V1(welcome_metadata=b"\xaa")
    assert v1.SerializeToString() == bytes.fromhex("3a01aa")  # (7 << 3) | 2
    assert mls_pb2.WelcomeMessageInput.V1.DESCRIPTOR.fields_by_name["welcome_metadata"].number == 7
    assert mls_pb2.WelcomeMessage.V1.DESCRIPTOR.fields_by_name["welcome_metadata"].number == 7


def test_welcome_metadata_cursor_encoding() -> None:
    assert mls_pb2.WelcomeMetadata(message_cursor=8).SerializeToString() == bytes.fromhex("0808")
    assert mls_pb2.WelcomeMetadata(message_cursor=0).SerializeToString() == b""


def test_text_encoded_content_for_hi() -> None:
    content = content_pb2.EncodedContent(
        type=content_pb2.ContentTypeId(authority_id="xmtp.org", type_id="text", version_major=1),
        parameters={"encoding": "UTF-8"},
        content=b"hi",
    )
    want = "0a120a08786d74702e6f7267120474657874180112110a08656e636f64696e6712055554462d3822026869"
    assert content.SerializeToString().hex() == want
    parsed = content_pb2.EncodedContent.FromString(bytes.fromhex(want))
    assert parsed.type.type_id == "text"
    assert not parsed.HasField("fallback")
    assert not parsed.HasField("compression")


def test_plaintext_envelope_v1() -> None:
    env = content_pb2.PlaintextEnvelope(
        v1=content_pb2.PlaintextEnvelope.V1(content=b"c", idempotency_key="1")
    )
    assert env.SerializeToString() == bytes.fromhex("0a06" + "0a0163" + "120131")


def test_welcome_pointee_aead_types_extension_packed_and_unpacked() -> None:
    ext = welcome_pointer_pb2.WelcomePointeeEncryptionAeadTypesExtension
    chacha = welcome_pointer_pb2.WELCOME_POINTEE_ENCRYPTION_AEAD_TYPE_CHACHA20_POLY1305
    assert chacha == 3
    assert ext(supported_aead_types=[chacha]).SerializeToString() == bytes.fromhex("0a0103")
    assert list(ext.FromString(bytes.fromhex("0a0103")).supported_aead_types) == [3]
    assert list(ext.FromString(bytes.fromhex("0803")).supported_aead_types) == [3]


def test_welcome_wrapper_encryption_extension() -> None:
    xwing = wrapper_encryption_pb2.WELCOME_WRAPPER_ALGORITHM_XWING_MLKEM_768_DRAFT_6
    assert xwing == 2
    assert wrapper_encryption_pb2.WelcomeWrapperEncryption(
        algorithm=xwing
    ).SerializeToString() == bytes.fromhex("1002")
    body = wrapper_encryption_pb2.WelcomeWrapperEncryption(
        pub_key=bytes(1216), algorithm=xwing
    ).SerializeToString()
    assert len(body) == 1221
    assert body[:3] == bytes.fromhex("0ac009")
    assert body[-2:] == bytes.fromhex("1002")


def test_installation_signature_is_field_3_of_signature() -> None:
    sig = signature_pb2.Signature(
        installation_key=signature_pb2.RecoverableEd25519Signature(bytes=b"\x01", public_key=b"\x02")
    )
    assert sig.SerializeToString() == bytes.fromhex("1a06" + "0a0101" + "120102")


def test_identity_update_layout() -> None:
    update = association_pb2.IdentityUpdate(
        actions=[
            association_pb2.IdentityAction(
                create_inbox=association_pb2.CreateInbox(
                    initial_identifier="a",
                    nonce=1,
                    initial_identifier_kind=association_pb2.IDENTIFIER_KIND_ETHEREUM,
                )
            )
        ],
        client_timestamp_ns=5,
        inbox_id="b",
    )
    # actions(1) { create_inbox(1) { id(1)="a", nonce(2)=1, kind(4)=1 } }, ts(2)=5, inbox_id(3)="b"
    assert update.SerializeToString() == bytes.fromhex(
        "0a09" + "0a07" + "0a0161" + "1001" + "2001" + "1005" + "1a0162"
    )


def test_get_inbox_ids_response_presence() -> None:
    absent = identity_pb2.GetInboxIdsResponse.Response(identifier="0xab")
    assert not absent.HasField("inbox_id")
    present = identity_pb2.GetInboxIdsResponse.Response.FromString(
        identity_pb2.GetInboxIdsResponse.Response(identifier="0xab", inbox_id="").SerializeToString()
    )
    assert present.HasField("inbox_id")


def test_group_context_extension_bodies() -> None:
    membership = group_membership_pb2.GroupMembership(members={INBOX_ID: 3})
    # members(1) map entry { key(1)=inbox_id, value(2)=3 }
    assert membership.SerializeToString() == bytes.fromhex(
        "0a44" + "0a40"
    ) + INBOX_ID.encode() + bytes.fromhex("1003")
    metadata = group_metadata_pb2.GroupMetadataV1(
        conversation_type=group_metadata_pb2.CONVERSATION_TYPE_DM, creator_inbox_id="x"
    )
    assert metadata.SerializeToString() == bytes.fromhex("0802" + "1a0178")


def test_paging_and_subscribe_messages() -> None:
    paging = mls_pb2.PagingInfo(direction=mls_pb2.SORT_DIRECTION_ASCENDING, limit=100, id_cursor=7)
    assert paging.SerializeToString() == bytes.fromhex("0801" + "1064" + "1807")
    newest = mls_pb2.GetNewestGroupMessageResponse.Response()
    assert not newest.HasField("group_message")
    mutate = mls_pb2.SubscribeRequest.V1.Mutate(
        adds=[mls_pb2.SubscribeRequest.V1.Mutate.Subscription(topic=b"\x00g", id_cursor=1)], mutate_id=9
    )
    request = mls_pb2.SubscribeRequest(v1=mls_pb2.SubscribeRequest.V1(mutate=mutate))
    # v1(1) { mutate(1) { adds(1) { topic(1), id_cursor(2) }, mutate_id(4) } }
    assert request.SerializeToString() == bytes.fromhex(
        "0a0c" + "0a0a" + "0a06" + "0a020067" + "1001" + "2009"
    )
    assert (
        mls_pb2.SubscribeRequest.FromString(request.SerializeToString()).v1.mutate.adds[0].topic == b"\x00g"
    )


def test_device_sync_payloads_parse() -> None:
    env = content_pb2.PlaintextEnvelope(
        v2=content_pb2.PlaintextEnvelope.V2(
            idempotency_key="k",
            user_preference_update=device_sync_content_pb2.V1UserPreferenceUpdate(contents=[b"p"]),
        )
    )
    # v2(2) { key(1)="k", user_preference_update(5) { contents(1)="p" } }
    assert env.SerializeToString() == bytes.fromhex("1208" + "0a016b" + "2a03" + "0a0170")


def test_backup_element_layout() -> None:
    consent = device_sync_pb2.BackupElement(
        consent=consent_backup_pb2.ConsentSave(entity_type=2, state=2, entity="i", consented_at_ns=1)
    )
    # consent(4) { entity_type(1)=2, state(2)=2, entity(3)="i", consented_at_ns(4)=1 }
    assert consent.SerializeToString() == bytes.fromhex("2209" + "0802" + "1002" + "1a0169" + "2001")
    group = device_sync_pb2.BackupElement(
        group=group_backup_pb2.GroupSave(
            id=b"\x01", dm_id="", metadata=group_backup_pb2.ImmutableMetadataSave(creator_inbox_id="c")
        )
    )
    # group(2) { id(1), dm_id(9) present though empty, metadata(13) { creator_inbox_id(1)="c" } }
    assert group.SerializeToString() == bytes.fromhex("120a" + "0a0101" + "4a00" + "6a03" + "0a0163")
    message = device_sync_pb2.BackupElement(
        group_message=message_backup_pb2.GroupMessageSave(id=b"\x02", sequence_id=0, content_type="text")
    )
    # group_message(3) { id(1), sequence_id(14)=0 present, content_type(16)="text" }
    assert message.SerializeToString() == bytes.fromhex("1a0c" + "0a0102" + "7000" + "820104" + "74657874")


# --------------------------------------------------------------------------------------------
# (4) agreement with the schemas compiled into libxmtp (xmtp-bindings)

# In the current schema but not in the libxmtp that xmtp-bindings 0.1.8 ships (1.10.0).
NEWER_THAN_BINDINGS = {
    ".xmtp.mls.api.v1.SubscribeRequest",
    ".xmtp.mls.api.v1.SubscribeRequest.V1",
    ".xmtp.mls.api.v1.SubscribeRequest.V1.Mutate",
    ".xmtp.mls.api.v1.SubscribeRequest.V1.Mutate.Subscription",
    ".xmtp.mls.api.v1.SubscribeResponse",
    ".xmtp.mls.api.v1.SubscribeResponse.V1",
    ".xmtp.mls.api.v1.SubscribeResponse.V1.Messages",
    ".xmtp.mls.api.v1.SubscribeResponse.V1.Started",
    ".xmtp.mls.api.v1.SubscribeResponse.V1.CatchupComplete",
    ".xmtp.mls.api.v1.SubscribeResponse.V1.TopicsLive",
    ".xmtp.mls.api.v1.SubscribeResponse.V1.Capability",
    ".xmtp.mls.api.v1.Ping",
    ".xmtp.mls.api.v1.Pong",
    ".xmtp.mls.message_contents.GroupMembershipEntry",
    ".xmtp.mls.message_contents.GroupMembershipEntry.V1",
    "/xmtp.mls.api.v1.MlsApi/Subscribe",
}
# Renamed since then, same wire layout: our name -> the bindings' name.
RENAMED_TYPES = {".xmtp.device_sync.ArchiveOptions": ".xmtp.device_sync.BackupOptions"}
RENAMED_FIELDS = {
    (".xmtp.device_sync.content.DeviceSyncRequest", 1): "request_id",
    (".xmtp.device_sync.content.DeviceSyncRequest", 2): "pin_code",
    (".xmtp.device_sync.content.DeviceSyncRequest", 3): "kind",
}
# Deliberately not defined here.
OMITTED: set[str] = set()

_OUR_PREFIX = "pyxmtp/proto/"


# our schemas that are not XMTP's (libxmtp has no counterpart)
NOT_XMTP = {"pyxmtp.proto.mls_client.mls_client_pb2"}


def _our_files() -> list[descriptor_pb2.FileDescriptorProto]:
    """Our XMTP schemas."""
    files = []
    for info in pkgutil.walk_packages(pyxmtp.proto.__path__, "pyxmtp.proto."):
        if info.name.endswith("_pb2") and info.name not in NOT_XMTP:
            fd: FileDescriptor = importlib.import_module(info.name).DESCRIPTOR
            proto = descriptor_pb2.FileDescriptorProto()
            fd.CopyToProto(proto)
            files.append(proto)
    return files


def _index(
    files: list[descriptor_pb2.FileDescriptorProto],
) -> tuple[
    dict[str, descriptor_pb2.DescriptorProto], dict[str, descriptor_pb2.EnumDescriptorProto], dict[str, str]
]:
    """Messages and enums by full name (leading dot), and method path -> signature."""
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
    methods: dict[str, str] = {}

    def walk(prefix: str, msgs: Any, enum_types: Any) -> None:
        for e in enum_types:
            enums[f"{prefix}.{e.name}"] = e
        for m in msgs:
            messages[f"{prefix}.{m.name}"] = m
            walk(f"{prefix}.{m.name}", m.nested_type, m.enum_type)

    for fd in files:
        walk(f".{fd.package}", fd.message_type, fd.enum_type)
        for s in fd.service:
            for m in s.method:
                sig = f"{m.input_type} {m.client_streaming} -> {m.output_type} {m.server_streaming}"
                methods[f"/{fd.package}.{s.name}/{m.name}"] = sig
    return messages, enums, methods


def _field_key(
    msg: descriptor_pb2.DescriptorProto, f: descriptor_pb2.FieldDescriptorProto
) -> tuple[Any, ...]:
    oneof = (
        msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") and not f.proto3_optional else None
    )
    return (
        f.name,
        f.number,
        f.label,
        f.type,
        RENAMED_TYPES.get(f.type_name, f.type_name),
        oneof,
        f.proto3_optional,
    )


@pytest.fixture(scope="module")
def libxmtp_files() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    lib = bindings_library()
    if lib is None:
        interop_unavailable("xmtp-bindings (libxmtpv3.so) is not installed; run `make install-dev`")
    files = embedded_files(lib.read_bytes())
    assert "mls/api/v1/mls.proto" in files, "no embedded descriptors found in libxmtpv3.so"
    return files


def test_files_and_packages_match_libxmtp(
    libxmtp_files: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    for ours in _our_files():
        name = ours.name.removeprefix(_OUR_PREFIX)
        assert name in libxmtp_files, name
        assert ours.package == libxmtp_files[name].package, name


def test_messages_match_libxmtp(libxmtp_files: dict[str, descriptor_pb2.FileDescriptorProto]) -> None:
    ours = _our_files()
    our_msgs, our_enums, _ = _index(ours)
    counterparts = [libxmtp_files[f.name.removeprefix(_OUR_PREFIX)] for f in ours]
    their_msgs, their_enums, _ = _index(counterparts)
    problems: list[str] = []
    for name, msg in our_msgs.items():
        their_name = RENAMED_TYPES.get(name, name)
        if their_name not in their_msgs:
            if name not in NEWER_THAN_BINDINGS:
                problems.append(f"{name}: not in libxmtp")
            continue
        theirs = their_msgs[their_name]
        our_fields = {f.number: _field_key(msg, f) for f in msg.field}
        their_fields = {f.number: _field_key(theirs, f) for f in theirs.field}
        for (msg_name, number), old_name in RENAMED_FIELDS.items():
            if msg_name == name and number in our_fields:
                our_fields[number] = (old_name, *our_fields[number][1:])
        if our_fields != their_fields:
            problems.append(f"{name}: fields {our_fields} != {their_fields}")
        if list(msg.reserved_range) != list(theirs.reserved_range):
            problems.append(f"{name}: reserved ranges differ")
        if bool(msg.options.map_entry) != bool(theirs.options.map_entry):
            problems.append(f"{name}: map_entry differs")
    for name in their_msgs.keys() - {RENAMED_TYPES.get(n, n) for n in our_msgs} - OMITTED:
        problems.append(f"{name}: in libxmtp, not here")
    for name, enum in our_enums.items():
        if name not in their_enums:
            if name not in NEWER_THAN_BINDINGS:
                problems.append(f"{name}: enum not in libxmtp")
            continue
        ours_values = [(v.name, v.number) for v in enum.value]
        theirs_values = [(v.name, v.number) for v in their_enums[name].value]
        if ours_values != theirs_values:
            problems.append(f"{name}: values {ours_values} != {theirs_values}")
    for name in their_enums.keys() - our_enums.keys():
        problems.append(f"{name}: enum in libxmtp, not here")
    assert not problems, "\n".join(problems)


def test_services_match_libxmtp(libxmtp_files: dict[str, descriptor_pb2.FileDescriptorProto]) -> None:
    _, _, our_methods = _index(_our_files())
    _, _, their_methods = _index(list(libxmtp_files.values()))
    for path, sig in our_methods.items():
        if path in NEWER_THAN_BINDINGS:
            assert path not in their_methods or their_methods[path] == sig
            continue
        assert their_methods.get(path) == sig, path
    for service in {p.rsplit("/", 1)[0] for p in our_methods}:
        theirs = {p for p in their_methods if p.startswith(service + "/")}
        assert theirs <= our_methods.keys(), theirs - our_methods.keys()
