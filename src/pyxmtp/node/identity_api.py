"""``xmtp.identity.api.v1.IdentityApi`` with xmtp-node-go's semantics (protocol reference, sections 1.3, 8.3, 8.7).

PublishIdentityUpdate runs under a per-inbox lock: load the inbox's log, replay it (cached per inbox), admit the
new update with :meth:`pyxmtp.identity.inbox_log.InboxLog.append` (every signature verified and the full XIP-46
state machine, in a worker thread), then append it and the address-log changes in one transaction. The store
re-checks the log length inside that transaction, so even a second writer could not slip an entry in between.

Stricter than xmtp-node-go, which checks only the 256-entry log limit:

- the bounds of :mod:`pyxmtp.identity.limits`: an update with no action, over 64 KiB, over 256 actions or over
  32 distinct signatures is INVALID_ARGUMENT before anything is looked up or verified; one that would leave the
  inbox more than 10 installations or 256 members, or its log over 384 KiB (or 256 entries), is
  FAILED_PRECONDITION; each names the limit. A log stored before a bound existed is replayed without them, so
  its owner can still revoke its way back under them;
- an update that re-uses an earlier signature in another encoding (ECDSA ``v`` 0/1 vs 27/28, high vs low ``s``)
  is refused (:mod:`pyxmtp.identity.replay`); libxmtp's own replay check lets those through;
- an exact retry of an update already in the log (its first try was stored, the answer lost) answers OK and
  stores nothing;
- GetInboxIds takes at most 1000 identifiers and GetIdentityUpdates 64 inboxes a call (INVALID_ARGUMENT), so
  no answer outgrows what a client can receive.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import grpc

from pyxmtp.identity.errors import IdentityError, LimitExceeded, Rule, VerifierError
from pyxmtp.identity.inbox import is_inbox_id
from pyxmtp.identity.inbox_log import InboxLog
from pyxmtp.identity.limits import (
    MAX_GET_IDENTITY_UPDATES_REQUESTS,
    MAX_GET_INBOX_IDS_REQUESTS,
    check_log_capacity,
    check_update_shape,
)
from pyxmtp.identity.members import MemberIdentifier, MemberKind
from pyxmtp.identity.signatures import SmartContractWalletVerifier
from pyxmtp.proto.identity.api.v1 import identity_pb2
from pyxmtp.proto.identity.associations import association_pb2

from .errors import ApiError, invalid_argument
from .store import InboxLogConflict, InboxLogRecord, Store

ServicerContext = grpc.aio.ServicerContext[bytes, bytes]
#: How many inboxes' replayed logs are kept in memory.
STATE_CACHE_SIZE = 4096
NO_SCW_VERIFIER_MESSAGE = (
    "this node has no smart contract wallet verifier configured "
    "(NodeConfig.scw_verifier); it cannot check ERC-1271/ERC-6492 signatures"
)


def _addresses(members: Sequence[MemberIdentifier]) -> list[str]:
    """The Ethereum addresses among ``members`` (only those are indexed, as in xmtp-node-go)."""
    return [m.address for m in members if m.kind is MemberKind.ETHEREUM]


def _parse_updates(records: Sequence[InboxLogRecord]) -> list[tuple[association_pb2.IdentityUpdate, int]]:
    return [(association_pb2.IdentityUpdate.FromString(r.update), len(r.update)) for r in records]


def _limit_error(exc: LimitExceeded) -> ApiError:
    """The update's own fault is INVALID_ARGUMENT; a state of the inbox that refuses it FAILED_PRECONDITION."""
    if exc.in_update:
        return invalid_argument(f"invalid identity update ({exc.rule}): {exc.detail}")
    prefix = "inbox log is full" if exc.rule == Rule.INBOX_LOG_FULL else "identity update refused"
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, f"{prefix} ({exc.rule}): {exc.detail}")


def _check_request_count(method: str, count: int, limit: int, what: str) -> None:
    if count > limit:
        raise invalid_argument(f"{method} asks about {count} {what} (limit {limit} a call)")


