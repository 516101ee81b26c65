"""The real ``hybridcloud`` executable's security and application-metrics commands against the
live API. The test API runs no operator, so a scan the CLI starts stays ``pending``. Each run of
the executable costs seconds on a busy machine: the tests keep to the paths the SDK tests do not
already cover (argument parsing, output, exit codes)."""

from __future__ import annotations

import pytest

from hybridcloud_sdk import HybridCloudClient
from hybridcloud_sdk.cli.exits import Exit

from .events_support import POOLS, VERSION
from .test_cli import CLI, cli  # noqa: F401  (the fixture: a CLI logged in to the test API)

pytestmark = pytest.mark.integration


def make_cluster(api: str, token: str, name: str) -> None:
    with HybridCloudClient(base_url=api, api_key=token) as client:
        client.clusters.create(name=name, provider="local", version=VERSION, configuration=POOLS)


def test_security_scan_is_started_read_back_and_waited_for_with_exit_codes(
        cli: CLI, api: str, token: str) -> None:  # noqa: F811
    make_cluster(api, token, "cli-scanned")
    started = cli.json("security", "scan", "--cluster", "cli-scanned", "--type",
                       "vulnerabilities")
    assert started["status"] == "pending"
    assert started["targets"] == [{"type": "cluster", "cluster_id": "cli-scanned"}]
    read = cli.json("security", "scans", "get", started["id"])
    assert (read["id"], read["status"], read["scan_types"]) == (started["id"], "pending",
                                                                 ["vulnerabilities"])
    # Nobody runs the scan here: --wait gives up after --timeout with the wait-failed exit code.
    waited = cli("security", "scan", "--cluster", "cli-scanned", "--wait", "--timeout", "1",
                 expect=Exit.WAIT_FAILED)
    assert "still pending" in waited.stderr and "Traceback" not in waited.stderr
    missing = cli("security", "scan", "--cluster", "ghost", expect=Exit.NOT_FOUND)
    assert "CLUSTER_NOT_FOUND" in missing.stderr


def test_vulnerabilities_filter_a_bad_filter_exits_usage_and_unknown_app_metrics_not_found(
        cli: CLI, api: str, token: str) -> None:  # noqa: F811
    make_cluster(api, token, "cli-metrics")
    found = cli.json("security", "vulnerabilities", "--severity", "critical,high", "--fixed",
                     "--cluster", "cli-metrics")
    assert found["vulnerabilities"] == []
    refused = cli("security", "vulnerabilities", "--severity", "urgent", expect=Exit.USAGE)
    assert "severity" in refused.stderr and "Traceback" not in refused.stderr
    missing = cli("apps", "metrics", "no-such-app", "--cluster", "cli-metrics",
                  expect=Exit.NOT_FOUND)
    assert "APPLICATION_NOT_FOUND" in missing.stderr and "Traceback" not in missing.stderr
