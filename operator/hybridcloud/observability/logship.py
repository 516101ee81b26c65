"""Shipping one member cluster's container logs and Events to the log store, exactly once.

A :class:`MemberShipper` reads the member through the Kubernetes API with the platform's own
credential (what a collector on a managed cluster sees): it lists pods and reads each
container's ``pods/log`` with ``timestamps=true`` from its cursor (``sinceTime``, whole
seconds, so the first second is read again and filtered; ``kube.pod_logs``), while an
:class:`~.logship_events.EventFeed` watches the member's Events. Each poll ships what is new in
one ingest request and then advances the cursors; cursors are saved to the management cluster
once per poll (a ConfigMap per member, ``cursors.py``), never per line.

Exactly once across a SIGKILL: the saved cursor may lag the store by one poll (killed after the
ingest, before the save). So the first time this process meets a container it asks the store
for the newest line already stored for it at or after the saved cursor and resumes behind that
line, skipping the lines stored at exactly that timestamp (dedupe on (container, timestamp,
line) at the resume boundary). The Event feed does the same with the newest occurrence stored
per Event.

Memory stays bounded: one response of at most ``max_bytes`` per container per poll (a longer
backlog is read over several polls), cursors only for containers and Events that still exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod

from ..kube.pod_logs import PodLogError, PodLogReader
from .cursors import CursorBook, LineCursor
from .loglevel import extract_level
from .logquery import quote
from .logsearch import format_ns, parse_rfc3339_ns
from .logship_events import EventFeed, store_scope
from .logstore import LogStore, LogStoreRejectedError

log = logging.getLogger(__name__)
_MAX_GROWTH = 64


@dataclass(frozen=True)
class Member:
    tenant: str  # the HybridCluster's namespace on the management cluster
    cluster: str
    uid: str


def line_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_line(raw: str) -> tuple[int, str] | None:
    """``<RFC3339Nano> <text>`` as the kubelet prefixes lines → (ns, text)."""
    stamp, _, text = raw.partition(" ")
    try:
        return parse_rfc3339_ns(stamp), text
    except ValueError:
        return None


def fresh_lines(lines: list[tuple[int, str]], cursor: LineCursor | None,
                ) -> list[tuple[int, str]]:
    """The lines after ``cursor``: later timestamps, or the cursor's own timestamp but not
    among the lines already shipped at it (counted, so repeated identical lines survive)."""
    if cursor is None:
        return lines
    already = Counter(cursor.hashes)
    fresh = []
    for at, text in lines:
        if at < cursor.at:
            continue
        if at == cursor.at:
            digest = line_hash(text)
            if already[digest] > 0:
                already[digest] -= 1
                continue
        fresh.append((at, text))
    return fresh


def advanced(cursor: LineCursor | None, shipped: list[tuple[int, str]]) -> LineCursor | None:
    if not shipped:
        return cursor
    last = shipped[-1][0]
    hashes = [line_hash(text) for at, text in shipped if at == last]
    if cursor is not None and cursor.at == last:
        hashes = [*cursor.hashes, *hashes]
    return LineCursor(last, hashes)


@dataclass
class _Batch:
    records: list[dict[str, Any]] = field(default_factory=list)
    cursors: dict[str, LineCursor | None] = field(default_factory=dict)


class MemberShipper:
    def __init__(self, member: Member, client: AsyncClient, logs: PodLogReader, store: LogStore,
                 book: CursorBook, *, interval: float = 1.0, max_bytes: int = 1 << 20) -> None:
        self.member, self.client, self.logs = member, client, logs
        self.store, self.book = store, book
        self.interval, self.max_bytes = interval, max_bytes
        self.events = EventFeed(client, book, store, self._event_record,
                                store_scope(member.tenant, member.cluster))
        self._checked: set[str] = set()  # containers reconciled with the store in this process
        # sinceTime has whole seconds only: a container writing more than max_bytes within one
        # second would be read from the same start forever. Such a container's reads grow
        # (doubling, up to _MAX_GROWTH times max_bytes) until they get past that second.
        self._read_size: dict[str, int] = {}

    def _record(self, at: int, text: str, namespace: str, pod: str, container: str,
                source: str, level: str, key: str) -> dict[str, Any]:
        return {"_time": format_ns(at), "_msg": text, "tenant": self.member.tenant,
                "cluster": self.member.cluster, "namespace": namespace, "pod": pod,
                "container": container, "source": source, "level": level, "key": key}

    def _event_record(self, at: int, text: str, namespace: str, pod: str, level: str,
                      key: str) -> dict[str, Any]:
        return self._record(at, text, namespace, pod, "", "event", level, key)

    async def _stored_boundary(self, key: str, since: int) -> LineCursor | None:
        """The newest line the store already holds for ``key`` at or after ``since``."""
        scope = f"{store_scope(self.member.tenant, self.member.cluster)} AND key:={quote(key)}"
        rows = await self.store.query(f"{scope} | stats max(_time) as t", format_ns(since))
        newest = rows[0].get("t") if rows else None
        if not newest:
            return None
        at = parse_rfc3339_ns(newest)
        same = await self.store.query(f"{scope} | fields _msg", format_ns(at), format_ns(at + 1))
        return LineCursor(at, [line_hash(row.get("_msg", "")) for row in same])

    async def _cursor_for(self, key: str) -> LineCursor | None:
        cursor = self.book.get(key)
        if key in self._checked:
            return cursor
        self._checked.add(key)
        # The store is the truth about what was shipped: it may be one poll ahead of the cursor.
        boundary = await self._stored_boundary(key, cursor.at if cursor else 0)
        if boundary is not None and (cursor is None or boundary.at >= cursor.at):
            return boundary
        return cursor

    async def _read_log(self, pod: str, namespace: str, container: str,
                        cursor: LineCursor | None, size: int,
                        ) -> tuple[list[tuple[int, str]], bool]:
        since = None if cursor is None else format_ns(cursor.at - cursor.at % 1_000_000_000)
        content = await self.logs.read(namespace, pod, container, since_time=since,
                                       limit_bytes=size)
        text = content.decode(errors="replace")
        truncated = len(content) >= size
        raw_lines = text.split("\n")
        if truncated or not text.endswith("\n"):
            raw_lines = raw_lines[:-1]  # a partial last line is read again next poll
        lines = [parsed for raw in raw_lines if raw and (parsed := split_line(raw))]
        return lines, truncated

    async def _containers(self, batch: _Batch) -> bool:
        backlog = False
        live: set[str] = set()
        async for pod in self.client.list(Pod, namespace="*"):
            meta, status = pod.metadata, pod.status
            if meta is None or status is None or not meta.name or not meta.namespace:
                continue
            for state in status.containerStatuses or []:
                if state.state is None or (state.state.running is None
                                           and state.state.terminated is None):
                    continue
                key = f"{meta.namespace}/{meta.name}/{meta.uid}/{state.name}"
                live.add(key)
                cursor = await self._cursor_for(key)
                size = self._read_size.get(key, self.max_bytes)
                try:
                    lines, truncated = await self._read_log(meta.name, meta.namespace,
                                                            state.name, cursor, size)
                except PodLogError as exc:
                    log.debug("no logs of %s on %s yet: %s", key, self.member.cluster, exc.code)
                    continue
                shipped = fresh_lines(lines, cursor)
                stuck = truncated and not shipped
                self._read_size[key] = min(size * 2, self.max_bytes * _MAX_GROWTH) if stuck \
                    else self.max_bytes
                backlog = backlog or (truncated and (not stuck or size < self.max_bytes
                                                     * _MAX_GROWTH))
                batch.records.extend(self._record(at, text, meta.namespace, meta.name,
                                                  state.name, "application",
                                                  extract_level(text), key)
                                     for at, text in shipped)
                batch.cursors[key] = advanced(cursor, shipped)
        self.book.prune(live)
        # Pods come and go: forget what belonged to containers that are gone (bounded memory).
        self._read_size = {k: v for k, v in self._read_size.items() if k in live}
        self._checked &= live
        return backlog

    async def poll(self) -> bool:
        """One pass; True when some container had more than one response's worth."""
        batch = _Batch()
        backlog = await self._containers(batch)
        changes = self.events.pending()
        await self.store.ingest([*batch.records,
                                 *(change.record for change in changes if change.record)])
        self.events.commit(len(changes))
        for key, cursor in batch.cursors.items():
            self.book.set(key, cursor)
        for change in changes:
            if change.key:
                self.book.set_event(change.key, change.mark)
            if change.version:
                self.book.set_events_version(change.version)
        await self.book.save()
        return backlog

    async def run(self) -> None:
        # Lines ingested just before a crash must be visible to the resume-boundary queries.
        # A store that refuses the flush (e.g. behind a proxy) still gets its logs shipped.
        try:
            await self.store.flush()
        except LogStoreRejectedError as exc:
            log.warning("log store refused a flush; resuming without it: %s", exc)
        feed = asyncio.create_task(self.events.run())
        try:
            await self._poll_forever()
        finally:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)

    async def _poll_forever(self) -> None:
        while True:
            try:
                backlog = await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("shipping logs of %s/%s failed: %s", self.member.tenant,
                            self.member.cluster, type(exc).__name__)
                backlog = False
            if not backlog:
                await asyncio.sleep(self.interval)


def active(body: Mapping[str, Any]) -> bool:
    return (body.get("status") or {}).get("phase") in ("Active", "Updating")
