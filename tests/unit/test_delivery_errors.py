"""Delivery errors are classified where they are raised: transient (retried with backoff,
``Reconciling``), permanent (the user must change something), or a bug (propagates to the work
queue, which logs the traceback and retries; never a user-facing "Failed" deployment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import Status

from hybridcloud import FINALIZER
from hybridcloud.controllers.application import ApplicationController
from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.delivery.credentials import load_git_credentials
from hybridcloud.delivery.errors import PermanentDeliveryError, TransientDeliveryError
from hybridcloud.delivery.git import InvalidSourceError, SourceError, SourceUnavailableError
from hybridcloud.delivery.member import AppIdentity, MemberUnreachableError
from hybridcloud.feed import Feed
from hybridcloud.kube.tenants import TenantBook
from hybridcloud.kube.wire import KubeWire
from hybridcloud.models.application import DeploymentState, Health, HybridApplicationSpec
from hybridcloud.reconcile import application as logic
from hybridcloud.reconcile.placement import ClusterFacts, Target

SPEC = {"source": {"type": "git", "repository": "https://git.example.com/team/app.git",
                   "path": "k8s", "revision": "main", "secretRef": {"name": "deploy-token"}},
        "placement": [{"cluster": "east"}]}


class FailingReads:
    """An API client whose every GET fails with ``failure``."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure
        self.calls = 0

    async def get(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        raise self.failure


def api_error(code: int) -> ApiError:
    return ApiError(status=Status(code=code, message=f"the server said {code}"))


async def read_with(failure: Exception) -> SourceError:
    client = FailingReads(failure)
    with pytest.raises(SourceError) as raised:
        await load_git_credentials(client, "team", "deploy-token")  # type: ignore[arg-type]
    assert client.calls == 1
    return raised.value


@pytest.mark.parametrize("code", [500, 503, 429])
async def test_a_server_error_reading_the_git_secret_is_transient(code: int) -> None:
    error = await read_with(api_error(code))
    assert isinstance(error, SourceUnavailableError) and isinstance(error, TransientDeliveryError)
    assert not isinstance(error, PermanentDeliveryError)
    assert error.reason == "CredentialsUnavailable"
    assert str(error).startswith("spec.source.secretRef: cannot read Secret deploy-token")


async def test_a_timeout_reading_the_git_secret_is_transient() -> None:
    error = await read_with(httpx2.ReadTimeout("timed out"))
    assert isinstance(error, TransientDeliveryError)
    assert error.reason == "CredentialsUnavailable"


async def test_a_missing_git_secret_is_permanent() -> None:
    error = await read_with(api_error(404))
    assert isinstance(error, InvalidSourceError) and isinstance(error, PermanentDeliveryError)
    assert error.reason == "CredentialsNotFound"
    assert str(error) == "spec.source.secretRef: Secret deploy-token not found"


# -- the controller --------------------------------------------------------------------------

@pytest.fixture
async def controller(tmp_path: Path) -> Any:
    """A controller whose API clients point nowhere (nothing here may reach an API)."""
    settings = KubeConfig.from_dict({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "unused"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]})
    client = AsyncClient(config=settings)
    wire = KubeWire(settings.get(), field_manager="test")
    config = OperatorConfig(delivery_dir=tmp_path, resync_interval=30, stalled_retry=20)
    made = ApplicationController(client, wire, config, Feed(),
                                 TenantBook(client, config.tenant_defaults))
    yield made
    await client.close()
    await wire.close()


class BrokenMember:
    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    async def sync(self, *_: Any, **__: Any) -> Any:
        raise self.failure


async def deliver(controller: ApplicationController, monkeypatch: pytest.MonkeyPatch,
                  failure: Exception) -> logic.ClusterOutcome:
    controller.cluster_uids[("team", "east")] = "uid-east"

    async def member(*_: Any) -> BrokenMember:
        return BrokenMember(failure)

    monkeypatch.setattr(controller.members, "get", member)
    return await controller._deliver(
        AppIdentity("team", "app", "uid-app"), HybridApplicationSpec.model_validate(SPEC),
        Target("east", None, {}), [], "sha", {}, logic.DeliveryMode(logic.Writes.CHANGES),
        controller.tenants.rules_for("team"))


