"""The dev supervisor's restart policy and the dev identity's rate-limit tier, without processes:
a fake clock and fake children (the real processes are exercised in
tests/integration/test_devenv.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from hybridcloud.api.settings import Tier
from hybridcloud.devenv import DEV_USERNAME, api_tiers, describe_tier, dev_tier
from hybridcloud.supervision import Backoff, SupervisedChild


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeProcess:
    pid: int
    running: bool = True

    def alive(self) -> bool:
        return self.running

    def describe_exit(self) -> str:
        return f"fake (pid {self.pid}) exited with signal 9"


class Starts:
    """Hands out a new fake process per start and remembers whether it was a restart."""

    def __init__(self, fail_restarts: int = 0) -> None:
        self.processes: list[FakeProcess] = []
        self.restart_flags: list[bool] = []
        self.fail_restarts = fail_restarts

    def __call__(self, restart: bool) -> FakeProcess:
        self.restart_flags.append(restart)
        if restart and self.fail_restarts:
            self.fail_restarts -= 1
            raise OSError("cannot execute python")
        process = FakeProcess(pid=100 + len(self.processes))
        self.processes.append(process)
        return process


def supervised(starts: Starts, clock: Clock, lines: list[str],
               backoff: Backoff | None = None) -> SupervisedChild[FakeProcess]:
    return SupervisedChild("operator", starts, backoff or Backoff(initial=1, cap=8,
                                                                  healthy_after=60),
                           clock, lines.append)


class TestBackoff:
    def test_delays_double_up_to_the_cap_while_the_child_keeps_crashing(self) -> None:
        backoff = Backoff(initial=1, cap=8, healthy_after=60)
        assert [backoff.next_delay(uptime=2) for _ in range(6)] == [1, 2, 4, 8, 8, 8]

    def test_a_child_that_ran_healthy_long_enough_is_restarted_quickly_again(self) -> None:
        backoff = Backoff(initial=1, cap=8, healthy_after=60)
        assert [backoff.next_delay(uptime=1) for _ in range(4)] == [1, 2, 4, 8]
        assert backoff.next_delay(uptime=60) == 1
        assert backoff.next_delay(uptime=5) == 2


class TestSupervisedChild:
    def test_a_killed_child_is_restarted_after_the_backoff_and_each_step_is_logged(
            self) -> None:
        clock, starts, lines = Clock(), Starts(), list[str]()
        child = supervised(starts, clock, lines)
        assert starts.restart_flags == [False]
        assert child.check() is False and lines == []  # alive: nothing to do
        starts.processes[0].running = False
        clock.now += 5
        assert child.check() is False  # noticed; the restart waits for the backoff
        assert lines == ["fake (pid 100) exited with signal 9 after 5.0s; restarting it in 1s"]
        clock.now += 0.5
        assert child.check() is False and len(starts.processes) == 1
        clock.now += 0.5
        assert child.check() is True
        assert starts.restart_flags == [False, True]
        assert child.process is starts.processes[1] and child.restarts == 1
        assert lines[-1] == "operator restarted (pid 101, restart 1)"

    def test_a_crash_loop_backs_off_and_a_healthy_period_resets_it(self) -> None:
        clock, starts, lines = Clock(), Starts(), list[str]()
        child = supervised(starts, clock, lines)
        delays = []
        for _ in range(5):
            child.process.running = False
            child.check()
            assert child.restart_at is not None
            delays.append(child.restart_at - clock.now)
            clock.now = child.restart_at
            assert child.check() is True
        assert delays == [1, 2, 4, 8, 8]
        clock.now += 60  # the fifth restart ran healthy for a minute
        child.process.running = False
        child.check()
        assert child.restart_at == clock.now + 1

    def test_a_failed_restart_is_logged_and_retried_with_a_longer_backoff(self) -> None:
        clock, starts, lines = Clock(), Starts(fail_restarts=1), list[str]()
        child = supervised(starts, clock, lines)
        child.process.running = False
        child.check()
        clock.now += 1
        assert child.check() is False
        assert lines[-1] == ("operator could not be restarted (cannot execute python); "
                             "trying again in 2s")
        clock.now += 2
        assert child.check() is True
        assert child.process.pid == 101 and child.process.alive()


class TestDevTier:
    def test_the_dev_identity_is_enterprise_unless_the_variable_says_otherwise(self) -> None:
        assert dev_tier({}) is Tier.ENTERPRISE
        assert dev_tier({"HYBRIDCLOUD_DEV_TIER": ""}) is Tier.ENTERPRISE
        assert dev_tier({"HYBRIDCLOUD_DEV_TIER": "Basic"}) is Tier.BASIC
        assert dev_tier({"HYBRIDCLOUD_DEV_TIER": " professional "}) is Tier.PROFESSIONAL

    def test_an_unknown_tier_is_refused_naming_the_variable_and_the_choices(self) -> None:
        with pytest.raises(ValueError, match=r"HYBRIDCLOUD_DEV_TIER='gold' is not a rate-limit "
                           r"tier; use one of basic, professional, enterprise"):
            dev_tier({"HYBRIDCLOUD_DEV_TIER": "gold"})

    def test_the_api_gets_the_dev_identitys_tier_beside_configured_ones(self) -> None:
        assert json.loads(api_tiers({}, Tier.ENTERPRISE)) == {DEV_USERNAME: "enterprise"}
        configured = {"HYBRIDCLOUD_API_TIERS": json.dumps({"system:serviceaccount:a:ci": "basic"})}
        assert json.loads(api_tiers(configured, Tier.PROFESSIONAL)) == {
            "system:serviceaccount:a:ci": "basic", DEV_USERNAME: "professional"}
        assert DEV_USERNAME == "system:serviceaccount:default:hybridcloud-dev"

    @pytest.mark.parametrize("raw", ["{not json", "[1, 2]"])
    def test_malformed_configured_tiers_are_refused_by_name(self, raw: str) -> None:
        with pytest.raises(ValueError, match="HYBRIDCLOUD_API_TIERS"):
            api_tiers({"HYBRIDCLOUD_API_TIERS": raw}, Tier.ENTERPRISE)

    def test_the_summary_spells_out_the_tiers_limits(self) -> None:
        assert describe_tier(Tier.ENTERPRISE) == "enterprise (100,000 requests/h, burst 2,000)"
        assert describe_tier(Tier.BASIC) == "basic (1,000 requests/h, burst 100)"
