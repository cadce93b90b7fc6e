"""Identity logs as the client needs them: fetched from the node, verified, cached, replayed to a sequence id.

:class:`IdentityCache` keeps every inbox log it fetched and answers "the state of inbox X at sequence id N"
(N = 0: the latest it knows). The conversation layer asks for states synchronously and raises
:class:`IdentityNeeded` when one is missing: the client then fetches what it names (:meth:`IdentityCache.fetch`)
and retries.

Each update a node serves is admitted as the node itself admits one
(:meth:`pyxmtp.identity.inbox_log.InboxLog.append`): every signature and XIP-46 rule, the bounds of
:mod:`pyxmtp.identity.limits` (update size and actions, installations and members, log length and bytes) and no
signature of an earlier update in another encoding. So a lying node, or an older one that stored what pyxmtp's
node refuses, cannot make the client accept it. Only an update without actions is read as libxmtp reads it, a
no-op: older nodes stored such updates, unsigned, in logs whose owners still use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pyxmtp.identity.errors import IdentityError
from pyxmtp.identity.inbox_log import InboxLog
from pyxmtp.identity.state import AssociationState
from pyxmtp.mls.errors import LocalMLSError, ValidationError
from pyxmtp.proto.identity.api.v1 import identity_pb2

from .api import NodeApi

IdentityUpdateLog = identity_pb2.GetIdentityUpdatesResponse.IdentityUpdateLog


class IdentityNeeded(LocalMLSError):
    """Processing needs identity logs the cache does not have yet (``wanted``: inbox id -> sequence id)."""

    def __init__(self, wanted: Mapping[str, int]) -> None:
        super().__init__(f"identity logs needed: {dict(wanted)}")
        self.wanted = dict(wanted)


class IdentityLogError(ValidationError):
    """An inbox's identity log, as the node served it, does not verify or breaks a bound (or lacks the sequence
    id asked for). ``inbox_ids``: the inboxes whose logs were refused."""

    def __init__(self, message: str, inbox_ids: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.inbox_ids = list(inbox_ids)


@dataclass
class _Log:
    """One inbox: the state after each update, by sequence id, in log order, and the log so far."""

    states: list[tuple[int, AssociationState]] = field(default_factory=list)
    log: InboxLog = field(default_factory=InboxLog)

    @property
    def last_sequence_id(self) -> int:
        return self.states[-1][0] if self.states else 0


class IdentityCache:
    """Verified identity logs of the inboxes this client has seen."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}

    def state(self, inbox_id: str, sequence_id: int = 0) -> AssociationState | None:
        """The state of ``inbox_id`` after update ``sequence_id`` (0: the latest known); None if not known."""
        log = self._logs.get(inbox_id)
        if log is None or not log.states:
            return None
        if sequence_id == 0:
            return log.states[-1][1]
        for seq, state in reversed(log.states):
            if seq <= sequence_id:
                return state
        return None

    def last_sequence_id(self, inbox_id: str) -> int:
        """The sequence id of the newest update known for ``inbox_id`` (0 if none)."""
        log = self._logs.get(inbox_id)
        return 0 if log is None else log.last_sequence_id

    def states_for(self, wanted: Mapping[str, int]) -> dict[str, AssociationState]:
        """Each inbox's state at its sequence id; :class:`IdentityNeeded` naming every one not known (or known
        only up to an earlier sequence id)."""
        missing = {}
        out = {}
        for inbox_id, sequence_id in wanted.items():
            log = self._logs.get(inbox_id)
            if log is None or not log.states or (sequence_id and log.last_sequence_id < sequence_id):
                missing[inbox_id] = sequence_id
                continue
            state = self.state(inbox_id, sequence_id)
            if state is None:
                raise IdentityLogError(f"inbox {inbox_id} has no state at sequence id {sequence_id}")
            out[inbox_id] = state
        if missing:
            raise IdentityNeeded(missing)
        return out

    async def fetch(self, api: NodeApi, inbox_ids: Iterable[str]) -> None:
        """Fetch (the rest of) each inbox's log from the node and verify it.

        An inbox whose log breaks a rule or a bound keeps the states up to its last good update; the others are
        still brought up to date; then :class:`IdentityLogError` names every refused inbox and update. Asking
        again asks from the last good update, so a refused update is never applied.
        """
        wanted = {i: (self._logs[i].last_sequence_id if i in self._logs else 0) for i in inbox_ids}
        if not wanted:
            return
        updates = await api.get_identity_updates(wanted.items())
        errors = []
        for inbox_id, entries in updates.items():
            if inbox_id not in wanted:
                continue
            try:
                self._extend(self._logs.setdefault(inbox_id, _Log()), inbox_id, entries)
            except IdentityLogError as exc:
                errors.append((inbox_id, exc))
        if errors:
            raise IdentityLogError("; ".join(str(e) for _, e in errors), [i for i, _ in errors])

    @staticmethod
    def _extend(log: _Log, inbox_id: str, entries: Iterable[IdentityUpdateLog]) -> None:
        for entry in sorted(entries, key=lambda e: e.sequence_id):
            if entry.sequence_id <= log.last_sequence_id:
                continue
            try:
                after = log.log.append(entry.update, allow_empty=True)
            except IdentityError as exc:
                raise IdentityLogError(
                    f"inbox {inbox_id}: update {entry.sequence_id} is refused ({exc.rule}): {exc.detail}"
                ) from exc
            assert after.state is not None  # append always leaves a state
            if after.state.inbox_id != inbox_id:  # a valid log, but another inbox's: the node lied
                raise IdentityLogError(
                    f"inbox {inbox_id}: update {entry.sequence_id} belongs to inbox {after.state.inbox_id}"
                )
            log.log = after
            log.states.append((entry.sequence_id, after.state))

    def forget(self, inbox_id: str) -> None:
        self._logs.pop(inbox_id, None)
