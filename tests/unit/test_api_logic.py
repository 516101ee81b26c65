"""Pure pieces of the REST API: rate-limit buckets, client-secret hashing, field naming,
operation progress and the REST → CRD mapping."""

from __future__ import annotations

from typing import Any

import pytest

from hybridcloud.api.errors import APIError, rest_field
from hybridcloud.api.oauth import hash_client_secret, registration, verify_client_secret
from hybridcloud.api.operations import describe, operation_id, parse
from hybridcloud.api.ratelimit import RateLimiter
from hybridcloud.api.schemas import ClusterCreate, ClusterPatch, cluster_spec, patched_cluster_spec
from hybridcloud.api.settings import Tier
from hybridcloud.api.views import application_summary, cluster_summary


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestRateLimiter:
    def test_a_burst_is_allowed_then_refused_then_refilled_at_the_tier_rate(self) -> None:
        clock = Clock()
        limiter = RateLimiter(3600, clock=clock, wall=clock)
        verdicts = [limiter.hit("a", Tier.BASIC) for _ in range(101)]
        assert all(v.allowed for v in verdicts[:100]) and not verdicts[100].allowed
        assert verdicts[0].limit == 1000 and verdicts[0].remaining == 99
        assert verdicts[100].retry_after == 4  # 1000/h = one token per 3.6 s
        assert verdicts[100].headers()["Retry-After"] == "4"
        clock.now += 3.6
        assert limiter.hit("a", Tier.BASIC).allowed
        assert not limiter.hit("a", Tier.BASIC).allowed

    def test_callers_and_tiers_have_their_own_buckets(self) -> None:
        limiter = RateLimiter(3600)
        for _ in range(100):
            limiter.hit("a", Tier.BASIC)
        assert not limiter.hit("a", Tier.BASIC).allowed
        assert limiter.hit("b", Tier.BASIC).allowed
        enterprise = limiter.hit("c", Tier.ENTERPRISE)
        assert (enterprise.limit, enterprise.remaining) == (100_000, 1999)

    def test_reset_is_when_the_bucket_is_full_again(self) -> None:
        clock = Clock()
        limiter = RateLimiter(3600, clock=clock, wall=lambda: 1_692_280_000.0)
        limiter.hit("a", Tier.PROFESSIONAL)
        # one token short; 10,000/h refills it in 0.36 s
        assert limiter.hit("a", Tier.PROFESSIONAL).reset == 1_692_280_001


class TestClientSecrets:
    def test_hashes_verify_only_the_right_secret(self) -> None:
        encoded = hash_client_secret("s3cret")
        assert encoded.startswith("scrypt$") and "s3cret" not in encoded
        assert verify_client_secret("s3cret", encoded)
        assert not verify_client_secret("s3cret!", encoded)

    def test_pbkdf2_hashes_are_accepted(self) -> None:
        import base64
        import hashlib

        digest = hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 1000)
        encoded = (f"pbkdf2_sha256$1000${base64.b64encode(b'salt').decode()}$"
                   f"{base64.b64encode(digest).decode()}")
        assert verify_client_secret("pw", encoded) and not verify_client_secret("px", encoded)

    @pytest.mark.parametrize("encoded", ["", "plain", "scrypt$1$2", "md5$x$y",
                                         "scrypt$99999999$8$1$AA==$AA==", "scrypt$a$b$c$d$e"])
    def test_malformed_or_abusive_hashes_never_match(self, encoded: str) -> None:
        assert not verify_client_secret("anything", encoded)

    def test_registrations_need_every_key(self) -> None:
        import base64

        def secret(**data: str) -> dict[str, Any]:
            return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        full = registration(secret(client_id="c", client_secret_hash="h",
                                   service_account="ns/sa", tier="Enterprise"))
        assert full is not None and (full.namespace, full.account, full.tier) == (
            "ns", "sa", Tier.ENTERPRISE)
        assert registration(secret(client_id="c", client_secret_hash="h")) is None
        assert registration(secret(client_id="c", client_secret_hash="h",
                                   service_account="sa-without-namespace")) is None
        odd_tier = registration(secret(client_id="c", client_secret_hash="h",
                                       service_account="ns/sa", tier="gold"))
        assert odd_tier is not None and odd_tier.tier is None


class TestFieldNames:
    @pytest.mark.parametrize(("path", "expected"), [
        ("spec.nodeGroups[1].autoScaling.minSize",
         "configuration.node_pools[1].auto_scaling.min_size"),
        ("spec.networking.clusterCIDR", "configuration.networking.cluster_cidr"),
        ("metadata.labels", "labels"),
        ("spec.region", "region"),
    ])
    def test_crd_paths_become_rest_paths(self, path: str, expected: str) -> None:
        renames = {"nodeGroups": "configuration.node_pools",
                   "networking": "configuration.networking"}
        assert rest_field(path, renames) == expected


