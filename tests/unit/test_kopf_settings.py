"""The operator's kopf settings skip kopf's change-tracking work, which is only right while
every resource handler is an ``on.event`` handler: these tests keep both facts together."""

from __future__ import annotations

import kopf

import hybridcloud.controllers  # noqa: F401  (importing the package registers the handlers)
from hybridcloud.controllers.settings import (
    EventHandlersOnly,
    EventHandlersOnlyMemories,
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
