"""Fetch slots of a namespace: a pass turned away because every slot is taken is sent back to
the work queue the moment a slot frees, instead of after a fixed retry delay (issue 19: after a
push, one pass fetches and the other applications tracking the repository wait for it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hybridcloud.controllers.app_sources import ApplicationSources, FetchSlotsBusyError
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.models.application import HybridApplicationSpec

SHA = "0123456789abcdef0123456789abcdef01234567"
SPEC = HybridApplicationSpec.model_validate({
    "source": {"repository": "https://git.example.com/team/shop.git", "revision": "main"},
    "placement": [{"cluster": "east"}]})


def _body(name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "tenant-a", "name": name, "annotations": {}}}


class SlowServer:
    """Stands in for the git server: every resolve waits until ``answer`` is set."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.started = asyncio.Event()

    def answers(self, *_: Any, **__: Any) -> bool:
        return False  # the mirror never answers alone: every pass needs a slot

    def check_url(self, *_: Any, **__: Any) -> None:
        return None

    async def resolve(self, *_: Any, **__: Any) -> str:
        self.started.set()
        await self.answer.wait()
        return SHA


def _sources(tmp_path: Path, retried: list[tuple[str, str]]) -> tuple[ApplicationSources,
                                                                       SlowServer]:
    config = OperatorConfig(delivery_dir=tmp_path / "delivery", local_dir=tmp_path / "local",
                            git_fetches_per_namespace=1)
    sources = ApplicationSources(object(), config, retry=retried.append)  # type: ignore[arg-type]
    server = SlowServer()
    sources.renderer.git = server  # type: ignore[assignment]
    return sources, server


async def test_a_pass_turned_away_by_busy_slots_is_retried_as_soon_as_the_slot_frees(
        tmp_path: Path) -> None:
    retried: list[tuple[str, str]] = []
    sources, server = _sources(tmp_path, retried)
    fetching = asyncio.create_task(sources.resolve(("tenant-a", "first"), _body("first"), SPEC))
    await server.started.wait()

    with pytest.raises(FetchSlotsBusyError):
        await sources.resolve(("tenant-a", "second"), _body("second"), SPEC)
    assert retried == [], "nothing to retry while the slot is still taken"

    server.answer.set()
    assert await fetching == SHA
    assert retried == [("tenant-a", "second")]


async def test_a_turned_away_pass_is_retried_even_when_the_fetch_holding_the_slot_fails(
        tmp_path: Path) -> None:
    retried: list[tuple[str, str]] = []
    sources, server = _sources(tmp_path, retried)
    fetching = asyncio.create_task(sources.resolve(("tenant-a", "first"), _body("first"), SPEC))
    await server.started.wait()
    with pytest.raises(FetchSlotsBusyError):
        await sources.resolve(("tenant-a", "second"), _body("second"), SPEC)

    fetching.cancel()  # e.g. the operator stopping, or the git command failing
    with pytest.raises(asyncio.CancelledError):
        await fetching
    assert retried == [("tenant-a", "second")]


async def test_a_deleted_application_is_not_retried(tmp_path: Path) -> None:
    retried: list[tuple[str, str]] = []
    sources, server = _sources(tmp_path, retried)
    fetching = asyncio.create_task(sources.resolve(("tenant-a", "first"), _body("first"), SPEC))
    await server.started.wait()
    with pytest.raises(FetchSlotsBusyError):
        await sources.resolve(("tenant-a", "gone"), _body("gone"), SPEC)

    sources.forget(("tenant-a", "gone"))
    server.answer.set()
    await fetching
    assert retried == []