def cluster(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "c1", "namespace": "t", "uid": "0" * 8 + "-0000-0000-0000-"
                         + "0" * 12, "generation": 2, "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {}, "status": status}


def ready(state: str, generation: int = 2) -> dict[str, Any]:
    return {"type": "Ready", "status": state, "reason": "R", "message": "m",
            "lastTransitionTime": "2025-01-01T00:00:01Z", "observedGeneration": generation}


class TestOperations:
    def test_ids_round_trip(self) -> None:
        obj = cluster()
        assert parse(operation_id(obj)) == (obj["metadata"]["uid"], 2)
        assert parse(operation_id(obj, delete=True)) == (obj["metadata"]["uid"], None)
        assert parse("op-12345") is None and parse("op-x-1") is None

    @pytest.mark.parametrize(("status", "generation", "expected"), [
        ({}, 2, "pending"),
        ({"observedGeneration": 1, "conditions": [ready("True", 1)]}, 2, "pending"),
        ({"observedGeneration": 2, "conditions": [ready("False")]}, 2, "running"),
        ({"observedGeneration": 2, "conditions": [ready("True")]}, 2, "succeeded"),
        ({"observedGeneration": 2, "phase": "Failed", "conditions": [ready("False")]}, 2,
         "failed"),
        ({"observedGeneration": 2, "conditions": [
            ready("False"), {**ready("True"), "type": "Stalled"}]}, 2, "failed"),
        ({"observedGeneration": 2, "conditions": [ready("True")]}, 1, "superseded"),
    ])
    def test_progress_comes_from_observed_generation_and_conditions(
            self, status: dict[str, Any], generation: int, expected: str) -> None:
        assert describe("op", cluster(**status), "cluster", generation).status == expected

    def test_a_finished_delete_succeeds(self) -> None:
        assert describe("op", None, "cluster", None).status == "succeeded"
        assert describe("op", cluster(), "cluster", None).status == "running"


CREATE: dict[str, Any] = {
    "name": "c1", "provider": "aws", "region": "us-west-2", "version": "v1.28.0",
    "configuration": {"node_pools": [{"name": "w", "size": 2, "auto_scaling": False}]}}


class TestClusterMapping:
    def test_boolean_autoscaling_and_snake_case_map_onto_the_crd(self) -> None:
        spec = cluster_spec(ClusterCreate.model_validate(CREATE))
        assert spec["nodeGroups"] == [{"name": "w", "size": 2, "role": "worker",
                                       "autoScaling": {"enabled": False}}]

    def test_a_create_without_version_leaves_it_to_the_operator(self) -> None:
        body = {k: v for k, v in CREATE.items() if k != "version"}
        spec = cluster_spec(ClusterCreate.model_validate(body))
        assert "version" not in spec  # the operator records the provider default in status
        summary = cluster_summary({"metadata": {"name": "c1", "namespace": "t"}, "spec": spec})
        assert summary.version == ""  # until the operator has recorded one; no 500
        recorded = {"metadata": {"name": "c1", "namespace": "t"}, "spec": spec,
                    "status": {"version": "v1.31"}}
        assert cluster_summary(recorded).version == "v1.31"

    def test_autoscaling_true_without_bounds_names_the_field(self) -> None:
        body = {**CREATE, "configuration": {"node_pools": [
            {"name": "w", "size": 2, "auto_scaling": True}]}}
        with pytest.raises(APIError) as caught:
            cluster_spec(ClusterCreate.model_validate(body))
        assert caught.value.details["field"] == "configuration.node_pools[0].auto_scaling"

    def test_patch_keeps_unmentioned_fields_and_refuses_provider_changes(self) -> None:
        current = cluster_spec(ClusterCreate.model_validate(CREATE))
        patched = patched_cluster_spec(current, ClusterPatch(version="v1.29.0"))
        assert patched["version"] == "v1.29.0" and patched["nodeGroups"] == current["nodeGroups"]
        with pytest.raises(APIError) as caught:
            patched_cluster_spec(current, ClusterPatch.model_validate({"region": "eu-west-1"}))
        assert caught.value.details == {"field": "region"}


class TestApplicationView:
    def app(self, deployments: list[dict[str, Any]]) -> dict[str, Any]:
        return {"metadata": {"name": "a", "namespace": "t"},
                "spec": {"placement": [{"cluster": "c1"}]},
                "status": {"deployments": deployments}}

    @pytest.mark.parametrize(("deployment", "status", "sync"), [
        ({}, "pending", "pending"),
        ({"status": "Synced", "health": "Healthy"}, "healthy", "synced"),
        ({"status": "Synced", "health": "Degraded"}, "degraded", "synced"),
        ({"status": "OutOfSync", "health": "Healthy"}, "progressing", "out_of_sync"),
        ({"status": "Failed", "health": "Unknown"}, "failed", "failed"),
    ])
    def test_status_words_from_the_clusters_deployment(
            self, deployment: dict[str, Any], status: str, sync: str) -> None:
        entries = [{"cluster": "c1", **deployment}] if deployment else []
        summary = application_summary(self.app(entries), "c1")
        assert (summary.status, summary.sync_status) == (status, sync)
        assert summary.namespace == "t"
