"""The API reference's Python example, verbatim from the SDK README, against the live API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hybridcloud_sdk import EndpointNotAvailableError, HybridCloudClient, models

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[3] / "sdk" / "python" / "README.md"


def contract_example() -> str:
    text = README.read_text()
    section = text.split("## Contract example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README lost the contract example"
    return match.group(1)


def test_the_contract_python_example_runs_verbatim_and_metrics_say_not_available(
        api: str, token: str, namespace: str) -> None:
    with HybridCloudClient(base_url=api, api_key=token) as setup:
        setup.clusters.create(name="cluster-001", provider="local", version="v1.37.2",
                              configuration={"node_pools": [{"name": "workers", "size": 1}]})
    code = contract_example()
    for placeholder in ('"https://api.hybrid-cloud.example.com"', '"your-api-key"'):
        assert code.count(placeholder) == 1, placeholder
    code = code.replace('"https://api.hybrid-cloud.example.com"', repr(api))
    code = code.replace('"your-api-key"', repr(token))
    scope: dict[str, Any] = {}
    with pytest.raises(EndpointNotAvailableError) as refused:
        exec(compile(code, "contract-example", "exec"), scope)  # noqa: S102
    # Everything before the metrics call worked against the API and returned typed models.
    assert isinstance(scope["clusters"], models.ClusterList)
    assert [c.id for c in scope["clusters"].clusters] == ["cluster-001"]
    assert isinstance(scope["cluster"], models.ClusterDetails)
    assert (scope["cluster"].id, scope["cluster"].namespace) == ("cluster-001", namespace)
    application = scope["application"]
    assert isinstance(application, models.Accepted)
    assert (application.id, application.status) == ("sample-app", "creating")
    assert "metrics" not in scope  # no fabricated result
    error = refused.value
    assert error.status in (404, 501)
    assert "/v1/clusters/cluster-001/metrics" in str(error)
    assert "not available on this server" in str(error)
    assert error.request_id