async def test_a_bug_inside_a_pass_is_not_reported_as_a_failed_deployment(
        controller: ApplicationController, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyError, match="replicas"):
        await deliver(controller, monkeypatch, KeyError("replicas"))


async def test_an_unreachable_member_is_a_failed_deployment_naming_the_cluster(
        controller: ApplicationController, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = await deliver(controller, monkeypatch,
                            MemberUnreachableError("cannot reach cluster east: refused"))
    assert outcome.state == DeploymentState.FAILED
    assert outcome.message == "cannot reach cluster east: refused"


async def pass_with_source_failure(controller: ApplicationController,
                                   monkeypatch: pytest.MonkeyPatch,
                                   failure: Exception) -> tuple[float | None, logic.Observation]:
    seen: list[logic.Observation] = []

    async def resolve(*_: Any) -> str:
        raise failure

    async def nothing(*_: Any) -> None:
        return None

    async def conclude(_key: Any, _body: Any, observation: logic.Observation) -> None:
        seen.append(observation)

    monkeypatch.setattr(controller.sources, "resolve", resolve)
    monkeypatch.setattr(controller, "_prime", nothing)
    monkeypatch.setattr(controller, "_conclude", conclude)
    controller.bodies[("team", "app")] = {
        "metadata": {"namespace": "team", "name": "app", "uid": "uid-app", "generation": 1,
                     "finalizers": [FINALIZER]}, "spec": SPEC}
    delay = await controller.reconcile(("team", "app"))
    return delay, seen[-1]


async def test_a_transient_source_error_is_retried_with_growing_backoff_not_stalled(
        controller: ApplicationController, monkeypatch: pytest.MonkeyPatch) -> None:
    failure = SourceUnavailableError("spec.source.secretRef: cannot read Secret deploy-token "
                                     "now (HTTP 503); retrying", reason="CredentialsUnavailable")
    delays = []
    for _ in range(7):
        delay, observation = await pass_with_source_failure(controller, monkeypatch, failure)
        delays.append(delay)
        assert observation.source_transient
        assert observation.source_error == ("CredentialsUnavailable", str(failure))
    assert delays == [1, 2, 4, 8, 16, 30, 30]  # capped at the resync interval


async def test_a_transient_export_error_backs_off_too_and_a_good_pass_starts_over(
        controller: ApplicationController, monkeypatch: pytest.MonkeyPatch) -> None:
    controller.clusters["team"] = {"east": (1, ClusterFacts(
        name="east", phase="Active", provider="local", region="local-a", labels={},
        deleting=False))}
    exported: list[bool] = []  # whether each export works

    async def resolve(*_: Any) -> str:
        return "0" * 40

    async def render(*_: Any) -> list[Any]:
        if exported.pop(0):
            return []
        raise SourceUnavailableError("cannot export commit 000000000000: truncated")

    async def nothing(*_: Any) -> Any:
        return []

    monkeypatch.setattr(controller.sources, "resolve", resolve)
    monkeypatch.setattr(controller.sources, "render", render)
    monkeypatch.setattr(controller, "_prime", nothing)
    monkeypatch.setattr(controller, "_conclude", nothing)
    monkeypatch.setattr(controller, "_refusals", nothing)
    async def deliver(*_: Any) -> logic.ClusterOutcome:
        return logic.ClusterOutcome("east", DeploymentState.SYNCED, Health.HEALTHY)

    monkeypatch.setattr(controller, "_deliver", deliver)
    controller.bodies[("team", "app")] = {
        "metadata": {"namespace": "team", "name": "app", "uid": "uid-app", "generation": 1,
                     "finalizers": [FINALIZER]}, "spec": SPEC}
    delays = []
    for works in (False, False, False, True, False):
        exported.append(works)
        delays.append(await controller.reconcile(("team", "app")))
    assert delays[:3] == [1, 2, 4] and delays[4] == 1


async def test_a_permanent_source_error_waits_for_the_user(
        controller: ApplicationController, monkeypatch: pytest.MonkeyPatch) -> None:
    failure = InvalidSourceError("spec.source.secretRef: Secret deploy-token not found",
                                 reason="CredentialsNotFound")
    delay, observation = await pass_with_source_failure(controller, monkeypatch, failure)
    assert delay == 20 and not observation.source_transient
    status = logic.derive_status(None, observation, now="2026-01-01T00:00:00Z").status
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "CredentialsNotFound"
