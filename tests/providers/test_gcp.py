"""The GKE adapter drives the real google-cloud-container client (REST transport) against a
wire-level fake of the GKE API, and classifies what goes wrong the way the operator expects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import yaml
from google.cloud import container_v1

from hybridcloud.providers.base import (
    AuthenticationError,
    CloudProvider,
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    NodeGroupSpec,
    ObservedCluster,
    PermanentError,
    ProviderError,
    QuotaExceededError,
    Taint,
    TransientError,
)
from hybridcloud.providers.gcp import GCPProvider, gke_name
from tests.fakes.gke import FakeGKE

PROJECT = "demo-project"
CREATE = r"/clusters$"
BAD_TOKEN = "ya29.not-valid-secret-token-0123456789"


@pytest.fixture
def gke() -> Iterator[FakeGKE]:
    # Operations never end on their own: a test sees every intermediate state however slowly
    # it runs, and ends them with fast_forward() (through wait_for / until_active).
    fake = FakeGKE(delay=3600)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def provider(gke: FakeGKE) -> GCPProvider:
    return GCPProvider({"access_token": gke.access_token, "project": PROJECT}, endpoint=gke.url)


def make_spec(name: str = "hc-team-web-1a2b3c4d", **changes: object) -> ClusterSpec:
    fields: dict[str, object] = {
        "name": name, "region": "europe-west1", "version": "1.29",
        "node_groups": (NodeGroupSpec("workers", 2, instance_type="e2-standard-4", disk_size=50,
                                      labels={"tier": "web"},
                                      taints=(Taint("dedicated", "NoSchedule", "web"),)),),
        "cluster_cidr": "10.8.0.0/14", "service_cidr": "10.12.0.0/20",
        "tags": {"hybridcloud.io/cluster": "Team/Web", "hybridcloud.io/uid": "1a2b3c4d"},
    }
    fields.update(changes)
    return ClusterSpec(**fields)  # type: ignore[arg-type]


def wait_for(gke: FakeGKE, provider: GCPProvider, spec: ClusterSpec,
             condition: Callable[[ObservedCluster | None], bool],
             steps: int = 5) -> ObservedCluster | None:
    """Describe until ``condition`` holds, ending the fake's operations between looks."""
    for _ in range(steps):
        observed = provider.describe(spec)
        if condition(observed):
            return observed
        gke.fast_forward()
    raise AssertionError(f"condition not reached; last observed: {observed}")


def until_active(gke: FakeGKE, provider: GCPProvider, spec: ClusterSpec) -> ObservedCluster:
    observed = wait_for(gke, provider, spec,
                        lambda o: o is not None and o.state is ClusterState.ACTIVE)
    assert observed is not None
    return observed


@pytest.fixture
def running(gke: FakeGKE, provider: GCPProvider) -> ClusterSpec:
    spec = make_spec()
    provider.create(spec)
    until_active(gke, provider, spec)
    return spec


def test_the_adapter_satisfies_the_provider_protocol(provider: GCPProvider) -> None:
    assert isinstance(provider, CloudProvider)
    assert provider.name == "gcp"


