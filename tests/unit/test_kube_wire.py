"""The lean write client's pure parts: request paths and error mapping."""

from __future__ import annotations

import json

import pytest

from hybridcloud.kube.wire import _api_error, object_path, proxy_for


def test_paths_follow_the_apiserver_layout_for_core_and_grouped_kinds() -> None:
    assert object_path("v1", "events", "team-a") == "/api/v1/namespaces/team-a/events"
    assert object_path("platform.example.com/v1", "hybridclusters", "team-a", "east",
                       "status") == \
        "/apis/platform.example.com/v1/namespaces/team-a/hybridclusters/east/status"
    assert object_path("admissionregistration.k8s.io/v1", "mutatingadmissionpolicies", None,
                       "p") == "/apis/admissionregistration.k8s.io/v1/mutatingadmissionpolicies/p"


def test_an_apiserver_status_becomes_an_api_error_with_its_code_reason_and_message() -> None:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 409,
            "reason": "Conflict", "message": "the object has been modified"}
    error = _api_error("PATCH", "https://h/x", 409, json.dumps(body).encode())
    assert (error.status.code, error.status.reason) == (409, "Conflict")
    assert error.status.message == "the object has been modified"


def test_a_non_json_answer_still_becomes_an_api_error_naming_the_http_code() -> None:
    error = _api_error("PATCH", "https://h/x", 503, b"upstream connect error")
    assert error.status.code == 503 and error.status.message == "upstream connect error"
    empty = _api_error("POST", "https://h/x", 502, b"")
    assert empty.status.code == 502 and empty.status.message == "HTTP 502"


def test_proxy_settings_from_the_environment_apply_unless_the_host_is_excluded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://10.0.0.1:6443") is None
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    assert proxy_for("https://10.0.0.1:6443") == "http://proxy.internal:3128"
    monkeypatch.setenv("no_proxy", "10.0.0.1,.svc")
    assert proxy_for("https://10.0.0.1:6443") is None
    assert proxy_for("https://kubernetes.default.svc") is None
