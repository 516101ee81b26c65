"""The API's SubjectAccessReview cache: an allow is reused for the auth cache time (revocation
takes at most that long); a denial only briefly, so a RoleBinding just granted takes effect."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any, cast

from lightkube import AsyncClient

from hybridcloud.api.deps import Authenticator, Caller
from hybridcloud.api.settings import Settings


class _Reviews:
    """Answers SubjectAccessReviews with ``self.allowed`` and counts them."""

    def __init__(self) -> None:
        self.allowed = False
        self.asked = 0

    async def create(self, _review: Any) -> Any:
        self.asked += 1
        return SimpleNamespace(status=SimpleNamespace(allowed=self.allowed))


CALLER = Caller(username="system:serviceaccount:t:ci", uid="u", groups=(), extra=(),
                home_namespace="t")


async def test_a_denial_is_asked_again_after_a_second_an_allow_after_the_cache_time() -> None:
    now = [0.0]
    reviews = _Reviews()
    auth = Authenticator(cast(AsyncClient, reviews), Settings(auth_cache_seconds=10),
                         clock=lambda: now[0])
    assert not await auth.allowed(CALLER, "get", "hybridclusters", "t")
    now[0] = 0.5
    assert not await auth.allowed(CALLER, "get", "hybridclusters", "t")
    assert reviews.asked == 1  # the denial is remembered briefly
    reviews.allowed = True  # the RoleBinding was created
    now[0] = 1.2
    assert await auth.allowed(CALLER, "get", "hybridclusters", "t")
    assert reviews.asked == 2
    reviews.allowed = False  # ... and revoked again
    now[0] = 9.0
    assert await auth.allowed(CALLER, "get", "hybridclusters", "t")  # within the allow TTL
    assert reviews.asked == 2
    now[0] = 11.5
    assert not await auth.allowed(CALLER, "get", "hybridclusters", "t")
    assert reviews.asked == 3


class _SlowReviews:
    """Answers TokenReviews (as ``user``) and SubjectAccessReviews (``allowed``) once ``gate`` is
    set, counting each kind; ``failing`` makes every review raise instead."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.asked: Counter[str] = Counter()
        self.failing = False

    async def create(self, review: Any) -> Any:
        kind = type(review).__name__
        self.asked[kind] += 1
        await self.gate.wait()
        if self.failing:
            raise ConnectionError("apiserver down")
        if kind == "TokenReview":
            user = SimpleNamespace(username="system:serviceaccount:t:ci", uid="u", groups=[],
                                   extra={})
            return SimpleNamespace(status=SimpleNamespace(authenticated=True, user=user))
        return SimpleNamespace(status=SimpleNamespace(allowed=True))


async def test_concurrent_requests_missing_the_cache_together_send_one_review_each_kind() -> None:
    reviews = _SlowReviews()
    auth = Authenticator(cast(AsyncClient, reviews), Settings(auth_cache_seconds=10))
    identities = [asyncio.ensure_future(auth.authenticate("token-1")) for _ in range(16)]
    decisions = [asyncio.ensure_future(auth.allowed(CALLER, "list", "hybridclusters", "t"))
                 for _ in range(16)]
    other = asyncio.ensure_future(auth.allowed(CALLER, "list", "hybridclusters", "elsewhere"))
    await asyncio.sleep(0)
    reviews.gate.set()
    callers = await asyncio.gather(*identities)
    assert all(await asyncio.gather(*decisions)) and await other
    assert {c.username for c in callers if c} == {"system:serviceaccount:t:ci"}
    # Before: 16 TokenReviews and 16 SubjectAccessReviews for the same question.
    assert reviews.asked == {"TokenReview": 1, "SubjectAccessReview": 2}  # 2 questions


async def test_a_failed_shared_review_fails_every_waiter_and_is_asked_again_next_time() -> None:
    reviews = _SlowReviews()
    reviews.failing = True
    auth = Authenticator(cast(AsyncClient, reviews), Settings(auth_cache_seconds=10))
    waiting = [asyncio.ensure_future(auth.allowed(CALLER, "get", "hybridclusters", "t"))
               for _ in range(4)]
    await asyncio.sleep(0)
    reviews.gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    reviews.failing = False
    assert await auth.allowed(CALLER, "get", "hybridclusters", "t")
    assert reviews.asked == {"SubjectAccessReview": 2}
