"""The real ``hybridcloud`` executable's security and application-metrics commands against the
live API. The test API runs no operator, so a scan the CLI starts stays ``pending``."""

from __future__ import annotations

import pytest

from hybridcloud_sdk import HybridCloudClient
from hybridcloud_sdk.cli.exits import Exit

from .events_support import POOLS, VERSION
from .test_cli import CLI, cli  # noqa: F401  (the fixture: a CLI logged in to the test API)

pytestmark = pytest.mark.integration


def test_security_scan_is_started_read_back_and_waited_for_with_exit_codes(
        cli: CLI, api: str, token: str) -> None:  # noqa: F811
    with HybridCloudClient(base_url=api, api_key=token) as client:
        client.clusters.create(name="cli-scanned", provider="local", version=VERSION,
                               configuration=POOLS)
    started = cli.json("security", "scan", "--cluster", "cli-scanned", "--type",
                       "vulnerabilities")
    assert started["status"] == "pending"
    assert started["targets"] == [{"type": "cluster", "cluster_id": "cli-scanned"}]
    read = cli.json("security", "scans", "get", started["id"])
    assert (read["id"], read["status"]) == (started["id"], "pending")
    table = cli("security", "scans", "get", started["id"]).stdout
    assert started["id"] in table and "pending" in table
    # Nobody runs the scan here: --wait gives up after --timeout with the wait-failed exit code.
    waited = cli("security", "scan", "--cluster", "cli-scanned", "--wait", "--timeout", "1",
                 expect=Exit.WAIT_FAILED)
    assert "still pending" in waited.stderr and "Traceback" not in waited.stderr
    missing = cli("security", "scan", "--cluster", "ghost", expect=Exit.NOT_FOUND)
    assert "CLUSTER_NOT_FOUND" in missing.stderr
    cli("security", "scans", "get", "scan-000000000000", expect=Exit.NOT_FOUND)
    cli("security", "scan", expect=Exit.USAGE)  # no target


def test_security_vulnerabilities_filter_and_a_bad_filter_exits_with_usage(
        cli: CLI) -> None:  # noqa: F811
    found = cli.json("security", "vulnerabilities", "--severity", "critical,high", "--fixed",
                     "--cluster", "cli-scanned")
    assert found["vulnerabilities"] == []
    assert "ID" in cli("security", "vulnerabilities", "--unfixed").stdout  # the table header
    refused = cli("security", "vulnerabilities", "--severity", "urgent", expect=Exit.USAGE)
    assert "severity" in refused.stderr and "Traceback" not in refused.stderr
    yaml_out = cli("security", "vulnerabilities", "-o", "yaml").stdout
    assert "vulnerabilities: []" in yaml_out


def test_apps_metrics_of_an_application_not_on_the_cluster_exits_not_found(
        cli: CLI, api: str, token: str) -> None:  # noqa: F811
    with HybridCloudClient(base_url=api, api_key=token) as client:
        client.clusters.create(name="cli-metrics", provider="local", version=VERSION,
                               configuration=POOLS)
    missing = cli("apps", "metrics", "no-such-app", "--cluster", "cli-metrics",
                  expect=Exit.NOT_FOUND)
    assert "APPLICATION_NOT_FOUND" in missing.stderr and "Traceback" not in missing.stderr
