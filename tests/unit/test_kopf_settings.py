"""The operator's kopf settings skip kopf's change-tracking work, which is only right while
every resource handler is an ``on.event`` handler: these tests keep both facts together."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import kopf
import pytest

import hybridcloud.controllers  # noqa: F401  (importing the package registers the handlers)
from hybridcloud.controllers.settings import (
    EventHandlersOnly,
    EventHandlersOnlyMemories,
    NoProgress,
    configure,
)


def test_the_operator_registers_no_change_handler_daemon_or_timer() -> None:
    registry = kopf.get_default_registry()

    assert registry._watching.get_all_handlers()  # the event handlers are there
    assert not registry._changing.get_all_handlers()
    assert not registry._spawning.get_all_handlers()
    assert not registry._indexing.get_all_handlers()


def test_kopf_builds_no_essence_and_diffs_nothing_for_an_event() -> None:
    settings = kopf.OperatorSettings()
    configure(settings=settings)
    storage = settings.persistence.diffbase_storage
    body = kopf.Body({"metadata": {"name": "web", "annotations": {"a": "b"}},
                      "spec": {"size": 3}})

    assert isinstance(storage, EventHandlersOnly)
    assert storage.build(body=body) == {} and storage.fetch(body=body) == {}
    assert storage.build(body=body) == storage.fetch(body=body)  # no change to react to
    progress = settings.persistence.progress_storage
    assert isinstance(progress, NoProgress)  # no progress kept, so none to clear per event
    essence = storage.build(body=body)
    assert progress.clear(essence=essence) is essence
    assert progress.fetch(key=kopf.HandlerId("h"), body=body) is None


def test_kopf_lists_whole_because_it_cannot_resume_an_expired_page() -> None:
    """kopf fails its watcher (and the operator exits) on a 410 Expired continue token in the
    middle of a paged relist: seen with 20k HybridClusters under write load (issue 19)."""
    settings = kopf.OperatorSettings()
    configure(settings=settings)
    assert settings.watching.chunk_size is None


async def test_kopf_keeps_no_memory_per_object_between_events() -> None:
    memories = EventHandlersOnlyMemories()
    body: kopf.RawBody = {"metadata": {"uid": "uid-1", "name": "web", "namespace": "tenant-a"}}
    operator_memo = kopf.Memo(clusters="the cluster controller")

    first = await memories.recall(body, memobase=operator_memo, noticed_by_listing=True)
    second = await memories.recall(body, memobase=operator_memo)

    assert first.memo["clusters"] == "the cluster controller"  # handlers still find it
    assert first.noticed_by_listing and second is not first
    assert list(memories.iter_all_memories()) == []  # nothing held until the object goes


def _handlers_of(plural: str) -> list[Any]:
    registry = kopf.get_default_registry()
    return [h for h in registry._watching.get_all_handlers()
            if h.selector is not None and h.selector.any_name == plural]


def test_each_kind_has_one_event_handler_however_many_follow_it() -> None:
    """kopf's cost per handler call (its kwargs, logger and context) was a third of the
    operator's time converging 20k clusters, once per handler: HybridCluster events had four
    (issue 19). One handler now hands each event to every observer."""
    for plural in ("hybridclusters", "multiclusterapplications", "securitypolicies",
                   "securityscans"):
        assert len(_handlers_of(plural)) == 1, plural


async def test_every_cluster_observer_gets_the_event_even_when_one_fails(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def observer(name: str) -> Any:
        return lambda kind, body: seen.append(f"{name}:{kind}:{body['metadata']['name']}")

    def broken(kind: str | None, body: Mapping[str, Any]) -> None:
        raise RuntimeError("a bug in one observer")

    memo = kopf.Memo(clusters=SimpleNamespace(observe=observer("clusters")),
                     applications=SimpleNamespace(observe_cluster=broken),
                     security_policies=SimpleNamespace(observe_cluster=observer("policies")))
    body = {"metadata": {"namespace": "tenant-a", "name": "east"}}
    handler = _handlers_of("hybridclusters")[0].fn
    with caplog.at_level(logging.ERROR):
        await handler(event={"type": "MODIFIED", "object": body}, memo=memo)
    assert seen == ["clusters:MODIFIED:east", "policies:MODIFIED:east"]
    assert "observing HybridCluster tenant-a/east failed" in caplog.text
