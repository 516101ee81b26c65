"""AWSProvider against the fake EKS (moto behind a proxy): the real boto3 client over HTTP."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from hybridcloud.providers.aws import DELETION_TAG, AWSProvider
from hybridcloud.providers.base import (
    AuthenticationError,
    CloudProvider,
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    NodeGroupSpec,
    ObservedCluster,
    ObservedNodeGroup,
    ProviderError,
    QuotaExceededError,
    Taint,
    TransientError,
)
from tests.fakes.eks import FakeEKS
from tests.fakes.eks_wire import MotoBackend, presigned_url_is_valid

ACCESS_KEY = "AKIAHYBRIDTEST000001"
SECRET = "hc-Secret/Key+0123456789abcdefghijklmnopqr"
SESSION_TOKEN = "hc-session-token-FwoGZXIvYXdzEXAMPLE"
CREDENTIALS = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET,
               "aws_session_token": SESSION_TOKEN}
ROLE = "arn:aws:iam::123456789012:role/hc-eks-cluster"
NODE_ROLE = "arn:aws:iam::123456789012:role/hc-eks-nodes"
SUBNETS = ["subnet-0aaa", "subnet-0bbb"]
TAGS = {"hybridcloud.io/cluster": "team-a.web", "hybridcloud.io/uid": "1a2b3c4d"}
CLUSTER_PATH = "^/clusters/hc-team-a-web-1a2b3c4d$"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoBackend]:
    backend = MotoBackend()
    backend.start()
    yield backend
    backend.stop()


@pytest.fixture
def eks(moto: MotoBackend) -> Iterator[FakeEKS]:
    # Transitions last long enough that intermediate states can be asserted without races;
    # tests end them with fast_forward() (or shorten ``delay`` to watch them end on their own).
    fake = FakeEKS(moto, credentials={ACCESS_KEY: SECRET}, delay=30.0)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def provider(eks: FakeEKS) -> AWSProvider:
    return AWSProvider(CREDENTIALS, endpoint_url=eks.url)


def make_spec(**changes: Any) -> ClusterSpec:
    spec = ClusterSpec(
        name="hc-team-a-web-1a2b3c4d", region="us-east-1", version="1.29.0",
        node_groups=(
            NodeGroupSpec("workers", 2, instance_type="m5.large", disk_size=50,
                          labels={"tier": "web"},
                          taints=(Taint("dedicated", "NoSchedule", "web"),)),
            NodeGroupSpec("masters", 3, role="control-plane"),
        ),
        options={"roleArn": ROLE, "nodeRoleArn": NODE_ROLE, "subnetIds": SUBNETS},
        tags=TAGS)
    return replace(spec, **changes)


SPEC = make_spec()


def node_groups_path(name: str = SPEC.name) -> str:
    return f"^/clusters/{name}/node-groups$"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def at_aws(eks: FakeEKS, group: str | None = None, cluster: str = SPEC.name) -> dict[str, Any]:
    """The cluster (or one of its node groups) as the fake cloud holds it; it must exist."""
    found = eks.cluster(cluster) if group is None else eks.node_group(cluster, group)
    assert found is not None, f"{cluster}/{group} does not exist at the fake"
    return found


def observed_group(provider: AWSProvider, name: str, spec: ClusterSpec = SPEC) -> ObservedNodeGroup:
    observed = provider.describe(spec)
    assert observed is not None
    group = observed.node_group(name)
    assert group is not None, f"describe shows no node group {name}"
    return group


def bring_up(provider: AWSProvider, eks: FakeEKS, spec: ClusterSpec = SPEC) -> ObservedCluster:
    """What the operator does: create, and create again once the control plane is ACTIVE."""
    provider.create(spec)
    eks.fast_forward()
    provider.create(spec)
    eks.fast_forward()
    observed = provider.describe(spec)
    assert observed is not None
    assert observed.state is ClusterState.ACTIVE
    return observed


def test_provider_satisfies_the_contract(provider: AWSProvider) -> None:
    assert isinstance(provider, CloudProvider)
    assert provider.name == "aws"


class TestCreate:
    def test_create_starts_the_control_plane_and_describe_reports_creating(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        provider.create(SPEC)

        observed = provider.describe(SPEC)
        assert observed is not None
        assert observed.state is ClusterState.CREATING
        assert observed.endpoint is None and observed.node_groups == ()
        cluster = eks.cluster(SPEC.name)
        assert cluster is not None
        assert cluster["version"] == "1.29" and cluster["roleArn"] == ROLE
        assert cluster["resourcesVpcConfig"]["subnetIds"] == SUBNETS
        assert cluster["tags"] == TAGS

    def test_cluster_becomes_active_with_node_groups_when_create_is_called_again(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        eks.delay = 0.2
        provider.create(SPEC)
        wait_for(lambda: at_aws(eks)["status"] == "ACTIVE")
        waiting = provider.describe(SPEC)
        assert waiting is not None and waiting.state is ClusterState.CREATING

        eks.delay = 1.0  # long enough to observe the node group's own CREATING phase
        provider.create(SPEC)
        building = provider.describe(SPEC)
        assert building is not None and building.state is ClusterState.CREATING
        assert [(g.name, g.state) for g in building.node_groups] == [
            ("workers", ClusterState.CREATING)]

        observed = wait_for(lambda: (o := provider.describe(SPEC)) and
                            o.state is ClusterState.ACTIVE and o)
        assert observed.version == "1.29" and observed.master_count == 0
        assert observed.endpoint.startswith("https://") and observed.ca_data
        group = observed.node_group("workers")
        assert group is not None
        assert (group.size, group.ready, group.state) == (2, 2, ClusterState.ACTIVE)
        assert (group.min_size, group.max_size) == (None, None)

    def test_node_groups_carry_type_disk_labels_taints_roles_and_tags(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)

        assert eks.node_group_names(SPEC.name) == ["workers"]  # control plane is EKS's own
        group = eks.node_group(SPEC.name, "workers")
        assert group is not None
        assert group["instanceTypes"] == ["m5.large"] and group["diskSize"] == 50
        assert group["scalingConfig"] == {"minSize": 2, "maxSize": 2, "desiredSize": 2}
        assert group["labels"] == {"tier": "web"}
        assert group["taints"] == [{"key": "dedicated", "value": "web",
                                    "effect": "NO_SCHEDULE"}]
        assert group["nodeRole"] == NODE_ROLE and group["subnets"] == SUBNETS
        assert group["tags"] == TAGS and group["version"] == "1.29"

    def test_create_again_makes_no_second_cloud_create(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        provider.create(SPEC)
        provider.create(SPEC)  # control plane still CREATING: nothing more to do
        assert eks.count("POST", node_groups_path()) == 0
        bring_up(provider, eks)
        provider.create(SPEC)

        assert eks.count("POST", "^/clusters$") == 1
        assert eks.count("POST", node_groups_path()) == 1

    def test_describe_of_an_unknown_cluster_is_none(self, provider: AWSProvider) -> None:
        assert provider.describe(make_spec(name="hc-nobody-00000000")) is None

    def test_describe_copes_with_the_cluster_vanishing_between_calls(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        eks.server.fail_next(1, status=404, method="GET", path="/node-groups$",
                             body={"message": f"No cluster found for name: {SPEC.name}."},
                             headers={"x-amzn-ErrorType": "ResourceNotFoundException"})
        observed = provider.describe(SPEC)
        assert observed is not None and observed.node_groups == ()

    def test_roles_and_subnets_default_to_the_account_and_the_default_vpc(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        spec = make_spec(options={})
        bring_up(provider, eks, spec)

        cluster, group = eks.cluster(spec.name), eks.node_group(spec.name, "workers")
        assert cluster is not None and group is not None
        assert cluster["roleArn"] == "arn:aws:iam::123456789012:role/eksClusterRole"
        subnets = cluster["resourcesVpcConfig"]["subnetIds"]
        assert len(subnets) >= 2 and all(s.startswith("subnet-") for s in subnets)
        assert group["nodeRole"] == "arn:aws:iam::123456789012:role/AmazonEKSNodeRole"
        assert group["subnets"] == subnets

    def test_autoscaled_group_reports_its_bounds(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        spec = make_spec(node_groups=(NodeGroupSpec("pool", 2, min_size=1, max_size=4),))
        group = bring_up(provider, eks, spec).node_group("pool")

        assert group is not None and (group.size, group.min_size, group.max_size) == (2, 1, 4)


class TestNodeGroups:
    def test_update_node_group_resizes_through_an_updating_state(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)

        provider.update_node_group(SPEC, replace(SPEC.node_groups[0], size=5))
        scaling = observed_group(provider, "workers")
        assert (scaling.state, scaling.size) == (ClusterState.UPDATING, 5)
        eks.fast_forward()
        done = observed_group(provider, "workers")
        assert (done.state, done.size, done.ready) == (ClusterState.ACTIVE, 5, 5)
        assert at_aws(eks, "workers")["scalingConfig"] == {
            "minSize": 5, "maxSize": 5, "desiredSize": 5}

    def test_update_node_group_moves_autoscaling_bounds_but_not_the_autoscalers_size(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        pool = NodeGroupSpec("pool", 2, min_size=1, max_size=4)
        spec = make_spec(node_groups=(pool,))
        bring_up(provider, eks, spec)

        provider.update_node_group(spec, replace(pool, size=3, min_size=3, max_size=8))
        eks.fast_forward()
        assert at_aws(eks, "pool", spec.name)["scalingConfig"] == {
            "minSize": 3, "maxSize": 8, "desiredSize": 3}  # raised into the new bounds
        provider.update_node_group(spec, replace(pool, size=5, min_size=2, max_size=8))
        eks.fast_forward()
        assert at_aws(eks, "pool", spec.name)["scalingConfig"] == {
            "minSize": 2, "maxSize": 8, "desiredSize": 3}  # the autoscaler's choice stands

    def test_update_node_group_syncs_labels_and_taints(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)

        provider.update_node_group(SPEC, replace(SPEC.node_groups[0], labels={"tier": "api"},
                                                 taints=()))
        group = eks.node_group(SPEC.name, "workers")
        assert group is not None and group["labels"] == {"tier": "api"}
        assert group["taints"] == []

    def test_update_node_group_that_already_matches_makes_no_call(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        provider.update_node_group(SPEC, SPEC.node_groups[0])
        provider.update_node_group(SPEC, SPEC.node_groups[1])  # control plane: EKS's business
        assert eks.count("POST", "/update-config$") == 0

    def test_a_second_resize_while_one_runs_is_transient(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        provider.update_node_group(SPEC, replace(SPEC.node_groups[0], size=5))
        provider.update_node_group(SPEC, replace(SPEC.node_groups[0], size=5))  # same: quiet
        with pytest.raises(TransientError, match="UPDATING"):
            provider.update_node_group(SPEC, replace(SPEC.node_groups[0], size=6))

    def test_create_node_group_adds_a_group_idempotently(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        extra = NodeGroupSpec("batch", 1, instance_type="c6i.2xlarge")

        provider.create_node_group(SPEC, extra)
        provider.create_node_group(SPEC, extra)
        assert observed_group(provider, "batch").state is ClusterState.CREATING
        eks.fast_forward()
        assert eks.node_group_names(SPEC.name) == ["batch", "workers"]
        assert at_aws(eks, "batch")["instanceTypes"] == ["c6i.2xlarge"]

    def test_update_of_a_missing_node_group_creates_it(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        provider.update_node_group(SPEC, NodeGroupSpec("batch", 3))
        assert at_aws(eks, "batch")["scalingConfig"]["desiredSize"] == 3

    def test_create_node_group_ignores_control_plane_groups(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        provider.create_node_group(SPEC, NodeGroupSpec("cp", 3, role="control-plane"))
        assert eks.node_group_names(SPEC.name) == ["workers"]

    def test_create_node_group_before_the_cluster_is_active_is_transient(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        provider.create(SPEC)
        with pytest.raises(TransientError, match="not in ACTIVE status"):
            provider.create_node_group(SPEC, NodeGroupSpec("batch", 1))

    def test_delete_node_group_goes_through_deleting_and_is_idempotent(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)

        provider.delete_node_group(SPEC, "workers")
        provider.delete_node_group(SPEC, "workers")
        assert observed_group(provider, "workers").state is ClusterState.DELETING
        eks.fast_forward()
        assert eks.node_group_names(SPEC.name) == []
        provider.delete_node_group(SPEC, "workers")
        assert eks.count("DELETE", "/node-groups/workers$") == 1


class TestUpgrade:
    def test_upgrade_goes_through_updating_to_the_new_version(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)

        provider.upgrade(SPEC, "1.30.2")
        upgrading = provider.describe(SPEC)
        assert upgrading is not None
        assert (upgrading.state, upgrading.version) == (ClusterState.UPDATING, "1.29")
        provider.upgrade(SPEC, "1.30.2")  # repeated after a crash: the update is in progress
        eks.fast_forward()

        upgraded = provider.describe(SPEC)
        assert upgraded is not None
        assert (upgraded.state, upgraded.version) == (ClusterState.ACTIVE, "1.30")
        assert eks.count("POST", "^/clusters/[^/]+/updates$") == 1

    def test_upgrade_to_the_running_version_makes_no_call(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        provider.upgrade(SPEC, "1.29")
        assert eks.count("POST", "/updates$") == 0

    def test_skipping_a_minor_version_is_invalid_configuration(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        with pytest.raises(InvalidConfigurationError, match=r"from 1\.29 to 1\.31"):
            provider.upgrade(SPEC, "1.31")


class TestDelete:
    def test_delete_removes_node_groups_then_the_cluster(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)

        provider.delete(SPEC)
        deleting = provider.describe(SPEC)
        assert deleting is not None and deleting.state is ClusterState.DELETING
        assert [g.state for g in deleting.node_groups] == [ClusterState.DELETING]
        assert at_aws(eks)["tags"][DELETION_TAG] == "true"
        for _ in range(5):  # the operator calls delete until describe says None
            provider.delete(SPEC)
            eks.fast_forward()
            if provider.describe(SPEC) is None:
                break

        assert provider.describe(SPEC) is None
        assert eks.cluster_names() == []
        assert eks.node_group_names(SPEC.name) == []
        assert eks.count("DELETE", CLUSTER_PATH) == 1

    def test_deleted_cluster_stays_visible_as_deleting_until_it_is_gone(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        spec = make_spec(node_groups=())
        provider.create(spec)
        eks.fast_forward()
        eks.delay = 1.0

        provider.delete(spec)
        observed = provider.describe(spec)
        assert observed is not None and observed.state is ClusterState.DELETING
        wait_for(lambda: provider.describe(spec) is None)
        assert eks.cluster_names() == []

    def test_delete_of_a_missing_cluster_succeeds(self, provider: AWSProvider,
                                                  eks: FakeEKS) -> None:
        provider.delete(SPEC)
        assert eks.count("DELETE", "^/clusters") == 0

    def test_create_while_the_cluster_is_being_deleted_is_transient(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        bring_up(provider, eks)
        provider.delete(SPEC)
        with pytest.raises(TransientError, match="being deleted"):
            provider.create(SPEC)


class TestErrors:
    def test_throttling_is_transient_with_retry_after(self, provider: AWSProvider,
                                                      eks: FakeEKS) -> None:
        eks.throttle_next(retry_after=7)
        with pytest.raises(TransientError, match="Rate exceeded") as caught:
            provider.describe(SPEC)
        assert caught.value.retry_after == 7
        # One 429 went out and botocore did not hide it by retrying: the operator owns the
        # retry, which then goes through.
        assert eks.server.faults_served(429) == 1
        provider.describe(SPEC)
        assert eks.server.retried_after_faults(429)

    @pytest.mark.parametrize("status", [500, 503])
    def test_server_errors_are_transient(self, provider: AWSProvider, eks: FakeEKS,
                                         status: int) -> None:
        eks.fail_next(status=status, method="POST")
        with pytest.raises(TransientError, match="injected"):
            provider.create(SPEC)
        provider.create(SPEC)  # the retry goes through
        assert eks.count("POST", "^/clusters$") == 1

    def test_unreachable_endpoint_is_transient(self) -> None:
        offline = AWSProvider(CREDENTIALS, endpoint_url="http://127.0.0.1:9")
        with pytest.raises(TransientError, match="unreachable"):
            offline.describe(SPEC)

    def test_unknown_access_key_is_an_authentication_error(self, eks: FakeEKS) -> None:
        stranger = AWSProvider({**CREDENTIALS, "aws_access_key_id": "AKIAUNKNOWN000000000"},
                               endpoint_url=eks.url)
        with pytest.raises(AuthenticationError, match="security token included"):
            stranger.describe(SPEC)

    def test_wrong_secret_is_an_authentication_error(self, eks: FakeEKS) -> None:
        wrong = AWSProvider({**CREDENTIALS, "aws_secret_access_key": "not-the-secret"},
                            endpoint_url=eks.url)
        with pytest.raises(AuthenticationError, match="signature we calculated"):
            wrong.create(SPEC)
        assert eks.cluster_names() == []

    def test_missing_credentials_are_an_authentication_error(self) -> None:
        with pytest.raises(AuthenticationError, match="aws_secret_access_key"):
            AWSProvider({"aws_access_key_id": ACCESS_KEY})

    def test_cluster_quota_is_quota_exceeded(self, provider: AWSProvider,
                                             eks: FakeEKS) -> None:
        eks.cluster_limit = 0
        with pytest.raises(QuotaExceededError, match="maximum of 0 clusters"):
            provider.create(SPEC)

    def test_node_group_quota_is_quota_exceeded(self, provider: AWSProvider,
                                                eks: FakeEKS) -> None:
        bring_up(provider, eks)
        eks.nodegroup_limit = 1
        with pytest.raises(QuotaExceededError, match="maximum of 1 node groups"):
            provider.create_node_group(SPEC, NodeGroupSpec("batch", 1))

    def test_unknown_instance_type_is_invalid_configuration(self, provider: AWSProvider,
                                                            eks: FakeEKS) -> None:
        spec = make_spec(node_groups=(NodeGroupSpec("workers", 1, instance_type="huge"),))
        provider.create(spec)
        eks.fast_forward()
        with pytest.raises(InvalidConfigurationError, match="instance types do not exist"):
            provider.create(spec)

    def test_unsupported_version_is_invalid_configuration(self, provider: AWSProvider) -> None:
        with pytest.raises(InvalidConfigurationError, match="unsupported Kubernetes version"):
            provider.create(make_spec(version="1.19"))

    def test_no_error_message_contains_a_credential(self, eks: FakeEKS) -> None:
        leaky = AWSProvider(CREDENTIALS, endpoint_url=eks.url)
        # An endpoint that echoes credentials back must not get them into a condition.
        eks.server.fail_next(1, status=400, body={"message": f"bad key {SECRET} {SESSION_TOKEN}"},
                             headers={"x-amzn-ErrorType": "ValidationException"})
        failures: list[ProviderError] = []
        for attempt in (lambda: leaky.describe(SPEC),
                        lambda: AWSProvider({**CREDENTIALS, "aws_access_key_id": "AKIAX"},
                                            endpoint_url=eks.url).create(SPEC),
                        lambda: leaky.kubeconfig(SPEC, ObservedCluster("x", SPEC.name,
                                                                       ClusterState.CREATING))):
            with pytest.raises(ProviderError) as caught:
                attempt()
            failures.append(caught.value)

        assert "***" in failures[0].message
        for failure in failures:
            for text in (str(failure), repr(failure), failure.message):
                assert SECRET not in text and SESSION_TOKEN not in text


class TestKubeconfig:
    def test_kubeconfig_has_endpoint_ca_and_a_token_bound_to_the_cluster(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        observed = bring_up(provider, eks)
        before = datetime.now(UTC)

        kubeconfig = provider.kubeconfig(SPEC, observed)

        document = yaml.safe_load(kubeconfig.text)
        cluster = document["clusters"][0]["cluster"]
        assert cluster["server"] == observed.endpoint
        assert cluster["certificate-authority-data"] == observed.ca_data
        context = document["contexts"][0]["context"]
        assert document["current-context"] == document["contexts"][0]["name"]
        token = next(u["user"]["token"] for u in document["users"]
                     if u["name"] == context["user"])
        assert token.startswith("k8s-aws-v1.")
        encoded = token.removeprefix("k8s-aws-v1.")
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        assert urlsplit(url).netloc == "sts.us-east-1.amazonaws.com"
        assert parse_qs(urlsplit(url).query)["Action"] == ["GetCallerIdentity"]
        assert presigned_url_is_valid(url, SECRET, {"x-k8s-aws-id": SPEC.name})
        assert not presigned_url_is_valid(url, SECRET, {"x-k8s-aws-id": "another-cluster"})
        assert kubeconfig.expires_at is not None
        assert before + timedelta(minutes=13) < kubeconfig.expires_at <= \
            datetime.now(UTC) + timedelta(minutes=14)
        assert SECRET not in kubeconfig.text

    def test_kubeconfig_before_the_endpoint_exists_is_transient(
            self, provider: AWSProvider, eks: FakeEKS) -> None:
        provider.create(SPEC)
        observed = provider.describe(SPEC)
        assert observed is not None
        with pytest.raises(TransientError, match="endpoint"):
            provider.kubeconfig(SPEC, observed)
