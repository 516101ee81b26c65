"""The API's event hub: what a DELETED watch event of an object emits, and in which order."""

from __future__ import annotations

from typing import Any

from hybridcloud.events.stream import EventHub
from hybridcloud.events.transitions import APPLICATION_KIND, Event


def _application(history: list[str]) -> dict[str, Any]:
    return {"metadata": {"uid": "app-1", "name": "shop", "namespace": "team-a"},
            "status": {"phase": "Deployed", "transitions": [
                {"seq": seq, "type": kind, "time": "2026-12-01T00:00:01Z", "phase": "Deployed"}
                for seq, kind in enumerate(history, start=1)]}}


def _drain(hub: EventHub) -> list[str]:
    (listener,) = hub.listeners
    events: list[str] = []
    while not listener.queue.empty():
        event = listener.queue.get_nowait()
        assert isinstance(event, Event)
        events.append(event.type)
    return events


def test_transitions_only_the_deleted_body_shows_are_emitted_before_the_deleted_event() -> None:
    hub = EventHub()
    hub.changed(APPLICATION_KIND, "LISTED", {})
    hub.connect(lambda event: True, None)
    hub.changed(APPLICATION_KIND, "MODIFIED", _application(["application.deployed"]))
    hub.changed(APPLICATION_KIND, "DELETED", _application([
        "application.deployed", "application.degraded", "application.deployed"]))
    assert _drain(hub) == ["application.deployed", "application.degraded",
                           "application.deployed", "application.deleted"]
    assert [e.type for e in hub.history][-1] == "application.deleted"