class TestCreate:
    def test_create_shows_provisioning_then_active_with_groups_version_and_endpoint(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec()
        provider.create(spec)
        first = provider.describe(spec)
        assert first is not None and first.state is ClusterState.CREATING
        assert first.node_groups[0].state is ClusterState.CREATING
        assert first.node_groups[0].ready == 0

        observed = until_active(gke, provider, spec)
        assert observed.name == spec.name and observed.master_count == 0
        assert observed.version == "1.29.10-gke.1071000"
        assert observed.endpoint is not None and observed.endpoint.startswith("https://34.")
        assert observed.ca_data
        group = observed.node_group("workers")
        assert group is not None
        assert (group.size, group.ready, group.state) == (2, 2, ClusterState.ACTIVE)
        assert group.min_size is None and group.max_size is None

    def test_create_sends_pools_labels_taints_network_and_pins_versions(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec()
        provider.create(spec)
        cluster = gke.cluster(spec.name)
        assert cluster is not None and cluster.location == "europe-west1"
        assert cluster.settings["resourceLabels"] == {"hybridcloud_io_cluster": "team_web",
                                                      "hybridcloud_io_uid": "1a2b3c4d"}
        assert cluster.settings["ipAllocationPolicy"] == {
            "useIpAliases": True, "clusterIpv4CidrBlock": "10.8.0.0/14",
            "servicesIpv4CidrBlock": "10.12.0.0/20"}
        assert cluster.settings["releaseChannel"] == {}  # outside channels: we own versions
        pool = cluster.pools["workers"]
        assert pool.config["machineType"] == "e2-standard-4"
        assert pool.config["diskSizeGb"] == 50
        assert pool.config["labels"] == {"tier": "web"}
        assert pool.config["taints"] == [{"key": "dedicated", "value": "web",
                                          "effect": "NO_SCHEDULE"}]
        assert pool.config["resourceLabels"] == cluster.settings["resourceLabels"]
        assert pool.management == {"autoRepair": True}  # node auto-upgrade off
        assert [g.zone for g in pool.groups] == ["europe-west1-a", "europe-west1-b",
                                                 "europe-west1-c"]

    def test_release_channel_option_enables_node_auto_upgrade(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec(options={"releaseChannel": "regular"})
        provider.create(spec)
        cluster = gke.cluster(spec.name)
        assert cluster is not None
        assert cluster.settings["releaseChannel"] == {"channel": 2}  # REGULAR, numeric enum
        assert cluster.pools["workers"].management == {"autoRepair": True, "autoUpgrade": True}

    def test_create_again_makes_no_second_cloud_create(self, provider: GCPProvider,
                                                       gke: FakeGKE) -> None:
        spec = make_spec()
        provider.create(spec)
        provider.create(spec)
        until_active(gke, provider, spec)
        provider.create(spec)
        assert gke.count("POST", CREATE) == 1

    def test_create_racing_an_earlier_call_accepts_already_exists(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec()
        provider.create(spec)
        # The existence check misses the cluster (as if created in between): the 409 is fine.
        gke.fail_next(404, "NOT_FOUND", "Not found", method="GET", path=r"/clusters/")
        provider.create(spec)  # reaches GKE, which answers 409 ALREADY_EXISTS
        assert gke.count("POST", CREATE) == 2
        assert len(gke.state.clusters) == 1

    def test_control_plane_groups_are_ignored_as_gke_manages_the_control_plane(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec(node_groups=(NodeGroupSpec("masters", 3, role="control-plane"),
                                      NodeGroupSpec("workers", 1)))
        provider.create(spec)
        cluster = gke.cluster(spec.name)
        assert cluster is not None and list(cluster.pools) == ["workers"]
        provider.create_node_group(spec, spec.node_groups[0])
        assert gke.count("POST", r"/nodePools$") == 0

    def test_names_gke_cannot_take_are_sanitized_deterministically(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        long_name = "hc-Team_Namespace-a-really-long-application-name-1a2b3c4d"
        spec = make_spec(name=long_name, node_groups=(NodeGroupSpec("GPU_Workers", 1),))
        provider.create(spec)
        # Written out by hand, not recomputed with gke_name: lower-cased, runs of invalid
        # characters turned into "-", cut to 31 characters, then 8 hex digits of sha256(name).
        expected = "hc-team-namespace-a-really-long-c2ca8442"
        assert gke_name(long_name) == expected and len(expected) <= 40
        assert [c.name for c in gke.state.clusters.values()] == [expected]
        # Same first 31 characters, different name: the hash keeps the two apart.
        assert gke_name(long_name[:-1] + "e") != expected
        observed = until_active(gke, provider, spec)
        assert [g.name for g in observed.node_groups] == ["GPU_Workers"]

    def test_create_while_the_old_cluster_is_still_deleting_is_transient(
            self, provider: GCPProvider, running: ClusterSpec) -> None:
        provider.delete(running)
        with pytest.raises(TransientError, match="still being deleted"):
            provider.create(running)


class TestDescribe:
    def test_describe_of_an_unknown_cluster_returns_none(self, provider: GCPProvider) -> None:
        assert provider.describe(make_spec(name="hc-nobody-00000000")) is None

    def test_zonal_clusters_count_nodes_in_their_single_zone(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec(options={"zone": "europe-west1-b"})
        provider.create(spec)
        observed = until_active(gke, provider, spec)
        assert observed.provider_id.endswith("/locations/europe-west1-b/clusters/" + spec.name)
        assert [g.zone for g in gke.instance_groups()] == ["europe-west1-b"]
        assert observed.node_groups[0].size == 2

    @pytest.mark.parametrize(("status", "state"), [("ERROR", ClusterState.FAILED),
                                                   ("DEGRADED", ClusterState.FAILED),
                                                   ("RECONCILING", ClusterState.UPDATING)])
    def test_cluster_status_maps_to_state_with_the_provider_message(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec, status: str,
            state: ClusterState) -> None:
        cluster = gke.cluster(running.name)
        assert cluster is not None
        cluster.status, cluster.status_message = status, "Node pool has no healthy nodes."
        observed = provider.describe(running)
        assert observed is not None and observed.state is state
        assert observed.message == "Node pool has no healthy nodes."


    @pytest.mark.parametrize("status", ["ERROR", "DEGRADED"])
    def test_an_accepted_create_that_fails_at_gke_is_failed_with_gkes_message(
            self, provider: GCPProvider, gke: FakeGKE, status: str) -> None:
        gke.fail_next_operation("Google Compute Engine: Not enough resources available to "
                                "fulfill the request.", status=status)
        spec = make_spec()
        provider.create(spec)  # accepted: the failure comes with the operation's end
        observed = wait_for(gke, provider, spec,
                            lambda o: o is not None and o.state is ClusterState.FAILED)
        assert observed is not None
        assert observed.message == ("Google Compute Engine: Not enough resources available "
                                    "to fulfill the request.")


class TestNodeCountsWithoutComputeAccess:
    def test_a_resized_single_pool_reports_its_real_size_and_is_resized_once(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        gke.compute_reads = False
        provider.update_node_group(running, NodeGroupSpec("workers", 4))
        observed = until_active(gke, provider, running).node_group("workers")
        assert observed is not None and (observed.size, observed.ready) == (4, 4)
        assert observed.size_unknown is None
        for _ in range(3):  # later passes: the size is right, so no call
            provider.update_node_group(running, NodeGroupSpec("workers", 4))
        assert gke.count("POST", r":setSize$") == 1
        assert gke.count("GET", r"/instanceGroupManagers/") > 0  # it did try Compute

    def test_pools_of_a_multi_pool_cluster_say_their_size_is_unknown_and_why(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        provider.create_node_group(running, NodeGroupSpec("batch", 1))
        until_active(gke, provider, running)
        gke.compute_reads = False
        observed = provider.describe(running)
        assert observed is not None
        for group in observed.node_groups:
            assert group.size_unknown is not None
            assert "compute.instanceGroupManagers.get" in group.size_unknown


class TestNodeGroups:
    def test_resize_shows_updating_first_then_the_new_size(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        provider.update_node_group(running, NodeGroupSpec("workers", 4))
        during = provider.describe(running)
        assert during is not None and during.state is ClusterState.UPDATING
        group = during.node_group("workers")
        assert group is not None and group.state is ClusterState.UPDATING
        assert (group.size, group.ready) == (4, 2)

        after = until_active(gke, provider, running)
        group = after.node_group("workers")
        assert group is not None and (group.size, group.ready) == (4, 4)
        assert [g.target for g in gke.instance_groups()] == [4, 4, 4]
        assert gke.count("POST", r":setSize$") == 1

    def test_autoscaling_bounds_are_set_at_the_provider(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        provider.update_node_group(running, NodeGroupSpec("workers", 2, min_size=3, max_size=6))
        during = provider.describe(running)
        assert during is not None and during.node_groups[0].state is ClusterState.UPDATING
        group = wait_for(gke, provider, running, lambda o: o is not None
                         and o.node_groups[0].state is ClusterState.ACTIVE)
        assert group is not None
        observed = group.node_group("workers")
        assert observed is not None and (observed.min_size, observed.max_size) == (3, 6)
        assert observed.size == 3  # the autoscaler lifted the pool to its new minimum
        assert gke.count("POST", r":setSize$") == 0

    def test_turning_autoscaling_off_and_resizing_converges_over_repeated_calls(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec(node_groups=(NodeGroupSpec("workers", 2, min_size=1, max_size=5),))
        provider.create(spec)
        until_active(gke, provider, spec)
        fixed = NodeGroupSpec("workers", 3)
        provider.update_node_group(spec, fixed)  # first step: autoscaling off
        with pytest.raises(TransientError, match="operation"):
            provider.update_node_group(spec, fixed)  # GKE is still busy with the first step
        until_active(gke, provider, spec)
        provider.update_node_group(spec, fixed)  # second step: resize
        observed = until_active(gke, provider, spec).node_group("workers")
        assert observed is not None
        assert (observed.size, observed.min_size, observed.max_size) == (3, None, None)

    def test_an_unchanged_group_makes_no_call(self, provider: GCPProvider, gke: FakeGKE,
                                              running: ClusterSpec) -> None:
        provider.update_node_group(running, running.node_groups[0])
        assert gke.count("POST", r":set(Size|Autoscaling)$") == 0

    def test_create_node_group_adds_a_pool_once(self, provider: GCPProvider, gke: FakeGKE,
                                                running: ClusterSpec) -> None:
        extra = NodeGroupSpec("batch", 1, instance_type="n2-standard-8")
        provider.create_node_group(running, extra)
        observed = provider.describe(running)
        assert observed is not None and observed.state is ClusterState.UPDATING
        batch = observed.node_group("batch")
        assert batch is not None and batch.state is ClusterState.CREATING
        provider.create_node_group(running, extra)
        batch = until_active(gke, provider, running).node_group("batch")
        assert batch is not None and (batch.size, batch.ready) == (1, 1)
        assert gke.count("POST", r"/nodePools$") == 1

    def test_delete_node_group_removes_the_pool_and_its_instance_groups(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        provider.create_node_group(running, NodeGroupSpec("batch", 1))
        until_active(gke, provider, running)
        provider.delete_node_group(running, "batch")
        provider.delete_node_group(running, "batch")  # already stopping: quiet
        observed = wait_for(gke, provider, running, lambda o: o is not None
                            and o.node_group("batch") is None)
        assert observed is not None
        groups = gke.instance_groups()
        assert len(groups) == 3 and all("-workers-" in g.name for g in groups)
        provider.delete_node_group(running, "batch")  # gone: quiet
        assert gke.count("DELETE", r"/nodePools/") == 1

    def test_a_second_operation_while_one_runs_is_transient(
            self, provider: GCPProvider, running: ClusterSpec) -> None:
        provider.update_node_group(running, NodeGroupSpec("workers", 3))
        with pytest.raises(TransientError, match="incompatible operation") as caught:
            provider.create_node_group(running, NodeGroupSpec("batch", 1))
        assert caught.value.reason == "ProviderUnavailable"


class TestUpgrade:
    def test_upgrade_moves_the_control_plane_then_the_node_pools(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        provider.upgrade(running, "1.30")
        during = provider.describe(running)
        assert during is not None and during.state is ClusterState.UPDATING
        # Control plane done, nodes still old: the cluster reports the version nodes run.
        assert until_active(gke, provider, running).version == "1.29.10-gke.1071000"
        cluster = gke.cluster(running.name)
        assert cluster is not None and cluster.master_version == "1.30.6-gke.1125000"

        provider.upgrade(running, "1.30")
        pool = provider.describe(running)
        assert pool is not None and pool.node_groups[0].state is ClusterState.UPDATING
        assert until_active(gke, provider, running).version == "1.30.6-gke.1125000"
        provider.upgrade(running, "1.30")  # nothing left to do
        assert gke.count("POST", r":updateMaster$") == 1
        assert gke.count("PUT", r"/nodePools/workers$") == 1

    def test_skipping_a_minor_version_is_refused_by_gke_and_changes_nothing(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        with pytest.raises(InvalidConfigurationError, match="one minor version at a time"):
            provider.upgrade(running, "1.31")
        cluster = gke.cluster(running.name)
        assert cluster is not None and cluster.master_version == "1.29.10-gke.1071000"
        assert cluster.status == "RUNNING"

    def test_the_default_version_is_gkes_server_config_default(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec(version="")
        assert provider.default_version(spec) == "1.30.6-gke.1125000"
        assert gke.count("GET", r"/locations/europe-west1/serverConfig$") == 1

    def test_an_unsupported_version_is_invalid_configuration(
            self, provider: GCPProvider, running: ClusterSpec) -> None:
        with pytest.raises(InvalidConfigurationError, match=r'Version "1\.99" is unsupported'):
            provider.upgrade(running, "1.99")


class TestDelete:
    def test_delete_goes_through_deleting_to_nothing_left(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        provider.delete(running)
        during = provider.describe(running)
        assert during is not None and during.state is ClusterState.DELETING
        assert during.node_groups[0].state is ClusterState.DELETING
        provider.delete(running)  # repeated while deleting: quiet
        wait_for(gke, provider, running, lambda o: o is None)
        assert gke.state.clusters == {} and gke.instance_groups() == []
        assert gke.count("DELETE", r"/clusters/[^/]+$") == 1

    def test_deleting_a_missing_cluster_succeeds(self, provider: GCPProvider,
                                                 gke: FakeGKE) -> None:
        provider.delete(make_spec(name="hc-gone-00000000"))
        assert gke.count("DELETE", r"/clusters/") == 0


class TestErrors:
    def test_throttling_is_transient_with_retry_after_seconds(self, provider: GCPProvider,
                                                              gke: FakeGKE) -> None:
        gke.fail_next(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Requests'",
                      headers={"Retry-After": "7"})
        with pytest.raises(TransientError) as caught:
            provider.describe(make_spec())
        assert caught.value.retry_after == 7.0
        assert "Quota exceeded for quota metric 'Requests'" in caught.value.message
        # One 429 went out and the SDK did not hide it by retrying: the operator owns the retry,
        # which then goes through.
        assert gke.server.faults_served(429) == 1
        provider.describe(make_spec())
        assert gke.server.retried_after_faults(429)

    def test_retry_after_may_be_an_http_date(self, provider: GCPProvider, gke: FakeGKE) -> None:
        later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        gke.fail_next(503, "UNAVAILABLE", "The service is currently unavailable.",
                      headers={"Retry-After": later})
        with pytest.raises(TransientError) as caught:
            provider.create(make_spec())
        assert caught.value.retry_after is not None and 25 <= caught.value.retry_after <= 30

    @pytest.mark.parametrize(("code", "status", "message", "expected"), [
        (503, "UNAVAILABLE", "The service is currently unavailable.", TransientError),
        (500, "INTERNAL", "Internal error encountered.", TransientError),
        (504, "DEADLINE_EXCEEDED", "Deadline exceeded.", TransientError),
        (409, "ABORTED", "Operation was aborted; retry.", TransientError),
        (403, "PERMISSION_DENIED", "Required 'container.clusters.get' permission.",
         AuthenticationError),
        (403, "PERMISSION_DENIED", "Insufficient regional quota to satisfy request.",
         QuotaExceededError),  # how GKE reports quota shortfalls: not a credentials problem
        (429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Requests'.",
         TransientError),  # throttling says "quota" too
        (400, "INVALID_ARGUMENT", "Invalid value for field 'cluster.name'.",
         InvalidConfigurationError),
        (400, "FAILED_PRECONDITION", "Project is not allowlisted for this feature.",
         PermanentError),
    ])
    def test_api_errors_map_to_the_operator_classes_keeping_the_message(
            self, provider: GCPProvider, gke: FakeGKE, code: int, status: str, message: str,
            expected: type[ProviderError]) -> None:
        gke.fail_next(code, status, message)
        with pytest.raises(expected) as caught:
            provider.describe(make_spec())
        assert type(caught.value) is expected
        assert message in caught.value.message and status in caught.value.message

    def test_an_unknown_machine_type_is_invalid_configuration(self, provider: GCPProvider,
                                                              gke: FakeGKE) -> None:
        spec = make_spec(node_groups=(NodeGroupSpec("workers", 1, instance_type="m5.large"),))
        with pytest.raises(InvalidConfigurationError, match=r'Machine type "m5\.large" does not'):
            provider.create(spec)
        assert gke.state.clusters == {}

    def test_exceeding_the_cpu_quota_is_a_quota_error_with_gkes_message(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        spec = make_spec(node_groups=(NodeGroupSpec("workers", 10,
                                                    instance_type="n2-standard-16"),))
        with pytest.raises(QuotaExceededError, match="Insufficient regional quota") as caught:
            provider.create(spec)
        assert caught.value.reason == "QuotaExceeded"
        assert "403 PERMISSION_DENIED" in caught.value.message  # as GKE answers it
        assert gke.state.clusters == {}

    def test_a_permission_denied_whose_error_info_names_a_quota_is_a_quota_error(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        gke.fail_next(403, "PERMISSION_DENIED", "Request denied for project demo-project.",
                      reason="GCE_QUOTA_EXCEEDED")
        with pytest.raises(QuotaExceededError, match="Request denied for project"):
            provider.describe(make_spec())

    def test_errors_carry_google_rpc_details_as_gke_sends_them(self, gke: FakeGKE) -> None:
        import requests

        response = requests.get(f"{gke.url}/v1/projects/{PROJECT}/locations/europe-west1/"
                                "clusters/nope", headers={"Authorization":
                                                          f"Bearer {gke.access_token}"},
                                timeout=5)
        error = response.json()["error"]
        assert (response.status_code, error["status"]) == (404, "NOT_FOUND")
        kinds = [detail["@type"] for detail in error["details"]]
        assert kinds == ["type.googleapis.com/google.rpc.ErrorInfo",
                         "type.googleapis.com/google.rpc.RequestInfo"]

    def test_throttling_without_retry_after_is_transient_with_no_delay_given(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        gke.fail_next(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Requests'")
        with pytest.raises(TransientError) as caught:
            provider.describe(make_spec())
        assert caught.value.retry_after is None  # the operator falls back to its poll interval
        assert provider.describe(make_spec()) is None  # the next call goes through

    def test_a_rejected_access_token_is_an_authentication_error_without_the_token(
            self, gke: FakeGKE) -> None:
        provider = GCPProvider({"access_token": BAD_TOKEN, "project": PROJECT}, endpoint=gke.url)
        with pytest.raises(AuthenticationError) as caught:
            provider.describe(make_spec())
        assert "rejected" in caught.value.message
        assert BAD_TOKEN not in str(caught.value) and BAD_TOKEN not in repr(caught.value)

    def test_secrets_echoed_by_the_cloud_are_scrubbed_from_messages(
            self, provider: GCPProvider, gke: FakeGKE) -> None:
        gke.fail_next(400, "INVALID_ARGUMENT", f"bad header Bearer {gke.access_token}")
        with pytest.raises(InvalidConfigurationError) as caught:
            provider.describe(make_spec())
        assert gke.access_token not in str(caught.value)
        assert "Bearer ***" in str(caught.value)

    def test_an_unreachable_endpoint_is_transient(self) -> None:
        provider = GCPProvider({"access_token": BAD_TOKEN, "project": PROJECT},
                               endpoint="http://127.0.0.1:9")
        with pytest.raises(TransientError) as caught:
            provider.describe(make_spec())
        assert BAD_TOKEN not in str(caught.value)

    @pytest.mark.parametrize("credentials", [{}, {"project": PROJECT},
                                             {"service_account.json": '{"private_key": "'
                                              'sekrit-key-material", "type": "service_account"}'}])
    def test_missing_or_malformed_credentials_are_authentication_errors(
            self, credentials: dict[str, str]) -> None:
        with pytest.raises(AuthenticationError) as caught:
            GCPProvider(credentials)
        assert "sekrit" not in str(caught.value)

    def test_a_missing_project_is_invalid_configuration(self, gke: FakeGKE) -> None:
        provider = GCPProvider({"access_token": gke.access_token}, endpoint=gke.url)
        with pytest.raises(InvalidConfigurationError, match="project"):
            provider.describe(make_spec())
        assert provider.describe(make_spec(options={"project": PROJECT})) is None

    @pytest.mark.parametrize("spec", [
        make_spec(cni="flannel"), make_spec(options={"releaseChannel": "nightly"}),
        make_spec(node_groups=(NodeGroupSpec("w", 1, taints=(Taint("k", "Sometimes"),)),))])
    def test_settings_gke_cannot_express_are_rejected_before_any_create(
            self, provider: GCPProvider, gke: FakeGKE, spec: ClusterSpec) -> None:
        with pytest.raises(InvalidConfigurationError):
            provider.create(spec)
        assert gke.count("POST", CREATE) == 0


class TestKubeconfig:
    def test_access_token_kubeconfig_has_endpoint_ca_token_and_55_minute_expiry(
            self, provider: GCPProvider, gke: FakeGKE, running: ClusterSpec) -> None:
        observed = until_active(gke, provider, running)
        config = provider.kubeconfig(running, observed)
        document = yaml.safe_load(config.text)
        cluster = document["clusters"][0]["cluster"]
        assert cluster["server"] == observed.endpoint
        assert cluster["certificate-authority-data"] == observed.ca_data
        assert document["users"][0]["user"]["token"] == gke.access_token
        assert document["current-context"] == observed.name
        assert config.expires_at is not None
        remaining = config.expires_at - datetime.now(UTC)
        assert timedelta(minutes=54) < remaining <= timedelta(minutes=55)

    def test_kubeconfig_before_the_endpoint_exists_is_transient(
            self, provider: GCPProvider) -> None:
        pending = ObservedCluster(provider_id="p", name="c", state=ClusterState.CREATING)
        with pytest.raises(TransientError, match="no API endpoint"):
            provider.kubeconfig(make_spec(), pending)

    def test_service_account_key_calls_the_api_and_mints_kubeconfig_tokens(
            self, gke: FakeGKE) -> None:
        key = gke.auth.service_account_key(f"{gke.url}/token")
        provider = GCPProvider({"service_account.json": json.dumps(key), "project": PROJECT},
                               endpoint=gke.url)
        spec = make_spec()
        provider.create(spec)  # API calls are signed with the key (self-signed JWT)
        observed = until_active(gke, provider, spec)
        config = provider.kubeconfig(spec, observed)
        token = yaml.safe_load(config.text)["users"][0]["user"]["token"]
        assert token.startswith("ya29.fake-") and gke.count("POST", r"^/token$") >= 1
        assert config.expires_at is not None
        assert timedelta(minutes=55) < config.expires_at - datetime.now(UTC) <= timedelta(hours=1)
        assert key["private_key"] not in config.text

    def test_an_untrusted_service_account_key_fails_authentication_without_leaking_it(
            self, gke: FakeGKE, provider: GCPProvider, running: ClusterSpec) -> None:
        key = gke.auth.service_account_key(f"{gke.url}/token", registered=False)
        stranger = GCPProvider({"service_account.json": json.dumps(key), "project": PROJECT},
                               endpoint=gke.url)
        observed = until_active(gke, provider, running)
        # API calls carry self-signed JWTs (rejected by the API); kubeconfigs need a token from
        # the token endpoint (refused there).
        for attempt, refusal in ((lambda: stranger.describe(running), "invalid authentication"),
                                 (lambda: stranger.kubeconfig(running, observed),
                                  "Invalid JWT Signature")):
            with pytest.raises(AuthenticationError) as caught:
                attempt()
            assert refusal in caught.value.message
            assert key["private_key"] not in str(caught.value)
            assert key["private_key"].splitlines()[1] not in str(caught.value)


def test_fake_operations_run_pending_running_done(gke: FakeGKE) -> None:
    """The fake's long-running operations behave like GKE's, seen through the real client."""
    from google.oauth2.credentials import Credentials

    client = container_v1.ClusterManagerClient(
        credentials=Credentials(token=gke.access_token),  # type: ignore[no-untyped-call]
        transport="rest",
        client_options={"api_endpoint": gke.url})
    parent = f"projects/{PROJECT}/locations/europe-west1"
    op = client.create_cluster(parent=parent, cluster=container_v1.Cluster(
        name="direct", initial_cluster_version="1.28",
        node_pools=[container_v1.NodePool(name="p", initial_node_count=1)]))
    assert op.status == container_v1.Operation.Status.PENDING
    assert op.operation_type == container_v1.Operation.Type.CREATE_CLUSTER
    name = f"{parent}/operations/{op.name}"
    assert client.get_operation(name=name).status == container_v1.Operation.Status.RUNNING
    gke.fast_forward()
    assert client.get_operation(name=name).status == container_v1.Operation.Status.DONE
    cluster = client.get_cluster(name=f"{parent}/clusters/direct")
    assert cluster.status == container_v1.Cluster.Status.RUNNING
    assert cluster.current_master_version == "1.28.15-gke.1020000"
