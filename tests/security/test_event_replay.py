"""The event stream's history replay (``GET /v1/events?replay=true``) as a way to read other
tenants' activity: the history is shared by every client of the API process, so each replayed
event goes through the same per-caller filter as a live one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lightkube import Client

from hybridcloud.controlplane import ControlPlane

from ..integration.api_support import serve
from ..integration.harness import eventually, fresh_namespace
from ..integration.test_events_stream import Stream, make, transition
from ..integration.webhook_support import api_settings, tenant

pytestmark = pytest.mark.integration


@pytest.fixture
def base(management: ControlPlane) -> Iterator[str]:
    settings = api_settings(management.kubeconfig).model_copy(
        update={"events_heartbeat_seconds": 0.5})
    with serve(settings) as url:
        yield url


def test_replaying_the_history_never_shows_another_tenants_events(
        base: str, kube: Client, namespace: str) -> None:
    victim = tenant(kube, namespace)
    watcher = Stream(base, victim)
    try:
        make(kube, namespace, "secret-project")
        transition(kube, namespace, "secret-project", "cluster.ready", "Active")
        eventually(lambda: len(watcher.frames) >= 2, timeout=20)  # in the shared history now
    finally:
        watcher.close()
    with fresh_namespace(kube, "replay-attacker") as other:
        attacker = tenant(kube, other, "attacker")
        # Asking for the victim's cluster by name, or for everything: nothing of it comes back.
        probes = [Stream(base, attacker, {"replay": "true"}),
                  Stream(base, attacker, {"replay": "true", "clusters": "secret-project"})]
        own = Stream(base, victim, {"replay": "true"})
        try:
            eventually(lambda: len(own.frames) >= 2, timeout=20)  # the history is there
            eventually(lambda: all(p.comments >= 2 for p in probes), timeout=20)
            assert [p.frames for p in probes] == [[], []]
        finally:
            for stream in (*probes, own):
                stream.close()