class IdentityApiService:
    def __init__(self, store: Store, *, scw_verifier: SmartContractWalletVerifier | None = None) -> None:
        self.store = store
        self.scw_verifier = scw_verifier
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._logs: OrderedDict[str, tuple[int, InboxLog]] = OrderedDict()

    @asynccontextmanager
    async def _inbox_lock(self, inbox_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(inbox_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[inbox_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[inbox_id]
            if users <= 1:
                del self._locks[inbox_id]
            else:
                self._locks[inbox_id] = (lock, users - 1)

    def _remember(self, inbox_id: str, sequence_id: int, log: InboxLog) -> None:
        self._logs[inbox_id] = (sequence_id, log)
        self._logs.move_to_end(inbox_id)
        while len(self._logs) > STATE_CACHE_SIZE:
            self._logs.popitem(last=False)

    async def _current_log(self, inbox_id: str, records: list[InboxLogRecord]) -> InboxLog:
        if not records:
            return InboxLog()
        cached = self._logs.get(inbox_id)
        if cached is not None and cached[0] == records[-1].sequence_id:
            return cached[1]
        updates = _parse_updates(records)
        verifier = self.scw_verifier
        log = await asyncio.to_thread(lambda: InboxLog.replay(updates, scw_verifier=verifier))
        self._remember(inbox_id, records[-1].sequence_id, log)
        return log

    def _append(self, log: InboxLog, update: association_pb2.IdentityUpdate, size: int) -> InboxLog:
        return log.append(update, size=size, scw_verifier=self.scw_verifier)

    async def PublishIdentityUpdate(
        self, request: identity_pb2.PublishIdentityUpdateRequest, context: ServicerContext
    ) -> identity_pb2.PublishIdentityUpdateResponse:
        if not request.HasField("identity_update"):
            raise invalid_argument("IdentityUpdate is required")
        update = request.identity_update
        inbox_id = update.inbox_id
        if not inbox_id:
            raise invalid_argument("identity update has no inbox_id")
        # No update for such an id could ever verify: refuse it before any lookup.
        if not is_inbox_id(inbox_id):
            raise invalid_argument(
                f"identity update's inbox_id {inbox_id[:80]!r} is not an inbox id (64 lowercase hex characters)"
            )
        try:
            check_update_shape(update)
        except LimitExceeded as exc:
            raise _limit_error(exc) from exc
        data = update.SerializeToString()
        async with self._inbox_lock(inbox_id):
            for _attempt in range(3):
                records = await self.store.inbox_log(inbox_id)
                if any(r.update == data for r in records):
                    return identity_pb2.PublishIdentityUpdateResponse()  # a retry of a stored update
                try:  # before any replay: a full log is refused at once, however it came to be
                    check_log_capacity(len(records), sum(len(r.update) for r in records), len(data))
                except LimitExceeded as exc:
                    raise _limit_error(exc) from exc
                try:
                    log = await self._current_log(inbox_id, records)
                    new_log = await asyncio.to_thread(self._append, log, update, len(data))
                except LimitExceeded as exc:
                    raise _limit_error(exc) from exc
                except VerifierError as exc:  # the node could not decide: not the client's fault
                    code = (
                        grpc.StatusCode.FAILED_PRECONDITION
                        if exc.rule == Rule.NO_SCW_VERIFIER
                        else grpc.StatusCode.UNAVAILABLE
                    )
                    raise ApiError(code, f"cannot verify identity update ({exc.rule}): {exc}") from exc
                except IdentityError as exc:
                    raise invalid_argument(f"invalid identity update ({exc.rule}): {exc}") from exc
                old, new = log.state, new_log.state
                assert new is not None  # append always leaves a state
                diff = old.diff(new) if old is not None else new.as_diff()
                try:
                    record = await self.store.append_inbox_log(
                        inbox_id,
                        data,
                        expected_length=len(records),
                        added_addresses=_addresses(diff.new_members),
                        removed_addresses=_addresses(diff.removed_members),
                    )
                except InboxLogConflict:
                    self._logs.pop(inbox_id, None)
                    continue
                self._remember(inbox_id, record.sequence_id, new_log)
                return identity_pb2.PublishIdentityUpdateResponse()
        raise ApiError(grpc.StatusCode.ABORTED, f"inbox {inbox_id} changed concurrently; retry")

    async def GetIdentityUpdates(
        self, request: identity_pb2.GetIdentityUpdatesRequest, context: ServicerContext
    ) -> identity_pb2.GetIdentityUpdatesResponse:
        _check_request_count(
            "GetIdentityUpdates", len(request.requests), MAX_GET_IDENTITY_UPDATES_REQUESTS, "inboxes"
        )
        requests = [(r.inbox_id, r.sequence_id) for r in request.requests]
        found = await self.store.identity_updates([(inbox_id.lower(), seq) for inbox_id, seq in requests])
        Response = identity_pb2.GetIdentityUpdatesResponse.Response
        Log = identity_pb2.GetIdentityUpdatesResponse.IdentityUpdateLog
        responses = []
        for (inbox_id, _seq), records in zip(requests, found, strict=True):
            logs = []
            for r in records:
                entry = Log(sequence_id=r.sequence_id, server_timestamp_ns=r.server_timestamp_ns)
                entry.update.ParseFromString(r.update)
                logs.append(entry)
            responses.append(Response(inbox_id=inbox_id, updates=logs))
        return identity_pb2.GetIdentityUpdatesResponse(responses=responses)

    async def GetInboxIds(
        self, request: identity_pb2.GetInboxIdsRequest, context: ServicerContext
    ) -> identity_pb2.GetInboxIdsResponse:
        _check_request_count("GetInboxIds", len(request.requests), MAX_GET_INBOX_IDS_REQUESTS, "identifiers")
        identifiers = [r.identifier for r in request.requests]
        found = await self.store.inbox_ids_for_addresses(identifiers)
        Response = identity_pb2.GetInboxIdsResponse.Response
        responses = []
        for identifier in identifiers:
            inbox_id = found.get(identifier)
            if inbox_id is None:
                responses.append(Response(identifier=identifier))
            else:
                responses.append(Response(identifier=identifier, inbox_id=inbox_id))
        return identity_pb2.GetInboxIdsResponse(responses=responses)

    async def VerifySmartContractWalletSignatures(
        self, request: identity_pb2.VerifySmartContractWalletSignaturesRequest, context: ServicerContext
    ) -> identity_pb2.VerifySmartContractWalletSignaturesResponse:
        verifier = self.scw_verifier
        if verifier is None:
            raise ApiError(grpc.StatusCode.UNIMPLEMENTED, NO_SCW_VERIFIER_MESSAGE)
        Result = identity_pb2.VerifySmartContractWalletSignaturesResponse.ValidationResponse
        results = []
        for sig in request.signatures:
            block = sig.block_number if sig.HasField("block_number") else None
            try:
                valid = await asyncio.to_thread(
                    verifier.verify, sig.account_id, block, sig.signature, sig.hash
                )
            except Exception as exc:  # the verifier could not decide (RPC down, malformed input, ...)
                results.append(Result(is_valid=False, error=f"verification failed: {exc}"))
                continue
            result = Result(is_valid=bool(valid))
            if block is not None:
                result.block_number = block
            if not valid:
                result.error = "signature is not valid for this account"
            results.append(result)
        return identity_pb2.VerifySmartContractWalletSignaturesResponse(responses=results)
