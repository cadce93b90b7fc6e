"""Per-IP token buckets, with xmtp-node-go's budgets (protocol reference, section 8.2).

Two buckets per client IP: ``read`` (every call that is not a publish: capacity 20 000, refill 4 000 per minute)
and ``write`` (RegisterInstallation, UploadKeyPackage, PublishIdentityUpdate, SendWelcomeMessages,
SendGroupMessages: capacity 3 000, refill 600 per minute). Refill is continuous (``rate / 60`` tokens per
second, capped at the capacity). What a call costs is the server's business (:mod:`pyxmtp.node.server`); this
module only keeps the buckets: :meth:`RateLimiter.spend` takes tokens only if the bucket holds them all,
:meth:`RateLimiter.charge` takes them anyway (for work already done), down to at most one capacity of debt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

READ = "read"
WRITE = "write"


@dataclass(frozen=True, slots=True)
class BucketLimit:
    capacity: int
    refill_per_minute: int


@dataclass(frozen=True, slots=True)
class RateLimits:
    read: BucketLimit = BucketLimit(20_000, 4_000)
    write: BucketLimit = BucketLimit(3_000, 600)


class RateLimitExceeded(Exception):
    def __init__(self, kind: str, ip: str, cost: int, capacity: int) -> None:
        self.kind = kind
        self.ip = ip
        self.cost = cost
        never = f" (more than its capacity of {capacity}: split the request)" if cost > capacity else ""
        super().__init__(f"rate limit exceeded: {kind} budget of {ip} cannot cover a cost of {cost}{never}")


class RateLimiter:
    """Token buckets keyed by (kind, ip). Not thread-safe: use from the event loop only."""

    #: Idle buckets are forgotten once the table grows past this many entries (a full bucket is the default).
    SWEEP_THRESHOLD = 50_000

    def __init__(self, limits: RateLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._buckets: dict[tuple[str, str], list[float]] = {}  # -> [tokens, last_refill]

    def _limit(self, kind: str) -> BucketLimit:
        return self.limits.write if kind == WRITE else self.limits.read

    def capacity(self, kind: str) -> int:
        return self._limit(kind).capacity

    def _refilled(self, kind: str, ip: str) -> list[float]:
        """``ip``'s ``kind`` bucket, refilled up to now."""
        limit = self._limit(kind)
        now = self._clock()
        key = (kind, ip)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.SWEEP_THRESHOLD:
                self._sweep(now)
            bucket = self._buckets[key] = [float(limit.capacity), now]
        else:
            tokens, last = bucket
            bucket[0] = min(float(limit.capacity), tokens + (now - last) * limit.refill_per_minute / 60.0)
            bucket[1] = now
        return bucket

    def spend(self, kind: str, ip: str, cost: int) -> None:
        """Take ``cost`` tokens from ``ip``'s ``kind`` bucket, or raise :class:`RateLimitExceeded` (taking none)."""
        bucket = self._refilled(kind, ip)
        if bucket[0] < cost:
            raise RateLimitExceeded(kind, ip, cost, self.capacity(kind))
        bucket[0] -= cost

    def charge(self, kind: str, ip: str, cost: int) -> None:
        """Take ``cost`` tokens whether the bucket holds them or not: below zero, the IP's next calls are refused
        until the refill has paid the debt. The debt stops at one capacity."""
        if cost <= 0:
            return
        bucket = self._refilled(kind, ip)
        bucket[0] = max(-float(self._limit(kind).capacity), bucket[0] - cost)

    def tokens(self, kind: str, ip: str) -> float:
        """Tokens currently available, negative while in debt (for tests and diagnostics)."""
        limit = self._limit(kind)
        bucket = self._buckets.get((kind, ip))
        if bucket is None:
            return float(limit.capacity)
        return min(
            float(limit.capacity), bucket[0] + (self._clock() - bucket[1]) * limit.refill_per_minute / 60.0
        )

    def _sweep(self, now: float) -> None:
        for key, (tokens, last) in list(self._buckets.items()):
            limit = self._limit(key[0])
            if tokens + (now - last) * limit.refill_per_minute / 60.0 >= limit.capacity:
                del self._buckets[key]
