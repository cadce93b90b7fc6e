"""``xmtp.migration.api.v1.D14nMigrationApi``: this node never hands over to d14n (section 1.6)."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from pyxmtp.proto.migration.api.v1 import migration_pb2

from .config import NO_CUTOVER_NS


class MigrationApiService:
    def __init__(self, cutover_ns: int = NO_CUTOVER_NS) -> None:
        self.cutover_ns = cutover_ns

    async def FetchD14nCutover(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> migration_pb2.FetchD14nCutoverResponse:
        return migration_pb2.FetchD14nCutoverResponse(timestamp_ns=self.cutover_ns)
