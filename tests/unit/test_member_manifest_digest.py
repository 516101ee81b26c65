"""What a member sync writes, by the digest of the rendering last applied there in full (the
application's status records it as ``manifestDigest``): a new rendering is applied whole and the
inventory is left alone while the objects it lists stay the same (it used to be rewritten with
the new digest on every commit: a second write per application and member, issue 19); the same
rendering writes nothing; a failed apply keeps the old digest so the next pass applies again.
The member's apiserver is a dictionary of the objects applied."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

import httpx2
import pytest
from lightkube import KubeConfig
from lightkube.core.exceptions import ApiError

from hybridcloud.delivery import objects as o
from hybridcloud.delivery.member import MemberCluster, SyncOutcome
from hybridcloud.delivery.render import Manifest
from hybridcloud.member_writes import Writes
from hybridcloud.models import TenantRules
from hybridcloud.models.tenantpolicy import DeliveryRules
from hybridcloud.reconcile.tenancy import DEFAULTS_SOURCE, Governing

from .test_member_apply_waves import APP, CONFIG

RULES = Governing(TenantRules(), DEFAULTS_SOURCE)


def settings(text: str) -> list[Manifest]:
    return [Manifest({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": f"settings-{i}", "namespace": "shop"},
                      "data": {"text": text}}, f"settings-{i}.yaml:1", None) for i in range(3)]


class Member:
    """The apiserver as the sync sees it: applied objects, the inventory, and a log of writes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cluster = MemberCluster("east", KubeConfig.from_dict(CONFIG))
        self.objects: dict[o.ObjectKey, dict[str, Any]] = {}
        self.inventory: dict[str, Any] = {}
        self.applies: list[str] = []
        self.inventory_writes = 0
        self.failing: set[str] = set()  # names whose apply the apiserver refuses

        async def absent(names: Iterable[str | None]) -> set[str]:
            return set()

        async def nothing(*_: Any, **__: Any) -> None:
            return None

        async def read_inventory(app: Any) -> tuple[dict[str, Any], bool]:
            return dict(self.inventory), not self.inventory

        async def write_inventory(app: Any, keys: set[o.ObjectKey], digest: str | None,
                                  create: bool = False) -> None:
            self.inventory_writes += 1
            self.inventory = {"keys": set(keys), "fingerprint": digest}

        async def apply(resource: Any, key: o.ObjectKey, obj: dict[str, Any]) -> dict[str, Any]:
            if key.name in self.failing:
                request = httpx2.Request("PATCH", "https://east/")
                raise ApiError(request=request, response=httpx2.Response(
                    422, request=request, json={"kind": "Status", "code": 422,
                                                "message": "refused"}))
            self.applies.append(key.name)
            self.objects[key] = {**obj, "metadata": {**obj["metadata"], "resourceVersion": "7"}}
            return self.objects[key]

        async def write(resource: Any, key: o.ObjectKey,
                        request: Awaitable[dict[str, Any]]) -> dict[str, Any]:
            return await request

        monkeypatch.setattr(self.cluster.namespaces, "absent", absent)
        monkeypatch.setattr(self.cluster.namespaces, "ensure", nothing)
        monkeypatch.setattr(self.cluster.inventories, "read", read_inventory)
        monkeypatch.setattr(self.cluster.inventories, "write", write_inventory)
        monkeypatch.setattr(self.cluster, "_current", nothing)
        monkeypatch.setattr(self.cluster, "_get", nothing)
        monkeypatch.setattr(self.cluster.applied, "lookup",
                            lambda resource, key: self.objects.get(key))
        monkeypatch.setattr(self.cluster, "_apply", apply)
        monkeypatch.setattr(self.cluster.applied, "write", write)

    async def sync(self, text: str, digest: str | None) -> SyncOutcome:
        self.applies.clear()
        return await self.cluster._sync(APP, settings(text), "shop", prune=True,
                                        self_heal=False, writes=Writes.CHANGES, rules=RULES,
                                        applied_digest=digest)


@pytest.fixture
async def member(monkeypatch: pytest.MonkeyPatch) -> Any:
    fake = Member(monkeypatch)
    yield fake
    await fake.cluster.close()


async def test_a_new_commit_applies_every_object_once_and_leaves_the_inventory_alone(
        member: Member) -> None:
    first = await member.sync("hello", None)
    assert sorted(member.applies) == ["settings-0", "settings-1", "settings-2"]
    assert first.digest and member.inventory_writes == 1  # listed before anything is created
    second = await member.sync("bonjour", first.digest)
    assert sorted(member.applies) == ["settings-0", "settings-1", "settings-2"]
    assert second.digest not in (None, first.digest) and not second.errors
    assert member.inventory_writes == 1, "the same objects: no inventory write"


async def test_the_rendering_last_applied_in_full_writes_nothing_and_keeps_its_digest(
        member: Member) -> None:
    first = await member.sync("hello", None)
    again = await member.sync("hello", first.digest)
    assert member.applies == [] and again.digest == first.digest and not again.out_of_sync
    assert member.inventory_writes == 1


