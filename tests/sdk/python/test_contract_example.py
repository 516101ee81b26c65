"""The API reference's Python example, verbatim from the SDK README, against the live API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import hybridcloud_sdk.client
from hybridcloud_sdk import HybridCloudClient, RetryPolicy, ServiceUnavailableError, models

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[3] / "sdk" / "python" / "README.md"


def contract_example() -> str:
    text = README.read_text()
    section = text.split("## Contract example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README lost the contract example"
    return match.group(1)


def test_the_contract_python_example_runs_verbatim_to_the_metrics_call_a_typed_503(
        api: str, token: str, namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test API has no Prometheus: the metrics call reaches the real route, which answers
    503 SERVICE_UNAVAILABLE (with Retry-After 10 s, so the example's default client is given a
    quick retry policy; the call itself is the contract's, unchanged)."""
    monkeypatch.setattr(hybridcloud_sdk.client, "RetryPolicy",
                        lambda: RetryPolicy(max_retries=1, backoff=0.05, max_backoff=0.1))
    with HybridCloudClient(base_url=api, api_key=token) as setup:
        setup.clusters.create(name="cluster-001", provider="local", version="v1.37.2",
                              configuration={"node_pools": [{"name": "workers", "size": 1}]})
    code = contract_example()
    for placeholder in ('"https://api.hybrid-cloud.example.com"', '"your-api-key"'):
        assert code.count(placeholder) == 1, placeholder
    code = code.replace('"https://api.hybrid-cloud.example.com"', repr(api))
    code = code.replace('"your-api-key"', repr(token))
    scope: dict[str, Any] = {}
    with pytest.raises(ServiceUnavailableError) as refused:
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
    assert (error.status, error.code) == (503, "SERVICE_UNAVAILABLE")
    assert error.details == {"backend": "prometheus"}
    assert "no Prometheus configured" in error.message
    assert error.request_id
