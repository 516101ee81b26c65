"""The API's SubjectAccessReview cache: an allow is reused for the auth cache time (revocation
takes at most that long); a denial only briefly, so a RoleBinding just granted takes effect."""

from __future__ import annotations

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
