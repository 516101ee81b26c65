"""An application's inventory on a member: read from the watch when it can tell, created (never
overwritten) when the watch showed none, and never losing the objects of one it could not show.
The member's apiserver is a recorder of requests; the watch is a fake that knows what it holds."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from lightkube.core.exceptions import ApiError

from hybridcloud.delivery import member_inventory
from hybridcloud.delivery import objects as o
from hybridcloud.delivery.inventory import inventory_body, parse_inventory
from hybridcloud.delivery.member_inventory import MemberInventories
from hybridcloud.delivery.member_types import AppIdentity

APP = AppIdentity("tenant-a", "shop", "5f0c0a54-0000-4000-8000-000000000001")
WEB = o.ObjectKey("apps/v1", "Deployment", "shop", "web")
OLD = o.ObjectKey("v1", "ConfigMap", "shop", "old-settings")


def _error(code: int) -> ApiError:
    request = httpx2.Request("POST", "https://east/")
    return ApiError(request=request, response=httpx2.Response(
        code, request=request, json={"kind": "Status", "code": code, "message": "no"}))


class Member:
    """The member's apiserver (requests recorded) and its ConfigMap watch."""

    def __init__(self, stored: dict[str, Any] | None = None, *, watched: bool = True) -> None:
        self.stored = stored  # the inventory ConfigMap the apiserver holds
        self.watched = watched  # whether the watch shows it (it does not without our label)
        self.requests: list[str] = []
        self.remembered: list[dict[str, Any]] = []

    # the watch (AppliedObjects)
    def absent(self, resource: Any, key: o.ObjectKey) -> bool:
        return not (self.stored and self.watched)

    def lookup(self, resource: Any, key: o.ObjectKey) -> dict[str, Any] | None:
        return self.stored if self.watched else None

    def remember(self, resource: Any, obj: dict[str, Any]) -> None:
        self.remembered.append(obj)

    # the namespaces
    async def ensure(self, names: list[str]) -> None:
        return None

    def missing(self, exc: ApiError, namespace: str | None) -> None:
        return None

    # the apiserver
    async def request(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        self.requests.append(method)
        if method == "POST":
            if self.stored is not None:
                raise _error(409)
            self.stored = body
        elif method == "PATCH":
            self.stored = body
        return self.stored

    async def get(self, resource: Any, key: o.ObjectKey) -> dict[str, Any] | None:
        self.requests.append("GET")
        return self.stored


def inventories(member: Member) -> MemberInventories:
    async def apply(resource: Any, key: Any, body: dict[str, Any]) -> Any:
        return await member.request("PATCH", "", body)

    return MemberInventories(member, member, member, member.get,  # type: ignore[arg-type]
                             apply)


async def test_an_inventory_the_watch_shows_is_read_without_a_request() -> None:
    member = Member(inventory_body(APP.uid, "tenant-a/shop", {WEB}, "d1"))
    found, absent = await inventories(member).read(APP)
    assert (found, absent) == ({"keys": {WEB}, "fingerprint": "d1"}, False)
    assert member.requests == []


async def test_an_inventory_the_watch_shows_missing_is_neither_read_nor_overwritten() -> None:
    member = Member()
    store = inventories(member)
    found, absent = await store.read(APP)
    assert (found, absent) == ({}, True)
    await store.write(APP, {WEB}, None, create=absent)
    assert member.requests == ["POST"]  # created: no GET before it, no apply over anything
    assert parse_inventory(member.stored)["keys"] == {WEB}
    assert member.remembered == [member.stored]


async def test_an_inventory_that_lost_our_label_keeps_its_objects_listed() -> None:
    """The watch cannot show an inventory without the platform's label; creating answers 409
    and the one that is there is read, its objects listed with the new ones (pruned by a later
    pass, never forgotten)."""
    member = Member(inventory_body(APP.uid, "tenant-a/shop", {OLD}, "d0"), watched=False)
    store = inventories(member)
    found, absent = await store.read(APP)
    assert (found, absent) == ({}, True)
    await store.write(APP, {WEB}, "d1", create=absent)
    assert member.requests == ["POST", "GET", "PATCH"]
    assert parse_inventory(member.stored) == {"keys": {WEB, OLD}, "fingerprint": "d1"}


async def test_a_refused_create_is_reported_not_retried_as_an_overwrite() -> None:
    member = Member()

    async def refuse(method: str, path: str, body: Any = None, **_: Any) -> Any:
        member.requests.append(method)
        raise _error(403)

    member.request = refuse  # type: ignore[method-assign]
    with pytest.raises(ApiError):
        await inventories(member).write(APP, {WEB}, None, create=True)
    assert member.requests == ["POST"]
    assert member.remembered == []


async def test_the_watchs_copy_is_parsed_once_until_it_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []

    def counting(found: Any) -> dict[str, Any]:
        parsed.append(1)
        return parse_inventory(found)

    monkeypatch.setattr(member_inventory, "parse_inventory", counting)
    member = Member(inventory_body(APP.uid, "tenant-a/shop", {WEB}, "d1"))
    store = inventories(member)
    for _ in range(3):
        assert (await store.read(APP))[0]["keys"] == {WEB}
    assert len(parsed) == 1
    member.stored = inventory_body(APP.uid, "tenant-a/shop", {WEB, OLD}, "d2")
    assert (await store.read(APP))[0] == {"keys": {WEB, OLD}, "fingerprint": "d2"}
    assert len(parsed) == 2


async def test_an_app_leaving_the_member_still_finds_an_inventory_that_lost_our_label() -> None:
    """Removal deletes what the inventory lists: one the watch cannot show is asked for, so
    its objects are not left behind on the member."""
    member = Member(inventory_body(APP.uid, "tenant-a/shop", {OLD}, "d0"), watched=False)
    found, absent = await inventories(member).read(APP, removing=True)
    assert (found["keys"], absent) == ({OLD}, False)
    assert member.requests == ["GET"]
