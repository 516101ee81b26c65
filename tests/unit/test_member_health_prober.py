"""The prober's fleet-scale economies: node lists asked less often than /readyz, and the timing
adapted to the throughput it measures (with the bound exported)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from lightkube import AsyncClient
from prometheus_client import REGISTRY

from hybridcloud.controllers.config import OperatorConfig
from hybridcloud.controllers.health import MemberHealthProber
from hybridcloud.controllers.hybridcluster import ClusterController
from hybridcloud.feed import Feed
from hybridcloud.kube.member_probe import MemberProbe
from hybridcloud.reconcile.health import NODES_NOT_READY, ProbeResult

KEY = ("team", "east")
UID = "uid-east"


class _Member:
    """Answers /readyz; a node listing shows ``ready`` of 3 nodes Ready."""

    def __init__(self, ready: int = 3) -> None:
        self.ready = ready
        self.listed: list[bool] = []

    async def probe(self, nodes: bool = True) -> ProbeResult:
        self.listed.append(nodes)
        if not nodes:
            return ProbeResult(True, None, nodes_listed=False)
        return ProbeResult(True, None, 3, self.ready)


class _Queue:
    def add(self, _key: Any, delay: float = 0.0) -> None:
        pass


class _Clusters:
    queue = _Queue()
    wire = None
    bodies: dict[Any, Any] = {}


class _Prober(MemberHealthProber):
    def __init__(self, member: _Member, **config: Any) -> None:
        super().__init__(cast(AsyncClient, None), OperatorConfig(**config), Feed(),
                         cast(ClusterController, _Clusters()))
        self.member = member

    async def _probe_client(self, key: tuple[str, str], uid: str) -> MemberProbe:
        return cast(MemberProbe, self.member)


def probe_times(prober: _Prober, times: int) -> None:
    async def run() -> None:
        for _ in range(times):
            await prober._probe(KEY, UID)
    asyncio.run(run())


def test_nodes_are_listed_once_per_nodes_interval_and_their_counts_stand_between() -> None:
    member = _Member()
    prober = _Prober(member, health_nodes_interval=60)
    probe_times(prober, 4)
    assert member.listed == [True, False, False, False]
    state = prober._states[KEY][1]
    assert state.verdict is None and state.failing_since is None


def test_a_prober_whose_round_outlasts_the_nodes_interval_still_lists_one_probe_in_three(
) -> None:
    member = _Member()
    prober = _Prober(member, health_nodes_interval=0.000001)  # every listing is "old"
    probe_times(prober, 7)
    assert member.listed == [True, False, False, True, False, False, True]


def test_a_member_whose_nodes_are_not_ready_has_them_listed_on_every_probe() -> None:
    member = _Member(ready=0)
    prober = _Prober(member, health_nodes_interval=60, health_grace_period=1,
                     health_probe_interval=0.1, health_probe_timeout=0.1)
    probe_times(prober, 3)
    assert member.listed == [True, True, True]  # failing: every probe confirms
    assert prober._states[KEY][1].failing_since is not None
    member.ready = 3
    probe_times(prober, 1)
    assert member.listed[-1] is True


def test_a_readyz_only_probe_carries_the_last_listed_node_counts() -> None:
    prober = _Prober(_Member())
    prober._with_nodes(KEY, ProbeResult(True, None, 3, 1), 0.0)
    carried = prober._with_nodes(KEY, ProbeResult(True, None, nodes_listed=False), 1.0)
    assert (carried.nodes_total, carried.nodes_ready, carried.problem) == (3, 1, None)
    prober._with_nodes(KEY, ProbeResult(True, None, 3, 0), 2.0)
    carried = prober._with_nodes(KEY, ProbeResult(True, None, nodes_listed=False), 3.0)
    assert carried.problem is not None and carried.problem[0] == NODES_NOT_READY


def test_the_measured_throughput_sets_the_round_and_the_exported_detection_bound() -> None:
    prober = _Prober(_Member())
    prober._adapt(5000, 450.0)  # 5,000 members at 450 probes/s: an 11.1 s round
    assert prober.timing.round_time == pytest.approx(5000 / 450)
    assert prober.timing.detection_bound == pytest.approx(40.0)
    assert REGISTRY.get_sample_value(
        "hybridcloud_member_health_detection_bound_seconds") == pytest.approx(40.0)
    assert REGISTRY.get_sample_value(
        "hybridcloud_member_health_round_seconds") == pytest.approx(5000 / 450)
    prober._adapt(5000, 100.0)  # too slow: a 50 s round, beyond what the grace can absorb
    assert prober._overloaded and prober.timing.detection_bound > 40
    prober._adapt(5000, 1000.0)  # keeping up again (members / interval)
    assert not prober._overloaded and prober.timing.unhealthy_after == 25.0


def test_the_round_follows_the_throughput_of_several_intervals_not_one_slow_interval() -> None:
    prober = _Prober(_Member())  # 5 s interval
    assert prober._measure(0.0, restart=True) is None  # members just joined: no figure yet
    for tick in range(1, 7):  # six intervals at 1,000 probes/s
        prober._completed += 5000
        rate = prober._measure(5.0 * tick, restart=False)
    assert rate == pytest.approx(1000.0)
    prober._completed += 1000  # one interval at 200 probes/s (node listings, a busy machine)
    rate = prober._measure(35.0, restart=False)
    assert rate == pytest.approx((5 * 5000 + 1000) / 30.0)  # 867/s over 30 s, not 200/s
    for tick in range(8, 14):  # a lasting slowdown shows within the window
        prober._completed += 1000
        rate = prober._measure(5.0 * tick, restart=False)
    assert rate == pytest.approx(200.0)
    assert prober._measure(70.0, restart=True) is None  # members joined again: start over