async def test_a_status_without_a_digest_falls_back_to_the_inventorys(member: Member) -> None:
    """Status written by an older version has no digest; the inventories it wrote carry it."""
    first = await member.sync("hello", None)
    member.inventory = {**member.inventory, "fingerprint": first.digest}
    assert (await member.sync("hello", None)).digest == first.digest
    assert member.applies == []


async def test_a_failed_apply_keeps_the_old_digest_so_the_next_pass_applies_again(
        member: Member) -> None:
    first = await member.sync("hello", None)
    member.failing = {"settings-1"}
    failed = await member.sync("bonjour", first.digest)
    assert failed.errors and failed.digest == first.digest
    member.failing = set()
    retried = await member.sync("bonjour", first.digest)  # the status still says the old one
    assert sorted(member.applies) == ["settings-0", "settings-1", "settings-2"]
    assert retried.digest != first.digest


async def test_the_same_rendered_list_is_prepared_once_and_a_new_one_again(
        member: Member, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stamping and resolving kinds happen once per rendered list (the renderer hands out the
    same read-only list for the same inputs), not twice per pass (refusals, then the sync)."""
    prepared: list[int] = []
    prepare = member.cluster._prepare

    async def counted(*args: Any) -> Any:
        prepared.append(1)
        return await prepare(*args)

    monkeypatch.setattr(member.cluster, "_prepare", counted)
    rendered = settings("hello")
    for _ in range(3):
        assert await member.cluster.refusals(APP, rendered, target_namespace="shop",
                                             rules=RULES) == []
        await member.cluster._sync(APP, rendered, "shop", prune=True, self_heal=False,
                                   writes=Writes.CHANGES, rules=RULES, applied_digest=None)
    assert len(prepared) == 1
    await member.cluster._sync(APP, settings("hello"), "other", prune=True, self_heal=False,
                               writes=Writes.CHANGES, rules=RULES, applied_digest=None)
    assert len(prepared) == 2  # another list (or namespace) is prepared anew


async def test_objects_are_compared_again_only_when_they_or_the_rendering_changed(
        member: Member, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass compares each live object with what it would apply; one where neither side moved
    (same rendered list, same resourceVersion) since they were found to agree compares nothing
    (issue 19: comparing every object on every pass led the delivery-at-scale profile). An
    edit on the member (a new resourceVersion) is compared, and reported, at once."""
    compared: list[str] = []
    drift = o.drift

    def counting(desired: Any, live: Any, path: str = "") -> str | None:
        if not path:  # the comparison of one object, not its recursion into fields
            compared.append(live["metadata"]["name"])
        return drift(desired, live, path)

    async def refuse_dry_run(*_: Any, **__: Any) -> Any:
        request = httpx2.Request("PATCH", "https://east/")
        raise ApiError(request=request, response=httpx2.Response(
            422, request=request, json={"kind": "Status", "code": 422, "message": "no"}))

    monkeypatch.setattr(o, "drift", counting)
    monkeypatch.setattr(member.cluster.client, "patch", refuse_dry_run)
    rendered = settings("hello")

    async def sync(digest: str | None) -> SyncOutcome:
        return await member.cluster._sync(APP, rendered, "shop", prune=True, self_heal=False,
                                          writes=Writes.CHANGES, rules=RULES,
                                          applied_digest=digest)

    digest = (await sync(None)).digest  # applies everything: nothing to compare
    assert compared == []
    assert not (await sync(digest)).out_of_sync
    assert sorted(compared) == ["settings-0", "settings-1", "settings-2"]
    compared.clear()
    assert not (await sync(digest)).out_of_sync
    assert compared == []
    key = next(k for k in member.objects if k.name == "settings-1")
    live = member.objects[key]
    member.objects[key] = {**live, "data": {"text": "edited"},
                           "metadata": {**live["metadata"], "resourceVersion": "8"}}
    edited = await sync(digest)
    assert compared == ["settings-1"]
    assert edited.out_of_sync == [f"{key} (.data.text)"]


async def test_rules_that_change_between_passes_are_checked_again(member: Member) -> None:
    """A plan keeps what the last rules refused (every pass checks): rules that now keep the
    tenant out of the target namespace refuse the objects at the next pass, before any write,
    and the rules loosened again let them through."""
    rendered = settings("hello")
    narrow = Governing(TenantRules(delivery=DeliveryRules(allowed_namespaces=["billing"])),
                       "TenantPolicy narrow")
    assert await member.cluster.refusals(APP, rendered, target_namespace="shop",
                                         rules=RULES) == []
    refused = await member.cluster._sync(APP, rendered, "shop", prune=True, self_heal=False,
                                         writes=Writes.CHANGES, rules=narrow,
                                         applied_digest=None)
    assert len(refused.refused) == 3 and member.applies == []
    assert await member.cluster.refusals(APP, rendered, target_namespace="shop",
                                         rules=RULES) == []
