"""The tarpit: a flooding IP's rate-limit refusals are answered no faster than a steady pace.

A refusal (RESOURCE_EXHAUSTED) costs the node about as much as serving a small call: gRPC-Python's per-call
overhead dominates, not the bucket check. An IP that keeps calling past its budget would therefore still take the
node's CPU at whatever rate it can send. So once an IP has used its burst of refusals (``burst``, answered at once),
its further refusals are held: answered ``1 / refusals_per_second`` apart, each call waiting (an asyncio timer,
costing nothing while it waits) for its slot. A client that waits for its answers before it sends more - any
client with a bounded number of calls in flight - is thereby slowed to its budget plus ``refusals_per_second``,
however fast it tries to go. A client that gets occasional refusals (fewer than ``burst`` in a row at that pace)
is never held, and a call within its budget is never held at all.

Holding is bounded, so that the tarpit cannot be turned into a way to exhaust the node's memory: at most
``max_held_per_ip`` calls of one IP and ``max_held`` in all wait at once; past either, a refusal is answered at once
(and takes no slot). A held call whose client set a deadline is answered before it (``deadline_share`` of the
time left), so that an honest client sees RESOURCE_EXHAUSTED, not DEADLINE_EXCEEDED; one whose deadline is too near
for a hold of ``min_deadline_hold`` is answered at once (a client that gives up on its calls that soon cannot be
slowed by holding them); a client that cancels its call frees its place at once. :meth:`Tarpit.release` (on
shutdown) answers every held call at once.

The pace per IP is a GCRA (the virtual-scheduling form of a leaky bucket): each IP has a theoretical arrival time
``tat``; a refusal at ``now`` waits ``max(tat, now) - now - (burst - 1) / rate`` (at once when that is not
positive) and moves ``tat`` on by ``1 / rate``: ``burst`` refusals in a row are answered at once, the next ones
``1 / rate`` apart. No wait exceeds ``(max_held_per_ip + 1) / rate`` (the wait behind a full queue): calls that
their deadlines cut short take their slots without being held for them, which would otherwise push the pace ever
further out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TarpitLimits:
    #: After its burst, an IP's refusals are answered at most this many per second.
    refusals_per_second: float = 20.0
    #: Refusals in a row answered at once before the pace applies (the leaky bucket's depth).
    burst: int = 40
    #: At most this many calls of one IP are held at once; more are refused at once.
    max_held_per_ip: int = 1024
    #: At most this many calls are held at once in all.
    max_held: int = 4096
    #: A held call whose client set a deadline is answered once this share of the time it had left has passed.
    deadline_share: float = 0.9
    #: ... unless that would hold it less than this many seconds: then it is answered at once (and takes no slot),
    #: as holding a call its client abandons that soon slows nobody down and costs a cancellation on top.
    min_deadline_hold: float = 1.0

    def __post_init__(self) -> None:
        if self.refusals_per_second <= 0:
            raise ValueError(f"refusals_per_second must be positive, not {self.refusals_per_second}")
        if not 0 <= self.deadline_share <= 1:
            raise ValueError(f"deadline_share must be within [0, 1], not {self.deadline_share}")
        if min(self.burst, self.max_held_per_ip, self.max_held, self.min_deadline_hold) < 0:
            raise ValueError("burst, max_held_per_ip, max_held and min_deadline_hold must not be negative")


class _IpState:
    __slots__ = ("held", "tat")

    def __init__(self, tat: float) -> None:
        self.tat = tat
        self.held = 0


class Tarpit:
    """Per-IP pacing of refusals. Not thread-safe: use from the event loop only."""

    #: Idle entries (nothing held, pace caught up) are forgotten once the table grows past this many.
    SWEEP_THRESHOLD = 50_000

    def __init__(
        self, limits: TarpitLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or TarpitLimits()
        self._clock = clock
        self._interval = 1.0 / self.limits.refusals_per_second
        self._tolerance = (self.limits.burst - 1) * self._interval
        # the longest wait: that of a call behind a full queue of held calls. Calls cut short by their deadlines
        # take slots without being held for them; without this bound their slots would push the pace out of reach.
        self._max_wait = (self.limits.max_held_per_ip + 1) * self._interval
        self._ips: dict[str, _IpState] = {}
        self._held = 0
        self._waiting: set[asyncio.Future[None]] = set()
        self._released = False
        #: Refusals answered at once because a cap was reached (for diagnostics and tests).
        self.overflowed = 0

    @property
    def held(self) -> int:
        """Calls being held now, in all."""
        return self._held

    def held_of(self, ip: str) -> int:
        state = self._ips.get(ip)
        return state.held if state is not None else 0

    def delay(self, ip: str, time_remaining: float | None = None) -> float:
        """How long to hold a refusal of ``ip`` arriving now (0: answer at once), taking its slot when positive.
        A positive answer counts the call as held until :meth:`unhold`; :meth:`hold` does both."""
        now = self._clock()
        state = self._ips.get(ip)
        if state is None:
            if len(self._ips) >= self.SWEEP_THRESHOLD:
                self._sweep(now)
            state = self._ips[ip] = _IpState(now)
        tat = min(max(state.tat, now), now + self._tolerance + self._max_wait)
        wait = tat - now - self._tolerance
        if wait <= 1e-9:  # within the burst (the margin: float rounding of tat)
            state.tat = tat + self._interval
            return 0.0
        if self._released:
            return 0.0
        if state.held >= self.limits.max_held_per_ip or self._held >= self.limits.max_held:
            self.overflowed += 1
            return 0.0
        if time_remaining is not None:
            cut = time_remaining * self.limits.deadline_share
            if cut < wait:
                if cut < self.limits.min_deadline_hold:
                    return 0.0
                wait = cut
        state.tat = tat + self._interval
        state.held += 1
        self._held += 1
        return wait

    def unhold(self, ip: str) -> None:
        state = self._ips[ip]
        state.held -= 1
        self._held -= 1

    async def hold(self, ip: str, time_remaining: float | None = None) -> None:
        """Wait until ``ip``'s next refusal may be answered (at once if it has burst left, or if a cap is reached),
        or until :meth:`release`."""
        wait = self.delay(ip, time_remaining)
        if wait <= 0:
            return
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(wait, _wake, woken)
        self._waiting.add(woken)
        try:
            await woken
        finally:
            timer.cancel()
            self._waiting.discard(woken)
            self.unhold(ip)

    def release(self) -> None:
        """Answer every held call now, and hold none from now on (the node is stopping)."""
        self._released = True
        for woken in self._waiting:
            _wake(woken)

    def _sweep(self, now: float) -> None:
        for ip, state in list(self._ips.items()):
            if state.held == 0 and state.tat <= now:
                del self._ips[ip]


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
