"""The source stages of an application pass: resolve the git revision (cached for
``git_interval``, forced by the ``platform.example.com/refresh`` annotation, at most
``git_fetches_per_namespace`` fetches of one namespace at a time) and render it for one
placement target; with the backoff of transient source errors.

Applications sharing a repository share its server round trips (see ``GitCache``): one
``ls-remote`` per repository and ``git_interval``. A forced refresh (the annotation, which the
Git webhook receiver sets) is satisfied by any ``ls-remote`` that started after the operator saw
the annotation change, so a push refreshing 100 applications of one repository costs a few
requests, not 100; and an application the mirror can answer takes no fetch slot.

The Git hook sets one token per push on every application it refreshes, and its patches reach
the operator one by one over a few seconds. Applications of one namespace that carry the same
token for the same repository are refreshed by the same push, so the first moment the operator
saw that token there is when the push was already known: an ``ls-remote`` started after it
answers all of them. Timing each application from its own notice instead made every later
arrival wait for another round of the repository (issue 19's commit-to-fleet timeline: ~100
passes turned away by busy fetch slots per push)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from lightkube import AsyncClient

from ..delivery.credentials import load_git_credentials
from ..delivery.git import GitCache
from ..delivery.githooks import REFRESH_ANNOTATION as REFRESH_ANNOTATION
from ..delivery.gitlimits import GitLimits
from ..delivery.render import RenderLimits
from ..delivery.source import SourceRenderer
from ..models.application import HybridApplicationSpec
from ..reconcile.placement import Target
from .config import OperatorConfig

Key = tuple[str, str]


class FetchSlotsBusyError(Exception):
    """Every git fetch slot of the namespace is taken (``git_fetches_per_namespace``)."""


class ApplicationSources:
    def __init__(self, client: AsyncClient, config: OperatorConfig,
                 retry: Callable[[Key], None] | None = None) -> None:
        """``retry(key)`` is called for each application turned away by busy fetch slots as
        soon as a slot of its namespace frees (the controller queues its pass again)."""
        self.client = client
        self.config = config
        self.retry = retry
        self.renderer = SourceRenderer(GitCache(
            config.delivery_dir / "git", allow_local=config.allow_local_sources,
            known_hosts=config.ssh_known_hosts, ca_bundle=config.git_ca_bundle,
            limits=GitLimits(timeout=config.git_timeout,
                             low_speed_bytes=config.git_low_speed_bytes,
                             low_speed_seconds=config.git_low_speed_seconds,
                             max_fetch_bytes=config.git_max_fetch_bytes,
                             max_tree_bytes=config.git_max_tree_bytes,
                             max_tree_files=config.git_max_tree_files)),
            limits=RenderLimits(max_objects=config.render_max_objects,
                                max_yaml_nodes=config.render_max_yaml_nodes,
                                max_output_bytes=config.render_max_output_bytes))
        self._fetch_slots: dict[str, asyncio.Semaphore] = {}
        self._resolved: dict[Key, tuple[tuple[Any, ...], float, str]] = {}
        self._seen_tokens: dict[tuple[Key, str], str] = {}
        self._noticed: dict[Key, tuple[str, float]] = {}  # refresh token, when it was seen
        # (namespace, repository) → the latest refresh token seen there, and when it first was
        self._first_notice: dict[tuple[str, str], tuple[str, float]] = {}
        # A recorded push (delivery/gitpushes.py) not yet resolved: its token, when it was seen
        self._pushed: dict[Key, tuple[str, float]] = {}
        self._retries: dict[Key, int] = {}  # consecutive transient source failures
        self._turned_away: dict[str, set[Key]] = {}  # namespace → passes sent away by slots

    def forget(self, key: Key) -> None:
        self._resolved.pop(key, None)
        self._noticed.pop(key, None)
        self._pushed.pop(key, None)
        self._retries.pop(key, None)
        self._turned_away.get(key[0], set()).discard(key)

    def succeeded(self, key: Key) -> None:
        """Fetched and rendered: the backoff of transient errors starts over."""
        self._retries.pop(key, None)

    def observe(self, key: Key, body: Mapping[str, Any]) -> None:
        """Note when a new refresh token arrived (the watch event, not the later pass): any
        ``ls-remote`` started after that moment reflects the push that caused it."""
        token = (body["metadata"].get("annotations") or {}).get(REFRESH_ANNOTATION)
        if token is None or self._noticed.get(key, ("", 0.0))[0] == token:
            return
        now = time.monotonic()
        self._noticed[key] = (token, now)
        shared = (key[0], _repository_of(body))
        if self._first_notice.get(shared, ("", 0.0))[0] != token:
            self._first_notice[shared] = (token, now)

    def push_arrived(self, key: Key, token: str, seen_at: float) -> None:
        """A recorded push this application tracks was seen at ``seen_at`` (monotonic): its next
        resolve asks the server again, and any ``ls-remote`` started after ``seen_at`` answers
        it (the same moment for every application of the push, so one request serves all)."""
        self._pushed[key] = (token, seen_at)

    def _not_before(self, key: Key, body: Mapping[str, Any], token: str) -> float:
        """When this application's refresh ``token`` was first seen in its namespace for its
        repository (see the module docstring); now if it never was (a restart, say)."""
        shared = self._first_notice.get((key[0], _repository_of(body)))
        if shared is not None and shared[0] == token:
            return shared[1]
        noticed = self._noticed.get(key)
        return noticed[1] if noticed and noticed[0] == token else time.monotonic()

    async def resolve(self, key: Key, body: Mapping[str, Any],
                      spec: HybridApplicationSpec) -> str:
        """The commit ``spec.source`` names now; :class:`FetchSlotsBusyError` when the
        namespace's fetch slots are all taken (come back soon, without holding a worker)."""
        source = spec.source
        identity = (source.repository, source.revision,
                    source.secret_ref.name if source.secret_ref else None)
        token = (body["metadata"].get("annotations") or {}).get(REFRESH_ANNOTATION)
        # Consumed only once answered: a pass turned away by busy fetch slots stays forced.
        forced = token is not None and self._seen_tokens.get((key, REFRESH_ANNOTATION)) != token
        pushed = self._pushed.get(key)
        cached = self._resolved.get(key)
        if cached and cached[0] == identity and not forced and pushed is None and \
                time.monotonic() - cached[1] < self.config.git_interval:
            return cached[2]
        asked = [*([self._not_before(key, body, token)] if forced and token is not None else []),
                 *([pushed[1]] if pushed is not None else [])]
        not_before = max(asked) if asked else None
        ref = source.secret_ref
        git = self.renderer.git
        # A refused URL is reported before any Secret is read or any slot taken.
        git.check_url(source.repository, with_credentials=ref is not None)
        credentials = None if ref is None else \
            await load_git_credentials(self.client, key[0], ref.name, ref.key, source.repository)
        if git.answers(source.repository, credentials, max_age=self.config.git_interval,
                       not_before=not_before):
            sha = await git.resolve(source.repository, source.revision, credentials,
                                    max_age=self.config.git_interval, not_before=not_before)
        else:
            slots = self._fetch_slots.setdefault(
                key[0], asyncio.Semaphore(self.config.git_fetches_per_namespace))
            if slots.locked():
                self._turned_away.setdefault(key[0], set()).add(key)
                raise FetchSlotsBusyError
            try:
                async with slots:
                    sha = await git.resolve(source.repository, source.revision, credentials,
                                            max_age=self.config.git_interval,
                                            not_before=not_before)
            finally:
                self._slot_freed(key[0])
        self._resolved[key] = (identity, time.monotonic(), sha)
        if pushed is not None and self._pushed.get(key) == pushed:
            del self._pushed[key]
        if forced and token is not None:
            self._seen_tokens[(key, REFRESH_ANNOTATION)] = token
        return sha

    def _slot_freed(self, namespace: str) -> None:
        """Send the passes turned away meanwhile back at once: after a push to a repository
        many applications track, one pass fetches while the others wait here, and most are
        then answered from the mirror it filled. A fixed retry delay made every one of them
        wait a full second (the commit-to-fleet profile, issue 19)."""
        waiting = self._turned_away.pop(namespace, set())
        if self.retry is not None:
            for key in sorted(waiting):
                self.retry(key)

    async def render(self, key: Key, spec: HybridApplicationSpec, revision: str,
                     target: Target) -> list[Any]:
        """The target's manifests; errors name the placement entry (or policy) it came from."""
        explicit = [e.cluster for e in spec.placement or []]
        owner = target.stands_in_for or target.cluster
        field = f"spec.placement[{explicit.index(owner)}]" if owner in explicit \
            else "spec.placementPolicy"
        return await self.renderer.manifests(
            spec.source.repository, revision, spec.source.path, release=key[1],
            namespace=spec.target_namespace or key[0], components=target.components,
            values=target.values, field=field)

    def retry_after(self, key: Key) -> float:
        """Backoff for a transient source error: 1s, 2s, 4s… up to the resync interval."""
        failures = self._retries.get(key, 0)
        self._retries[key] = failures + 1
        return float(min(self.config.resync_interval, 2 ** failures))


async def render_targets(render: Callable[[Target], Awaitable[list[Any]]],
                         targets: Sequence[Target]) -> dict[str, list[Any]]:
    """Each target's manifests, by cluster. Targets asking for the same components with the
    same values share one render (read-only: members stamp copies): an app placed on every
    member rendered its source once per member, 9% of the operator's work after a push
    (issue 19's profile). An error still names the first target's placement entry."""
    done: list[tuple[Target, list[Any]]] = []
    rendered: dict[str, list[Any]] = {}
    for target in targets:
        same = next((manifests for other, manifests in done
                     if (other.components, other.values) == (target.components,
                                                             target.values)), None)
        if same is None:
            same = await render(target)
            done.append((target, same))
        rendered[target.cluster] = same
    return rendered


def _repository_of(body: Mapping[str, Any]) -> str:
    source = (body.get("spec") or {}).get("source")
    return str(source.get("repository", "")) if isinstance(source, dict) else ""
