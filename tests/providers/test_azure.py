"""The AKS adapter drives the real Azure SDK against a wire-level fake of Azure AD and ARM."""

from __future__ import annotations

import base64
import dataclasses
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice import models as aks_models
from cryptography import x509

from hybridcloud.kube.kubeconfig_policy import UnsafeKubeconfigError, checked_kubeconfig
from hybridcloud.providers.azure import AzureProvider
from hybridcloud.providers.base import (
    AuthenticationError,
    CloudProvider,
    ClusterSpec,
    ClusterState,
    InvalidConfigurationError,
    NodeGroupSpec,
    ObservedCluster,
    PermanentError,
    QuotaExceededError,
    Taint,
    TransientError,
)
from tests.fakes.aks import FakeAKS

TENANT = "5b1c8a7e-3f2d-4c6b-9a0e-1d2f3a4b5c6d"
CLIENT = "0f9e8d7c-6b5a-4e3d-8c2b-1a0f9e8d7c6b"
SECRET = "Qx8~n3v3r-l0g-th1s-s3cr3t"
SUBSCRIPTION = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
GROUP = "hybridcloud-westeurope"
MC_PATH = r"/managedClusters/hc-team-a-web-1a2b3c4d$"
POLL = 0.05  # seconds between polls of an ARM operation (the fake sends no Retry-After)
OPERATION_STATUS = r"/providers/Microsoft\.ContainerService/locations/[^/]+/operations/[^/]+$"
DELETE_RESULT = r"/providers/Microsoft\.ContainerService/locations/[^/]+/operationresults/[^/]+$"

SPEC = ClusterSpec(
    name="hc-team-a-web-1a2b3c4d", region="westeurope", version="1.30",
    node_groups=(
        NodeGroupSpec("system", 2, instance_type="Standard_D4s_v3", disk_size=64,
                      labels={"tier": "core"}, taints=(Taint("dedicated", "NoSchedule", "core"),)),
        NodeGroupSpec("gpu-workers", 1, instance_type="Standard_NC6s_v3", min_size=1, max_size=3),
        NodeGroupSpec("masters", 3, role="control-plane"),
    ),
    cluster_cidr="10.244.0.0/16", service_cidr="10.96.0.0/16", cni="cilium",
    tags={"hybridcloud-cluster": "team-a.web", "hybridcloud-owner": "1a2b3c4d"})


def credentials(aks: FakeAKS, **overrides: str) -> dict[str, str]:
    return {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET,
            "subscription_id": SUBSCRIPTION, "authority_host": aks.url, **overrides}


@pytest.fixture
def aks() -> Iterator[FakeAKS]:
    # Operations never end on their own: every intermediate state stays observable however
    # slowly a test runs; wait_for ends them with fast_forward().
    fake = FakeAKS(tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET,
                   subscription_id=SUBSCRIPTION, operation_delay=3600)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def provider(aks: FakeAKS) -> AzureProvider:
    # The SDK's pollers follow every long-running operation; polling fast keeps tests quick.
    return AzureProvider(credentials(aks), base_url=aks.url, polling_interval=POLL)


def wait_for(aks: FakeAKS, provider: AzureProvider, spec: ClusterSpec,
             done: Callable[[ObservedCluster | None], bool], steps: int = 5) -> \
        ObservedCluster | None:
    """Describe until ``done``, ending the fake's operations between looks."""
    for _ in range(steps):
        observed = provider.describe(spec)
        if done(observed):
            return observed
        aks.fast_forward()
    return observed


def settled(observed: ObservedCluster | None) -> bool:
    return observed is not None and observed.state is ClusterState.ACTIVE


@pytest.fixture
def active(aks: FakeAKS, provider: AzureProvider) -> ObservedCluster:
    provider.create(SPEC)
    observed = wait_for(aks, provider, SPEC, settled)
    assert observed is not None and observed.state is ClusterState.ACTIVE
    return observed


