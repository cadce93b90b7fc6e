"""Stored records as the API's protobuf messages, and paging as xmtp-node-go does it (section 8.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyxmtp.proto.mls.api.v1 import mls_pb2

from .store import MAX_PAGE_SIZE, GroupMessageRecord, Rows, WelcomeRecord
from .validation import check_cursor

ASCENDING = mls_pb2.SORT_DIRECTION_ASCENDING
DESCENDING = mls_pb2.SORT_DIRECTION_DESCENDING


@dataclass(frozen=True, slots=True)
class Page:
    descending: bool
    cursor: int
    limit: int

    @classmethod
    def from_request(cls, paging: mls_pb2.PagingInfo | None) -> Page:
        """Absent or UNSPECIFIED direction means descending; limit 0 or above 100 means 100. Raises
        :class:`~pyxmtp.node.validation.PayloadError` for a cursor beyond the largest id."""
        if paging is None:
            return cls(True, 0, MAX_PAGE_SIZE)
        check_cursor("id_cursor", paging.id_cursor)
        limit = paging.limit if 0 < paging.limit <= MAX_PAGE_SIZE else MAX_PAGE_SIZE
        return cls(paging.direction != ASCENDING, paging.id_cursor, limit)

    def response(self, rows: Rows[Any], ids: list[int]) -> mls_pb2.PagingInfo:
        """The response's paging info: ``id_cursor`` is the last id if the page is full (as xmtp-node-go), or
        if the byte budget cut it (more follows), else 0."""
        cursor = ids[-1] if ids and (len(ids) >= self.limit or rows.cut) else 0
        return mls_pb2.PagingInfo(
            direction=DESCENDING if self.descending else ASCENDING, limit=self.limit, id_cursor=cursor
        )


def group_message(record: GroupMessageRecord, *, include_content: bool = True) -> mls_pb2.GroupMessage:
    if include_content:
        v1 = mls_pb2.GroupMessage.V1(
            id=record.id,
            created_ns=record.created_ns,
            group_id=record.group_id,
            data=record.data,
            sender_hmac=record.sender_hmac,
            should_push=record.should_push,
            is_commit=record.is_commit,
        )
    else:
        v1 = mls_pb2.GroupMessage.V1(
            id=record.id, created_ns=record.created_ns, group_id=record.group_id, is_commit=record.is_commit
        )
    return mls_pb2.GroupMessage(v1=v1)


def welcome_message(record: WelcomeRecord) -> mls_pb2.WelcomeMessage:
    if record.is_pointer:
        return mls_pb2.WelcomeMessage(
            welcome_pointer=mls_pb2.WelcomeMessage.WelcomePointer(
                id=record.id,
                created_ns=record.created_ns,
                installation_key=record.installation_key,
                welcome_pointer=record.data,
                hpke_public_key=record.hpke_public_key,
                wrapper_algorithm=record.wrapper_algorithm,  # type: ignore[arg-type]
            )
        )
    return mls_pb2.WelcomeMessage(
        v1=mls_pb2.WelcomeMessage.V1(
            id=record.id,
            created_ns=record.created_ns,
            installation_key=record.installation_key,
            data=record.data,
            hpke_public_key=record.hpke_public_key,
            wrapper_algorithm=record.wrapper_algorithm,  # type: ignore[arg-type]
            welcome_metadata=record.welcome_metadata,
        )
    )
