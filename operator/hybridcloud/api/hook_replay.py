"""Signed Git push payloads the API received recently, so a replayed one refreshes nothing
again (``POST /v1/hooks/git``). One per API process: a replay sent to another replica costs at
most one ``ls-remote`` per named repository, since the operator resolves revisions from the Git
server itself and finds nothing new."""

from __future__ import annotations

import time
from collections import OrderedDict

_REMEMBERED = 10_000  # signed payloads kept for replay detection


class RecentPayloads:
    """Digests of signed payloads seen in the last ``window`` seconds (bounded)."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen_before(self, digest: str, window: float) -> bool:
        now = time.monotonic()
        while self._seen and (now - next(iter(self._seen.values())) > window
                              or len(self._seen) > _REMEMBERED):
            self._seen.popitem(last=False)
        if digest in self._seen:
            return True
        self._seen[digest] = now
        return False

    def forget(self, digest: str) -> None:
        """The payload was not acted on (the push record could not be written): the host's
        redelivery must not count as a replay."""
        self._seen.pop(digest, None)
