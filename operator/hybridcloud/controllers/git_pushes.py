"""The pushes the Git webhook receiver records (``delivery/gitpushes.py``), as they arrive.

A watch on the one push record in the member-credentials namespace (selected by its label, so
no other ConfigMap there is read). Each push not seen before is handed to ``on_push`` once; the
pushes already recorded when the operator starts are not: every application resolves its
revision afresh on the operator's first passes anyway. After a relist (the watch fell out of the
apiserver's window), pushes recorded meanwhile are new and handed on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap

from ..delivery.gitpushes import RECORD_LABEL, RECORD_NAME, RecordedPush, recorded
from ..kube.cache import WatchCache

log = logging.getLogger(__name__)


class GitPushWatch:
    def __init__(self, client: AsyncClient, namespace: str,
                 on_push: Callable[[RecordedPush], None]) -> None:
        self.namespace = namespace
        self.on_push = on_push
        self.cache = WatchCache(client, ConfigMap, namespace=namespace,
                                label_selector=f"{RECORD_LABEL}=true")
        self.cache.listeners.append(self._changed)
        self._seen: set[str] | None = None  # tokens handled; None until the first listing

    def start(self) -> None:
        self.cache.start()

    async def stop(self) -> None:
        await self.cache.stop()

    def _changed(self, kind: str, body: dict[str, Any]) -> None:
        if kind == "LISTED":
            if self._seen is None:  # the first listing: what it holds is not news
                record = self.cache.get(self.namespace, RECORD_NAME)
                self._seen = {p.token for p in recorded((record or {}).get("data"))}
            return
        if kind == "DELETED" or self._seen is None or \
                body["metadata"].get("name") != RECORD_NAME:
            return
        pushes = recorded(body.get("data"))
        for push in pushes:
            if push.token not in self._seen:
                log.info("git push %s of %s recorded by the webhook receiver", push.push.ref,
                         ", ".join(sorted(push.push.repositories)))
                self.on_push(push)
        self._seen = {push.token for push in pushes}
