"""What the policy and scan controllers keep of their own objects' watch events."""

from __future__ import annotations

from typing import Any

from hybridcloud.controllers.keyed import Key, QueuedController


class _Queue:
    def __init__(self) -> None:
        self.forgotten: list[Key] = []

    def forget(self, key: Key) -> None:
        self.forgotten.append(key)


class _Controller(QueuedController):
    def __init__(self) -> None:
        self.bodies = {}
        self.queue = _Queue()  # type: ignore[assignment]


def _body(version: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "t", "name": "p", "resourceVersion": version},
            "status": status}


def test_a_newer_body_is_kept_and_reported_as_news() -> None:
    controller = _Controller()
    assert controller.remember("ADDED", _body("5")) == ("t", "p")
    assert controller.remember("MODIFIED", _body("7", phase="x")) == ("t", "p")
    assert controller.bodies[("t", "p")]["status"] == {"phase": "x"}


def test_a_stale_or_repeated_body_changes_nothing() -> None:
    controller = _Controller()
    controller.remember("ADDED", _body("7", phase="new"))
    assert controller.remember("MODIFIED", _body("5", phase="old")) is None
    assert controller.remember("MODIFIED", _body("7", phase="again")) is None
    assert controller.bodies[("t", "p")]["status"] == {"phase": "new"}


def test_a_deletion_forgets_the_body_and_its_queued_work() -> None:
    controller = _Controller()
    controller.remember("ADDED", _body("5"))
    assert controller.remember("DELETED", _body("6")) is None
    assert controller.bodies == {}
    assert controller.queue.forgotten == [("t", "p")]  # type: ignore[attr-defined]