# -- creating and adopting ----------------------------------------------------------------------
def test_create_shows_creating_then_active_with_node_groups_version_and_endpoint(
        provider: AzureProvider, aks: FakeAKS) -> None:
    provider.create(SPEC)
    creating = provider.describe(SPEC)
    assert creating is not None and creating.state is ClusterState.CREATING
    assert {g.state for g in creating.node_groups} == {ClusterState.CREATING}

    observed = wait_for(aks, provider, SPEC, settled)
    assert observed is not None and observed.state is ClusterState.ACTIVE
    assert observed.version == "1.30.10" and observed.master_count == 0
    assert observed.endpoint is not None
    assert observed.endpoint.startswith("https://hc-team-a-web-1a2b3c4d-")
    assert observed.endpoint.endswith(".hcp.westeurope.azmk8s.io:443")
    groups = {g.name: g for g in observed.node_groups}
    assert set(groups) == {"system", "gpu-workers"}  # the control plane is AKS's business
    assert (groups["system"].size, groups["system"].ready) == (2, 2)
    assert (groups["gpu-workers"].min_size, groups["gpu-workers"].max_size) == (1, 3)


def test_create_sends_pools_network_and_tags_the_way_aks_expects(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    cluster = aks.cluster(GROUP, SPEC.name)
    assert cluster is not None and cluster["tags"] == SPEC.tags
    network = cluster["properties"]["networkProfile"]
    assert network["podCidr"] == "10.244.0.0/16" and network["serviceCidr"] == "10.96.0.0/16"
    assert (network["networkPlugin"], network["networkDataplane"]) == ("azure", "cilium")
    assert network["dnsServiceIP"] == "10.96.0.10"
    pools = aks.pools(GROUP, SPEC.name)
    system = pools["system"]
    assert (system["mode"], system["count"], system["vmSize"], system["osDiskSizeGB"]) == \
        ("System", 2, "Standard_D4s_v3", 64)
    assert system["nodeLabels"] == {"tier": "core"}
    assert system["nodeTaints"] == ["dedicated=core:NoSchedule"]
    # "gpu-workers" is no valid AKS pool name: the pool gets a derived name, the tag keeps it.
    (gpu_name, gpu), = [(n, p) for n, p in pools.items() if n != "system"]
    assert gpu_name != "gpu-workers" and len(gpu_name) <= 12
    assert gpu["mode"] == "User" and gpu["enableAutoScaling"] is True
    assert (gpu["minCount"], gpu["maxCount"]) == (1, 3)
    assert gpu["tags"] == {**SPEC.tags, "hybridcloud-node-group": "gpu-workers"}
    assert aks.resource_groups[GROUP]["location"] == "westeurope"


def test_create_repeated_while_creating_and_once_active_makes_no_second_put(
        provider: AzureProvider, aks: FakeAKS) -> None:
    provider.create(SPEC)
    provider.create(SPEC)
    wait_for(aks, provider, SPEC, settled)
    provider.create(SPEC)
    assert aks.server.count("PUT", MC_PATH) == 1


def test_describe_of_an_unknown_cluster_is_none(provider: AzureProvider) -> None:
    assert provider.describe(dataclasses.replace(SPEC, name="hc-nobody-here-00000000")) is None


def test_options_choose_subscription_resource_group_and_dns_prefix(aks: FakeAKS) -> None:
    creds = credentials(aks)
    del creds["subscription_id"]
    provider = AzureProvider(creds, base_url=aks.url)
    aks.add_resource_group("team-a", "westeurope")
    spec = dataclasses.replace(SPEC, options={"subscriptionId": SUBSCRIPTION,
                                              "resourceGroup": "team-a", "dnsPrefix": "teama"})
    provider.create(spec)
    cluster = aks.cluster("team-a", SPEC.name)
    assert cluster is not None and cluster["properties"]["dnsPrefix"] == "teama"
    assert aks.server.count("PUT", r"/resourcegroups/") == 0  # the user's group stays untouched


# -- node groups -----------------------------------------------------------------------------
def test_update_node_group_scales_through_the_scaling_state(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    provider.update_node_group(SPEC, dataclasses.replace(SPEC.node_groups[0], size=4))
    during = provider.describe(SPEC)
    assert during is not None and during.state is ClusterState.UPDATING
    system = during.node_group("system")
    assert system is not None and system.state is ClusterState.UPDATING and system.size == 4
    after = wait_for(aks, provider, SPEC, settled)
    assert after is not None and after.node_group("system").size == 4  # type: ignore[union-attr]


def test_update_node_group_to_autoscaling_sets_bounds_and_keeps_count_inside(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    group = dataclasses.replace(SPEC.node_groups[0], size=3, min_size=3, max_size=6)
    provider.update_node_group(SPEC, group)
    system = aks.pools(GROUP, SPEC.name)["system"]
    assert (system["enableAutoScaling"], system["minCount"], system["maxCount"]) == (True, 3, 6)
    assert system["count"] == 3  # was 2: raised into the new bounds, not set by the spec size
    observed = wait_for(aks, provider, SPEC, settled)
    assert observed is not None
    assert (observed.node_group("system").min_size,  # type: ignore[union-attr]
            observed.node_group("system").max_size) == (3, 6)  # type: ignore[union-attr]


def test_update_node_group_replaces_labels_and_clears_taints(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    provider.update_node_group(SPEC, dataclasses.replace(SPEC.node_groups[0],
                                                         labels={"tier": "edge"}, taints=()))
    system = aks.pools(GROUP, SPEC.name)["system"]
    assert (system["nodeLabels"], system["nodeTaints"]) == ({"tier": "edge"}, [])
    assert system["count"] == 2


def test_update_node_group_without_changes_sends_no_put(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    for group in SPEC.node_groups:
        provider.update_node_group(SPEC, group)
    assert aks.server.count("PUT", r"/agentPools/") == 0


def test_create_node_group_adds_a_user_pool_once(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    batch = NodeGroupSpec("batch", 2, instance_type="Standard_F8s_v2", labels={"work": "batch"})
    provider.create_node_group(SPEC, batch)
    during = provider.describe(SPEC)
    assert during is not None and during.node_group("batch") is not None
    assert during.node_group("batch").state is ClusterState.CREATING  # type: ignore[union-attr]
    wait_for(aks, provider, SPEC, settled)
    provider.create_node_group(SPEC, batch)
    assert aks.server.count("PUT", r"/agentPools/batch$") == 1
    assert aks.pools(GROUP, SPEC.name)["batch"]["mode"] == "User"


def test_delete_node_group_removes_the_pool_and_a_missing_one_is_fine(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    provider.delete_node_group(SPEC, "gpu-workers")
    provider.delete_node_group(SPEC, "gpu-workers")  # already deleting: nothing more to send
    observed = wait_for(aks, provider, SPEC, lambda o: o is not None and len(o.node_groups) == 1)
    assert observed is not None and [g.name for g in observed.node_groups] == ["system"]
    assert set(aks.pools(GROUP, SPEC.name)) == {"system"}
    assert aks.server.count("DELETE", r"/agentPools/") == 1
    provider.delete_node_group(SPEC, "gpu-workers")


def test_deleting_the_last_system_pool_is_an_invalid_configuration(
        provider: AzureProvider, active: ObservedCluster) -> None:
    with pytest.raises(InvalidConfigurationError, match="last system mode agent pool"):
        provider.delete_node_group(SPEC, "system")


# -- upgrades --------------------------------------------------------------------------------
def test_upgrade_moves_cluster_and_pools_through_upgrading_to_the_new_version(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    provider.upgrade(SPEC, "1.31")
    during = provider.describe(SPEC)
    assert during is not None and during.state is ClusterState.UPDATING
    assert during.version == "1.30.10"  # the old version runs until the upgrade finishes
    provider.upgrade(SPEC, "1.31")  # repeated (operator restart): no second request
    after = wait_for(aks, provider, SPEC, settled)
    assert after is not None and after.version == "1.31.6"
    assert {p["currentOrchestratorVersion"] for p in aks.pools(GROUP, SPEC.name).values()} == \
        {"1.31.6"}
    assert aks.server.count("PUT", MC_PATH) == 2  # the create and one upgrade
    provider.upgrade(SPEC, "1.31.6")
    assert aks.server.count("PUT", MC_PATH) == 2


# -- deleting --------------------------------------------------------------------------------
def test_delete_removes_cluster_and_pools_and_repeats_quietly(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    provider.delete(SPEC)
    deleting = provider.describe(SPEC)
    assert deleting is not None and deleting.state is ClusterState.DELETING
    provider.delete(SPEC)
    assert wait_for(aks, provider, SPEC, lambda o: o is None) is None
    provider.delete(SPEC)
    assert aks.is_empty() and aks.pools(GROUP, SPEC.name) == {}
    assert aks.server.count("DELETE", MC_PATH) == 1


def test_delete_of_a_missing_cluster_is_quiet(provider: AzureProvider, aks: FakeAKS) -> None:
    provider.delete(SPEC)
    assert aks.server.count("DELETE", MC_PATH) == 0


# -- errors ----------------------------------------------------------------------------------
def test_throttling_is_transient_with_retry_after(provider: AzureProvider, aks: FakeAKS) -> None:
    aks.throttle_next(7, method="GET", path=MC_PATH)
    with pytest.raises(TransientError, match="TooManyRequests") as caught:
        provider.describe(SPEC)
    assert caught.value.retry_after == 7
    # One 429 went out and the SDK did not hide it by retrying: the operator owns the retry,
    # which then goes through.
    assert aks.server.faults_served(429) == 1
    provider.describe(SPEC)
    assert aks.server.retried_after_faults(429)


def test_server_errors_are_transient(provider: AzureProvider, aks: FakeAKS) -> None:
    aks.server.fail_next(status=503, method="PUT", path=MC_PATH, body={"error": {
        "code": "ServiceUnavailable", "message": "The service is temporarily unavailable."}})
    with pytest.raises(TransientError, match="temporarily unavailable"):
        provider.create(SPEC)


def test_a_write_while_an_operation_runs_is_transient(provider: AzureProvider) -> None:
    provider.create(SPEC)
    with pytest.raises(TransientError, match="in progress") as caught:
        provider.update_node_group(SPEC, dataclasses.replace(SPEC.node_groups[0], size=5))
    assert caught.value.reason == "OperationInProgress"


def test_unreachable_endpoint_is_transient(aks: FakeAKS) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(TransientError):
        AzureProvider(credentials(aks), base_url=closed).describe(SPEC)


def test_wrong_client_secret_is_an_authentication_error_without_the_secret(
        aks: FakeAKS) -> None:
    wrong = "Wr0ng~but-still-s3cret"
    provider = AzureProvider(credentials(aks, client_secret=wrong), base_url=aks.url)
    with pytest.raises(AuthenticationError, match="AADSTS7000215") as caught:
        provider.describe(SPEC)
    assert wrong not in str(caught.value) and SECRET not in str(caught.value)


def test_a_token_arm_keeps_refusing_is_an_authentication_error(
        provider: AzureProvider, aks: FakeAKS) -> None:
    aks.server.fail_next(2, status=401, path=MC_PATH, body={"error": {
        "code": "InvalidAuthenticationToken", "message": "The access token is invalid."}})
    with pytest.raises(AuthenticationError, match="access token is invalid"):
        provider.describe(SPEC)


def test_a_revoked_token_is_replaced_once_without_an_error(
        provider: AzureProvider, aks: FakeAKS) -> None:
    provider.describe(SPEC)
    aks.directory.revoke_all()
    assert provider.describe(SPEC) is None
    assert aks.directory.token_requests == 2


def test_quota_exhaustion_is_a_quota_error_with_the_provider_message(aks: FakeAKS) -> None:
    aks.vcpu_quota = 8
    provider = AzureProvider(credentials(aks), base_url=aks.url)
    with pytest.raises(QuotaExceededError, match="Total Regional Cores quota") as caught:
        provider.create(SPEC)
    assert "Current Limit: 8" in caught.value.message


@pytest.mark.parametrize(("change", "message"), [
    ({"node_groups": (NodeGroupSpec("system", 1, instance_type="m5.large"),)},
     "VM size of m5.large is not supported"),
    ({"version": "1.19"}, "Version 1.19 is not supported"),
])
def test_invalid_vm_size_or_version_is_an_invalid_configuration(
        provider: AzureProvider, change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidConfigurationError, match=message):
        provider.create(dataclasses.replace(SPEC, **change))  # type: ignore[arg-type]


def test_an_unsupported_cni_is_refused_before_any_request(
        provider: AzureProvider, aks: FakeAKS) -> None:
    with pytest.raises(InvalidConfigurationError, match="flannel"):
        provider.create(dataclasses.replace(SPEC, cni="flannel"))
    assert aks.server.requests == []


def test_a_failed_operation_shows_failed_with_the_provider_message(
        provider: AzureProvider, aks: FakeAKS) -> None:
    aks.fail_next_operation("VMExtensionProvisioningError", "VM has reported a failure when "
                            "processing extension 'vmssCSE'.")
    provider.create(SPEC)
    observed = wait_for(aks, provider, SPEC,
                        lambda o: o is not None and o.state is ClusterState.FAILED)
    assert observed is not None and observed.state is ClusterState.FAILED
    assert observed.message is not None and "vmssCSE" in observed.message


def test_a_failed_operation_that_only_its_operation_status_explains_shows_arms_error(
        provider: AzureProvider, aks: FakeAKS) -> None:
    """ARM says why an operation failed in the Azure-AsyncOperation status; the resource then
    only shows provisioningState Failed. The adapter's poller reads the operation's error."""
    aks.fail_next_operation("VMExtensionProvisioningError", "VM has reported a failure when "
                            "processing extension 'vmssCSE'.", on_resource=False)
    provider.create(SPEC)
    aks.fast_forward()
    deadline = time.monotonic() + 10
    observed = provider.describe(SPEC)
    while (observed is None or observed.message is None) and time.monotonic() < deadline:
        time.sleep(POLL)  # the poller thread reads the operation status in the background
        observed = provider.describe(SPEC)
    assert observed is not None and observed.state is ClusterState.FAILED
    assert observed.message is not None
    assert "(VMExtensionProvisioningError)" in observed.message
    assert "processing extension 'vmssCSE'" in observed.message
    assert "provisioningError" not in str(aks.cluster(GROUP, SPEC.name))  # only the operation
    assert aks.server.count("GET", OPERATION_STATUS) >= 1


def test_a_failed_agent_pool_operation_fails_the_cluster_with_the_operations_error(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    aks.fail_next_operation("OverconstrainedAllocationRequest", "Allocation failed. VM(s) "
                            "with the following constraints cannot be allocated.",
                            on_resource=False)
    provider.update_node_group(SPEC, dataclasses.replace(SPEC.node_groups[0], size=3))
    aks.fast_forward()
    deadline = time.monotonic() + 10
    observed = provider.describe(SPEC)
    while (observed is None or observed.state is not ClusterState.FAILED) \
            and time.monotonic() < deadline:
        time.sleep(POLL)
        observed = provider.describe(SPEC)
    assert observed is not None and observed.state is ClusterState.FAILED
    assert observed.message is not None and "Allocation failed" in observed.message


def test_create_and_delete_are_followed_through_their_operation_urls_until_they_end(
        provider: AzureProvider, aks: FakeAKS) -> None:
    provider.create(SPEC)
    assert aks.server.count("GET", OPERATION_STATUS) <= 1  # the create call did not wait
    time.sleep(POLL * 4)
    polled = aks.server.count("GET", OPERATION_STATUS)
    assert polled >= 2, "the poller does not follow Azure-AsyncOperation while it runs"
    aks.fast_forward()
    observed = wait_for(aks, provider, SPEC, settled)
    assert observed is not None and observed.state is ClusterState.ACTIVE
    time.sleep(POLL * 4)
    ended = aks.server.count("GET", OPERATION_STATUS)
    time.sleep(POLL * 4)
    assert aks.server.count("GET", OPERATION_STATUS) == ended, "polling went on after it ended"

    provider.delete(SPEC)
    time.sleep(POLL * 4)
    assert aks.server.count("GET", OPERATION_STATUS) + aks.server.count("GET", DELETE_RESULT) \
        > ended
    aks.fast_forward()
    assert wait_for(aks, provider, SPEC, lambda o: o is None) is None


def test_a_provider_message_echoing_the_secret_is_scrubbed(
        provider: AzureProvider, aks: FakeAKS) -> None:
    aks.server.fail_next(status=400, path=MC_PATH, body={"error": {
        "code": "InvalidParameter", "message": f"secret {SECRET} is not a valid GUID"}})
    with pytest.raises(InvalidConfigurationError) as caught:
        provider.describe(SPEC)
    assert SECRET not in str(caught.value) and "***" in str(caught.value)


def test_the_adapter_is_a_cloud_provider(provider: AzureProvider) -> None:
    assert isinstance(provider, CloudProvider) and provider.name == "azure"


def test_configuration_errors_at_construction() -> None:
    with pytest.raises(InvalidConfigurationError, match="https"):
        AzureProvider({"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET},
                      base_url="http://management.example.com")
    with pytest.raises(AuthenticationError, match="client_secret"):
        AzureProvider({"tenant_id": TENANT, "client_id": CLIENT})
    no_subscription = AzureProvider({"tenant_id": TENANT, "client_id": CLIENT,
                                     "client_secret": SECRET})
    with pytest.raises(InvalidConfigurationError, match="subscription"):
        no_subscription.describe(SPEC)


# -- kubeconfig ------------------------------------------------------------------------------
def test_kubeconfig_points_at_the_endpoint_with_ca_and_client_credential(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    config = provider.kubeconfig(SPEC, active)
    document = yaml.safe_load(config.text)
    cluster = document["clusters"][0]["cluster"]
    assert cluster["server"] == active.endpoint
    ca = x509.load_pem_x509_certificate(base64.b64decode(cluster["certificate-authority-data"]))
    assert ca == aks.credentials.ca
    user = document["users"][0]["user"]
    assert user["client-key-data"] and user["token"]
    certificate = x509.load_pem_x509_certificate(base64.b64decode(
        user["client-certificate-data"]))
    assert config.expires_at == certificate.not_valid_after_utc
    assert config.expires_at > datetime.now(UTC) + timedelta(days=29)


def test_an_unusable_kubeconfig_fails_without_quoting_it(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    broken = "users:\n- user: {token: leaked-cluster-token\n  : [\n"
    aks.server.fail_next(status=200, path=r"/listClusterUserCredential$", body={
        "kubeconfigs": [{"name": "clusterUser",
                         "value": base64.b64encode(broken.encode()).decode()}]})
    with pytest.raises(PermanentError) as caught:
        provider.kubeconfig(SPEC, active)
    assert "leaked-cluster-token" not in str(caught.value)


def test_an_azure_ad_kubelogin_plugin_becomes_a_token_the_adapter_fetched_itself(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    """AAD-enabled clusters hand out an exec plugin; the platform runs no plugins, so the
    adapter embeds the token kubelogin would have fetched, and the result passes the policy."""
    server_id = "6dae42f8-4368-4678-94ff-3960e28e3630"
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": "aad",
        "clusters": [{"name": "aad", "cluster": {"server": active.endpoint,
                                                 "certificate-authority-data": "Y2E="}}],
        "contexts": [{"name": "aad", "context": {"cluster": "aad", "user": "aad-user"}}],
        "users": [{"name": "aad-user", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
            "args": ["get-token", "--environment", "AzurePublicCloud", "--server-id", server_id,
                     "--client-id", CLIENT, "--tenant-id", TENANT, "--login", "devicecode"]}}}]}
    aks.server.fail_next(status=200, path=r"/listClusterUserCredential$", body={
        "kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(
            yaml.safe_dump(document).encode()).decode()}]})
    before = aks.directory.token_requests
    config = provider.kubeconfig(SPEC, active)
    checked = checked_kubeconfig(config.text)  # refuses any exec left behind
    token = checked["users"][0]["user"]["token"]
    assert aks.directory.reject(f"Bearer {token}") is None, "not a token Azure AD issued"
    assert aks.directory.token_requests == before + 1
    assert config.expires_at is not None
    assert config.expires_at <= datetime.now(UTC) + timedelta(seconds=3600 + 5)


def test_any_other_exec_plugin_is_left_for_the_policy_to_refuse(
        provider: AzureProvider, aks: FakeAKS, active: ObservedCluster) -> None:
    document = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
                "clusters": [{"name": "x", "cluster": {"server": active.endpoint}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
                "users": [{"name": "x", "user": {"exec": {
                    "apiVersion": "client.authentication.k8s.io/v1", "command": "sh",
                    "args": ["-c", "touch /tmp/pwned"]}}}]}
    aks.server.fail_next(status=200, path=r"/listClusterUserCredential$", body={
        "kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(
            yaml.safe_dump(document).encode()).decode()}]})
    config = provider.kubeconfig(SPEC, active)
    with pytest.raises(UnsafeKubeconfigError) as caught:
        checked_kubeconfig(config.text)
    assert caught.value.field == "users[0].user.exec"


# -- the fake itself -------------------------------------------------------------------------
def test_the_fakes_long_running_operations_satisfy_the_sdk_poller(aks: FakeAKS) -> None:
    """The adapter never waits on pollers, so prove separately that the fake's
    Azure-AsyncOperation/Location protocol is what the SDK's ARM poller expects."""
    token = AccessToken(aks.directory.issue(), int(time.time()) + 3600)

    class StaticCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            return token

    client = ContainerServiceClient(StaticCredential(), SUBSCRIPTION, base_url=aks.url,
                                    polling_interval=0.05)
    aks.add_resource_group("lab", "westeurope")
    cluster = aks_models.ManagedCluster(
        location="westeurope", properties=aks_models.ManagedClusterProperties(
            dns_prefix="lab", kubernetes_version="1.31", agent_pool_profiles=[
                aks_models.ManagedClusterAgentPoolProfile(name="sys", count=1, mode="System",
                                                          vm_size="Standard_D2s_v5")]))
    poller = client.managed_clusters.begin_create_or_update("lab", "lab1", cluster,
                                                            enforce_https=False)
    with aks.paused():  # the SDK keeps polling Azure-AsyncOperation: InProgress
        aks.fast_forward()
        time.sleep(0.2)
        assert not poller.done()
    aks.fast_forward()
    created = poller.result(timeout=5)
    assert created.properties is not None
    assert created.properties.provisioning_state == "Succeeded"
    assert aks.server.count("GET", r"/locations/westeurope/operations/") >= 1

    aks.fail_next_operation("VMExtensionProvisioningError", "VM has reported a failure.")
    pool = aks_models.AgentPoolManagedClusterAgentPoolProfileProperties(
        count=1, vm_size="Standard_D2s_v5")
    failing = client.agent_pools.begin_create_or_update(
        "lab", "lab1", "extra", aks_models.AgentPool(properties=pool), enforce_https=False)
    aks.fast_forward()
    with pytest.raises(HttpResponseError, match="VM has reported a failure"):
        failing.result(timeout=5)

    deleting = client.managed_clusters.begin_delete("lab", "lab1", enforce_https=False)
    aks.fast_forward()
    deleting.result(timeout=5)  # followed Location/Azure-AsyncOperation to the end
    assert aks.server.count("GET", r"/operationresults/|/operations/") >= 2
    assert aks.is_empty()


def test_arm_refuses_api_versions_the_service_does_not_publish(aks: FakeAKS) -> None:
    token = aks.directory.issue()
    import requests

    base = f"{aks.url}/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/" \
           "Microsoft.ContainerService/managedClusters/x"
    for version, code in (("2099-01-01", "NoRegisteredProviderFound"),
                          ("", "MissingApiVersionParameter")):
        response = requests.get(f"{base}?api-version={version}", timeout=5,
                                headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
        if version:
            assert version in response.json()["error"]["message"]
