"""Rate limits on failed link checks and sign-ins: per client address, and per account for sign-ins.

Only failures count, in fixed windows. Each attempt is counted before the work it guards and
refunded when it succeeds, so concurrent guesses cannot all slip past a check that has not seen them
yet. The limiter of the current request is bound by the HTTP layer (`bind`), so the link and sign-in
services need no request object; outside a request (CLI, direct service calls) nothing is limited. In-process by default; with ROSTER_REDIS_URL every
process shares the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from server.config import Settings
from server.services.errors import RosterError

log = logging.getLogger("roster.ratelimit")


class RateLimited(RosterError):
    code = "RATE_LIMITED"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed attempts from here; try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int  # failures allowed per window, then attempts are refused; 0 turns the rule off
    window: int  # seconds


class Backend(Protocol):
    async def add(self, key: str, window: int, amount: int = 1) -> tuple[int, int]: ...

    async def clear(self, key: str) -> None: ...


class MemoryBackend:
    """Counters in this process: fixed windows, swept as they expire."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._next_sweep = 0.0

    async def add(self, key: str, window: int, amount: int = 1) -> tuple[int, int]:
        """Add to the count; (new count, seconds until the window ends).

        Atomic without a lock: nothing here awaits, so no other task runs between the read and the write.
        """
        now = time.monotonic()
        if len(self._counts) > 10_000 and now >= self._next_sweep:  # a flood from many addresses must not grow memory forever
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            self._next_sweep = now + 10  # at most every 10 s: a sweep costs a pass over every key
        count, ends = self._counts.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + window
        count = max(0, count + amount)
        self._counts[key] = (count, ends)
        return count, max(1, int(ends - now + 0.999))

    async def clear(self, key: str) -> None:
        self._counts.pop(key, None)


class RedisBackend:
    """Counters in Redis, so every server process sees the same failures."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.redis = redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def add(self, key: str, window: int, amount: int = 1) -> tuple[int, int]:
        async with self.redis.pipeline(transaction=True) as pipe:
            count, _, ttl = await pipe.incrby(key, amount).expire(key, window, nx=True).ttl(key).execute()
        return int(count), max(1, int(ttl))

    async def clear(self, key: str) -> None:
        await self.redis.delete(key)

    async def close(self) -> None:
        await self.redis.aclose()


class Limiter:
    """The thresholds of one app and where their counters live."""

    def __init__(self, settings: Settings, backend: Backend | None = None, prefix: str = "roster:rl") -> None:
        window = settings.rate_window_seconds
        self.link = Rule("link", settings.rate_link_failures, window)
        self.signin_address = Rule("signin-address", settings.rate_signin_failures_per_address, window)
        self.signin_account = Rule("signin-account", settings.rate_signin_failures_per_account, window)
        self.link_failure_floor = settings.link_failure_floor_ms / 1000
        self.backend: Backend = backend or (RedisBackend(settings.redis_url) if settings.redis_url else MemoryBackend())
        self.prefix = prefix

    def _key(self, rule: Rule, subject: str) -> str:
        # Hashed, so a long or odd username makes a short, safe key and Redis never holds it in clear.
        return f"{self.prefix}:{rule.name}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"

    async def attempt(self, rule: Rule, subject: str) -> None:
        """Count one attempt as a failure up front; refuse it when the subject is over the limit."""
        if rule.limit <= 0:
            return
        try:
            count, retry_after = await self.backend.add(self._key(rule, subject), rule.window)
        except Exception:  # noqa: BLE001 -- an unreachable Redis must not take sign-in and links down
            log.warning("rate-limit store unreachable; %s not checked", rule.name)
            return
        if count > rule.limit:
            raise RateLimited(retry_after)

    async def refund(self, rule: Rule, subject: str) -> None:
        """The attempt succeeded: it was no failure after all."""
        if rule.limit <= 0:
            return
        try:
            await self.backend.add(self._key(rule, subject), rule.window, -1)
        except Exception:  # noqa: BLE001 -- see attempt()
            log.warning("rate-limit store unreachable; %s not refunded", rule.name)

    async def clear(self, rule: Rule, subject: str) -> None:
        with contextlib.suppress(Exception):
            await self.backend.clear(self._key(rule, subject))

    async def close(self) -> None:
        if isinstance(self.backend, RedisBackend):
            await self.backend.close()


@dataclass(frozen=True)
class _Caller:
    limiter: Limiter
    address: str


_current: ContextVar[_Caller | None] = ContextVar("roster_ratelimit_caller", default=None)


@contextlib.contextmanager
def bind(*, limiter: Limiter, address: str) -> Iterator[None]:
    """Limit the link checks and sign-ins of the current request by this client address."""
    token = _current.set(_Caller(limiter, address))
    try:
        yield
    finally:
        _current.reset(token)


async def check_link() -> None:
    """Before a link lookup: count it, and refuse an address that failed too many link checks."""
    caller = _current.get()
    if caller is not None:
        await caller.limiter.attempt(caller.limiter.link, caller.address)


async def record_link_success() -> None:
    caller = _current.get()
    if caller is not None:
        await caller.limiter.refund(caller.limiter.link, caller.address)


async def record_link_failure(*, started: float) -> None:
    """A forged, unknown or revoked link (already counted): answer no sooner than the floor, so all three take alike."""
    caller = _current.get()
    if caller is None:
        return
    remaining = caller.limiter.link_failure_floor - (time.monotonic() - started)
    if remaining > 0:
        await asyncio.sleep(remaining)


def _account(username: str) -> str:
    return username.strip().casefold()[:200]


async def check_signin(*, username: str) -> None:
    """Before checking a password: count the attempt; refuse an address or an account with too many failures."""
    caller = _current.get()
    if caller is None:
        return
    await caller.limiter.attempt(caller.limiter.signin_address, caller.address)
    await caller.limiter.attempt(caller.limiter.signin_account, _account(username))


async def record_signin_success(*, username: str) -> None:
    """The right password: this attempt was no failure, and the account's count starts again."""
    caller = _current.get()
    if caller is not None:
        await caller.limiter.refund(caller.limiter.signin_address, caller.address)
        await caller.limiter.clear(caller.limiter.signin_account, _account(username))
