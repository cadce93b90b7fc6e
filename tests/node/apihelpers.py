"""Request builders for the gRPC tests."""

from __future__ import annotations

from pyxmtp.proto.mls.api.v1 import mls_pb2

ASC = mls_pb2.SORT_DIRECTION_ASCENDING
DESC = mls_pb2.SORT_DIRECTION_DESCENDING


def send_request(
    *payloads: bytes, should_push: bool = True, sender_hmac: bytes = b""
) -> mls_pb2.SendGroupMessagesRequest:
    return mls_pb2.SendGroupMessagesRequest(
        messages=[
            mls_pb2.GroupMessageInput(
                v1=mls_pb2.GroupMessageInput.V1(data=p, should_push=should_push, sender_hmac=sender_hmac)
            )
            for p in payloads
        ]
    )


def query(
    group_id: bytes, direction: int | None = None, limit: int = 0, cursor: int = 0
) -> mls_pb2.QueryGroupMessagesRequest:
    if direction is None and not limit and not cursor:
        return mls_pb2.QueryGroupMessagesRequest(group_id=group_id)
    return mls_pb2.QueryGroupMessagesRequest(
        group_id=group_id,
        paging_info=mls_pb2.PagingInfo(direction=direction or 0, limit=limit, id_cursor=cursor),
    )


def welcome_v1(
    installation_key: bytes,
    data: bytes,
    hpke_public_key: bytes = b"pk" * 16,
    algorithm: int = 2,
    metadata: bytes = b"",
) -> mls_pb2.WelcomeMessageInput:
    return mls_pb2.WelcomeMessageInput(
        v1=mls_pb2.WelcomeMessageInput.V1(
            installation_key=installation_key,
            data=data,
            hpke_public_key=hpke_public_key,
            wrapper_algorithm=algorithm,  # type: ignore[arg-type]
            welcome_metadata=metadata,
        )
    )


def welcome_pointer(
    installation_key: bytes, pointer: bytes, algorithm: int = 2
) -> mls_pb2.WelcomeMessageInput:
    return mls_pb2.WelcomeMessageInput(
        welcome_pointer=mls_pb2.WelcomeMessageInput.WelcomePointer(
            installation_key=installation_key,
            welcome_pointer=pointer,
            hpke_public_key=b"x" * 1216,
            wrapper_algorithm=algorithm,  # type: ignore[arg-type]
        )
    )
